import type { App, Visibility } from "./q8s_wasm.js";

/** Imports a bundle (`POST /api/v1/apps`) with upload progress and cancel. */
export function uploadBundle(options: {
  /** The server's base URL (`location.origin` in a page it serves). */
  url: string;
  /** The `.qz`. */
  bytes: Uint8Array | Blob;
  /** An API token; without one, the session cookie is used. */
  token?: string;
  /** Default `PRIVATE`. */
  visibility?: Visibility;
  onProgress?: (sent: number, total: number) => void;
  /** Aborts the upload: the promise rejects with code `cancelled`. */
  signal?: AbortSignal;
}): Promise<App>;

/** Follows an instance's log until it stops or `signal` aborts. */
export function followLog(options: {
  url: string;
  id: string;
  onLine: (line: string) => void;
  tail?: number;
  token?: string;
  signal?: AbortSignal;
}): Promise<void>;
