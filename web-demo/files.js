// Reading what the user chose into a folder selection: `{ name, files: [{ path, file,
// executable }], handle? }`, every path relative to the chosen folder and `/`-separated.
// Three sources: an `<input type=file webkitdirectory>`, the directory picker
// (`showDirectoryPicker`) and drag and drop. Nothing is filtered here: the bundler (core's
// rules, in the Worker) decides what goes in and says why.
//
// Browsers do not expose the executable bit, so every file is added as a plain file.

/** The files of a `webkitdirectory` input, relative to the folder that was picked. */
export function fromFileList(fileList) {
  const files = [];
  let name = "";
  for (const file of fileList) {
    const relative = file.webkitRelativePath || file.name;
    const slash = relative.indexOf("/");
    // `webkitRelativePath` starts with the picked folder's own name: strip it.
    if (slash > 0) {
      name ||= relative.slice(0, slash);
      files.push({ path: relative.slice(slash + 1), file, executable: false });
    } else {
      files.push({ path: relative, file, executable: false });
    }
  }
  return { name: name || "folder", files };
}

/** Whether this browser has the directory picker (Chromium-based ones, in secure contexts). */
export const hasDirectoryPicker = typeof window !== "undefined" && "showDirectoryPicker" in window;

/** Reads a folder from a `FileSystemDirectoryHandle` (the picker), calling `onProgress(n)`. */
export async function fromDirectoryHandle(handle, onProgress) {
  const files = [];
  async function walk(dir, prefix) {
    for await (const [name, child] of dir.entries()) {
      const path = prefix + name;
      if (child.kind === "directory") {
        await walk(child, `${path}/`);
      } else {
        files.push({ path, file: await child.getFile(), executable: false });
        onProgress?.(files.length);
      }
    }
  }
  await walk(handle, "");
  return { name: handle.name, files, handle };
}

/**
 * Takes what a drop carries. Must be called synchronously in the `drop` handler (the
 * entries are gone once it returns); the reading itself is asynchronous.
 * Resolves to `{ kind: "folder", selection }`, `{ kind: "qz", file }` or `{ kind: "none" }`.
 */
export function fromDrop(dataTransfer, onProgress) {
  const entries = [];
  for (const item of dataTransfer.items ?? []) {
    if (item.kind !== "file") continue;
    const entry = item.webkitGetAsEntry?.();
    if (entry) entries.push(entry);
  }
  const plainFiles = [...(dataTransfer.files ?? [])];
  return (async () => {
    if (entries.length === 0) {
      // No entry API: a single .qz can still be taken as a file.
      const qz = plainFiles.find((f) => isBundleName(f.name));
      return plainFiles.length === 1 && qz ? { kind: "qz", file: qz } : { kind: "none" };
    }
    if (entries.length === 1 && entries[0].isFile && isBundleName(entries[0].name)) {
      return { kind: "qz", file: await entryFile(entries[0]) };
    }
    // One folder: its contents. Several items: they are the folder's top level.
    const single = entries.length === 1 && entries[0].isDirectory ? entries[0] : null;
    const files = [];
    const add = async (entry, prefix) => {
      const path = prefix + entry.name;
      if (entry.isDirectory) {
        for (const child of await readAllEntries(entry)) await add(child, `${path}/`);
      } else if (entry.isFile) {
        files.push({ path, file: await entryFile(entry), executable: false });
        onProgress?.(files.length);
      }
    };
    if (single) {
      for (const child of await readAllEntries(single)) await add(child, "");
    } else {
      for (const entry of entries) await add(entry, "");
    }
    return { kind: "folder", selection: { name: single?.name ?? "dropped files", files } };
  })();
}

/** `.qz` is the bundle's extension. */
export function isBundleName(name) {
  return /\.qz$/i.test(name);
}

/** Every entry of a directory: `readEntries` hands them out in batches (100 in Chromium)
 * and signals the end with an empty one. */
export async function readAllEntries(directoryEntry) {
  const reader = directoryEntry.createReader();
  const all = [];
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

function entryFile(entry) {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

/** A content type for an image preview, from its file name. */
export function imageType(path) {
  const ext = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  return {
    png: "image/png",
    jpg: "image/jpeg",
    jpeg: "image/jpeg",
    gif: "image/gif",
    webp: "image/webp",
    svg: "image/svg+xml",
    ico: "image/x-icon",
  }[ext] ?? "application/octet-stream";
}
