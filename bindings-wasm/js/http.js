// The two HTTP calls the wasm client cannot make in a browser: an upload with progress
// events and cancel (fetch has none), and a log followed as it arrives (the client's fetch
// backend reads bodies whole). Errors are the same `Error`s the client throws: they are
// built by the module's `apiError`, from the same rules as every other surface.

import { apiError } from "./q8s_wasm.js";

function join(base, path) {
  return new URL(path, base.endsWith("/") ? base : base + "/").toString();
}

function networkError(url, message) {
  const err = new Error(`cannot reach ${url}: ${message} (unreachable)`);
  err.code = "unreachable";
  return err;
}

function cancelled() {
  const err = new Error("the upload was cancelled (cancelled)");
  err.code = "cancelled";
  err.name = "AbortError";
  return err;
}

/**
 * Imports a bundle: `POST /api/v1/apps` with the `.qz` bytes.
 * @param {object} o
 * @param {string} o.url the server's base URL (`location.origin` in a page it serves)
 * @param {Uint8Array|Blob} o.bytes the `.qz`
 * @param {string} [o.token] an API token; without one, the session cookie is used
 * @param {"PRIVATE"|"ALL_USERS"} [o.visibility] default PRIVATE
 * @param {(sent: number, total: number) => void} [o.onProgress]
 * @param {AbortSignal} [o.signal] aborts the upload (rejects with code `cancelled`)
 * @param {string} [o.digest] the bundle's `Repr-Digest` (`reprDigest(sha256)` of the module):
 *   the server refuses a body that is not the declared one, and stores it as it arrives
 * @returns {Promise<import("./q8s_wasm.js").App>}
 */
export function uploadBundle({ url, bytes, token, visibility, onProgress, signal, digest }) {
  const query = visibility ? `?visibility=${encodeURIComponent(visibility)}` : "";
  const target = join(url, `api/v1/apps${query}`);
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelled());
    const xhr = new XMLHttpRequest();
    xhr.open("POST", target);
    xhr.setRequestHeader("Content-Type", "application/zip");
    if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    if (digest) xhr.setRequestHeader("Repr-Digest", digest);
    xhr.responseType = "text";
    const total = bytes.size ?? bytes.byteLength;
    xhr.upload.onprogress = (e) => onProgress?.(e.loaded, e.lengthComputable ? e.total : total);
    const onAbort = () => xhr.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const done = () => signal?.removeEventListener("abort", onAbort);
    xhr.onabort = () => { done(); reject(cancelled()); };
    xhr.onerror = () => { done(); reject(networkError(target, "the connection failed")); };
    xhr.onload = () => {
      done();
      if (xhr.status < 200 || xhr.status >= 300) {
        return reject(apiError(xhr.status, target, xhr.responseText));
      }
      let app;
      try {
        app = JSON.parse(xhr.responseText);
      } catch {
        return reject(apiError(xhr.status, target, xhr.responseText));
      }
      onProgress?.(total, total);
      resolve(app);
    };
    xhr.send(bytes);
  });
}

/**
 * Follows an instance's log: calls `onLine` for each line as it arrives, until the
 * instance stops (the promise then resolves) or `signal` aborts (it resolves too).
 * @param {object} o
 * @param {string} o.url the server's base URL
 * @param {string} o.id the instance id
 * @param {(line: string) => void} o.onLine
 * @param {number} [o.tail] start with the last `tail` lines
 * @param {string} [o.token]
 * @param {AbortSignal} [o.signal]
 * @returns {Promise<void>}
 */
export async function followLog({ url, id, onLine, tail, token, signal }) {
  const query = new URLSearchParams({ follow: "true" });
  if (tail !== undefined) query.set("tail", String(tail));
  const target = join(url, `api/v1/instances/${encodeURIComponent(id)}/logs?${query}`);
  let response;
  try {
    response = await fetch(target, { headers: token ? { Authorization: `Bearer ${token}` } : {}, signal });
  } catch (e) {
    if (signal?.aborted) return;
    throw networkError(target, e.message);
  }
  if (!response.ok) throw apiError(response.status, target, await response.text());
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += value;
      const lines = pending.split("\n");
      pending = lines.pop();
      for (const line of lines) onLine(line);
    }
  } catch (e) {
    if (signal?.aborted) return;
    throw networkError(target, e.message);
  }
  if (pending) onLine(pending);
}
