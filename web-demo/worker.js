// The bundler, in a module Worker: the wasm module reads the chosen Files here (the manifest
// and images with FileReaderSync, which only Workers have, the rest asynchronously, ahead of
// the file being compressed), so a large folder never blocks the page.
//
// Messages in:  { type: "init", module }                      (the compiled WebAssembly.Module)
//               { id, type: "bundle", files: [{ path, file, executable }] }
//               { id, type: "inspect", bytes: ArrayBuffer }
// Messages out: { id, type: "checked", report, manifestText, ms }    (then, when valid:)
//               { id, type: "bundled", output, ms }                  (output.blob: the .qz)
//               { id, type: "inspected", report, manifestFile, manifestText, images }
//               { id, type: "error", error: { message, code, diagnostics, hint } }
//               { id, type: "crashed", message }   (a Rust panic: the page replaces this Worker)

import init, { BundleBuilder, inspectBundle, readBundleFile } from "./pkg/q8s_wasm.js";

let ready = null;

self.onmessage = async ({ data }) => {
  if (data.type === "init") {
    ready = init({ module_or_path: data.module });
    return;
  }
  try {
    await ready;
    if (data.type === "bundle") await bundle(data);
    else if (data.type === "inspect") inspect(data);
    else throw new Error(`unknown request ${data.type}`);
  } catch (err) {
    if (err instanceof WebAssembly.RuntimeError) {
      // A panic (the hook has logged it): the module's state cannot be trusted any more.
      self.postMessage({ id: data.id, type: "crashed", message: String(err.message || err) });
    } else {
      self.postMessage({ id: data.id, type: "error", error: plainError(err) });
    }
  }
};

async function bundle({ id, files }) {
  const builder = new BundleBuilder();
  try {
    for (const { path, file, executable } of files) builder.add(path, file, { executable });
    let start = performance.now();
    const report = builder.check();
    const manifest = report.manifest_file && files.find((f) => f.path === report.manifest_file);
    const manifestText = manifest ? new FileReaderSync().readAsText(manifest.file) : null;
    self.postMessage({ id, type: "checked", report, manifestText, ms: performance.now() - start });
    if (!report.valid) return;
    start = performance.now();
    // A Blob of the written chunks: the archive is never copied into one array. The Files are
    // read a few ahead of the one being compressed, so reading and compressing overlap.
    const output = await builder.finishBlobAsync();
    self.postMessage({ id, type: "bundled", output, ms: performance.now() - start });
  } finally {
    builder.free();
  }
}

function inspect({ id, bytes }) {
  const data = new Uint8Array(bytes);
  const report = inspectBundle(data);
  const names = new Set(report.entries.map((e) => e.name));
  const manifestFile = report.manifest_file;
  const manifestText = manifestFile ? new TextDecoder().decode(readBundleFile(data, manifestFile)) : null;
  const images = {};
  for (const path of [report.icon, ...report.screenshots]) {
    if (path && names.has(path)) images[path] = readBundleFile(data, path);
  }
  self.postMessage(
    { id, type: "inspected", report, manifestFile, manifestText, images },
    Object.values(images).map((b) => b.buffer),
  );
}

/** The fields of a q8s `Error` (structured clone keeps only name and message). */
function plainError(err) {
  return {
    message: String(err?.message ?? err),
    code: err?.code ?? "error",
    diagnostics: Array.isArray(err?.diagnostics) ? err.diagnostics : undefined,
    hint: err?.hint,
  };
}
