// One benchmark run in a Worker: q8s-wasm's BundleBuilder (what the upload page's Worker
// does), fflate's zipSync at level 6, or client-zip (store only), on the same Files.
import init, { BundleBuilder } from "./pkg/q8s_wasm.js";
import { zipSync } from "./fflate.js";
import { downloadZip } from "./client-zip.js";

// Paths relative to the chosen folder, as the page makes them.
const rel = (file) => file.webkitRelativePath.slice(file.webkitRelativePath.indexOf("/") + 1);

onmessage = async ({ data: { tool, files, only } }) => {
  try {
    const wasm = await init({ module_or_path: new URL("./pkg/q8s_wasm_bg.wasm", import.meta.url) });
    const chosen = only ? files.filter((f) => only.includes(rel(f))) : files;
    const bytesIn = chosen.reduce((n, f) => n + f.size, 0);
    const start = performance.now();
    let size, sha256 = null, selected = null;
    if (tool === "select") {
      const builder = new BundleBuilder();
      for (const f of files) builder.add(rel(f), f);
      selected = builder.check().files.map((f) => f.path);
      size = 0;
    } else if (tool === "q8s") {
      const builder = new BundleBuilder();
      for (const f of chosen) builder.add(rel(f), f);
      // As the upload page does: the bundle as a Blob of its chunks, ready to upload, the
      // Files read ahead of the one being compressed.
      const out = await builder.finishBlobAsync();
      size = out.blob.size;
      sha256 = out.sha256;
    } else if (tool === "fflate") {
      const reader = new FileReaderSync();
      const input = {};
      for (const f of chosen) input[rel(f)] = [new Uint8Array(reader.readAsArrayBuffer(f)), { level: 6 }];
      size = zipSync(input).length;
    } else if (tool === "client-zip") {
      const blob = await downloadZip(chosen.map((f) => ({ name: rel(f), input: f, lastModified: new Date(0) }))).blob();
      size = (await blob.arrayBuffer()).byteLength;
    } else {
      throw new Error(`unknown tool ${tool}`);
    }
    const ms = performance.now() - start;
    postMessage({ tool, ms, size, bytesIn, files: chosen.length, sha256, selected, wasmMemory: wasm.memory.buffer.byteLength });
  } catch (e) {
    postMessage({ error: `${tool}: ${e?.message ?? e}` });
  }
};
