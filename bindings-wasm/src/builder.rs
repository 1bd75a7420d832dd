//! `BundleBuilder`: an app folder given file by file, selected, checked and written by core.

use std::io;

use js_sys::{ArrayBuffer, Promise, Reflect, Uint8Array};
use std::collections::VecDeque;

use q8s_core::bundle::{BundleWriter, CheckReport, build_tree, check_tree};
use q8s_core::select::{EntryKind, FileContent, LinkProblem, MemTree};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};
use web_sys::{Blob, FileReaderSync};

use crate::error::{bundle_error, error, to_js};

/// A file's contents, kept where JS has them until the bundle is written: a large folder
/// is never copied into the module's memory whole.
#[derive(Clone)]
enum Content {
    Bytes(Uint8Array),
    Blob(Blob),
}

impl FileContent for Content {
    fn bytes(&self) -> io::Result<Vec<u8>> {
        match self {
            Content::Bytes(array) => Ok(array.to_vec()),
            Content::Blob(blob) => {
                let reader = FileReaderSync::new().map_err(|_| {
                    io::Error::other(
                        "a Blob or File can only be read inside a Worker (FileReaderSync); \
                         pass a Uint8Array on the main thread or in Node",
                    )
                })?;
                let buffer = reader
                    .read_as_array_buffer(blob)
                    .map_err(|e| io::Error::other(describe(&e)))?;
                Ok(Uint8Array::new(&buffer).to_vec())
            }
        }
    }
}

fn describe(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| "the file cannot be read".to_owned())
}

/// Builds a `.qz` from files given one by one, with the selection rules (`.gitignore`,
/// `.q8signore`, default excludes), checks and deterministic writer of core: the same
/// bytes as `q8s-cli bundle` for the same folder.
#[wasm_bindgen]
pub struct BundleBuilder {
    tree: MemTree<Content>,
}

impl Default for BundleBuilder {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen]
impl BundleBuilder {
    /// An empty app folder.
    #[wasm_bindgen(constructor)]
    pub fn new() -> BundleBuilder {
        BundleBuilder {
            tree: MemTree::empty(),
        }
    }

    /// Adds (or replaces) the file at `path` (relative, `/`-separated) with its contents:
    /// a `Uint8Array`, an `ArrayBuffer`, or a `Blob`/`File` (read only when the bundle is
    /// written, which must then happen in a Worker). `options.executable` stores it with
    /// mode 0755. Throws `invalid-path` or `path-conflict`.
    pub fn add(
        &mut self,
        path: &str,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | ArrayBuffer | Blob")] data: JsValue,
        #[wasm_bindgen(unchecked_param_type = "AddOptions | undefined")] options: JsValue,
    ) -> Result<(), JsValue> {
        let content = if let Some(array) = data.dyn_ref::<Uint8Array>() {
            Content::Bytes(array.clone())
        } else if let Some(buffer) = data.dyn_ref::<ArrayBuffer>() {
            Content::Bytes(Uint8Array::new(buffer))
        } else if is_blob(&data) {
            Content::Blob(data.unchecked_into())
        } else {
            return Err(error(
                "invalid-argument",
                &format!("{path}: the contents must be a Uint8Array, an ArrayBuffer or a Blob"),
            ));
        };
        let executable = flag(&options, "executable");
        self.tree
            .add(path, content, executable)
            .map_err(|e| error(e.code(), &e.to_string()))
    }

    /// Records a symbolic link at `path` that cannot be stored, as a walker of a real folder
    /// finds it (links that stay inside the folder are added as what they point to).
    /// `problem` is `outside`, `broken` or `loop`; selection reports it as an error unless
    /// an ignore rule leaves it out.
    #[wasm_bindgen(js_name = addLink)]
    pub fn add_link(
        &mut self,
        path: &str,
        target: &str,
        #[wasm_bindgen(unchecked_param_type = "\"outside\" | \"broken\" | \"loop\"")] problem: &str,
    ) -> Result<(), JsValue> {
        let problem = match problem {
            "outside" => LinkProblem::Outside,
            "broken" => LinkProblem::Broken,
            "loop" => LinkProblem::Loop,
            other => {
                return Err(error(
                    "invalid-argument",
                    &format!("unknown link problem {other:?}: use outside, broken or loop"),
                ));
            }
        };
        let kind = EntryKind::BadLink {
            target: target.to_owned(),
            problem,
        };
        self.tree
            .add_unstorable(path, kind)
            .map_err(|e| error(e.code(), &e.to_string()))
    }

    /// The number of files added.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> usize {
        self.tree.len()
    }

    /// Selects and checks without writing: the files that would be stored, every path with
    /// the rule that decided it, the manifest, icon, screenshots and every diagnostic.
    #[wasm_bindgen(unchecked_return_type = "CheckReport")]
    pub fn check(&self) -> Result<JsValue, JsValue> {
        let (selection, content) = check_tree(&self.tree).map_err(|e| bundle_error(&e))?;
        to_js(&CheckReport::new(selection, content))
    }

    /// Writes the bundle: its bytes, file name, sha256, size, files, icon, screenshots,
    /// warnings and the decision for every path. Throws `invalid-bundle` with
    /// `diagnostics` when a rule is broken (nothing is written then).
    #[wasm_bindgen(unchecked_return_type = "BundleOutput")]
    pub fn finish(&self) -> Result<JsValue, JsValue> {
        let (out, sink) = self.write(JsChunks::default())?;
        Reflect::set(&out, &JsValue::from_str("bytes"), &sink.concat())?;
        Ok(out)
    }

    /// As [`finish`](Self::finish), with the archive as `blob`, an `application/zip` Blob
    /// made of the chunks as they were written: never copied into one array, so a page that
    /// uploads it or offers it for download holds it once, not twice.
    #[wasm_bindgen(js_name = finishBlob, unchecked_return_type = "BundleBlobOutput")]
    pub fn finish_blob(&self) -> Result<JsValue, JsValue> {
        let (out, sink) = self.write(JsChunks::for_blob())?;
        Reflect::set(&out, &JsValue::from_str("blob"), &sink.blob()?.into())?;
        Ok(out)
    }

    /// As [`finishBlob`](Self::finish_blob), reading Blob contents asynchronously
    /// (`Blob.arrayBuffer()`) a few files ahead of the one being compressed, so the browser
    /// reads while the module compresses. Each read costs the browser a fixed fraction of a
    /// millisecond, which for thousands of small files is a large part of the time
    /// `finishBlob` takes reading them one after the other. At most `READ_AHEAD_FILES`
    /// files and `READ_AHEAD_BYTES` bytes are read ahead (a larger file is read alone). Like
    /// `finishBlob`, it runs in a Worker when contents are Blobs: the manifest, icon and
    /// screenshots are read synchronously to check them before anything is written. Resolves
    /// to what `finishBlob` returns, or rejects with its errors (`read-failed` when a file can
    /// no longer be read).
    #[wasm_bindgen(js_name = finishBlobAsync, unchecked_return_type = "Promise<BundleBlobOutput>")]
    pub fn finish_blob_async(&self) -> Result<Promise, JsValue> {
        let writer =
            BundleWriter::start(&self.tree, JsChunks::for_blob()).map_err(|e| bundle_error(&e))?;
        let contents: Vec<Content> = writer
            .remaining()
            .iter()
            .map(|f| {
                self.tree
                    .content(&f.path)
                    .cloned()
                    .ok_or_else(|| error("read-failed", &format!("{}: not in the folder", f.path)))
            })
            .collect::<Result<_, JsValue>>()?;
        Ok(future_to_promise(write_reading_ahead(writer, contents)))
    }

    fn write(&self, sink: JsChunks) -> Result<(JsValue, JsChunks), JsValue> {
        let (info, sink) = build_tree(&self.tree, sink).map_err(|e| bundle_error(&e))?;
        Ok((to_js(&info)?, sink))
    }
}

/// How many files [`BundleBuilder::finish_blob_async`] reads ahead of the one it compresses.
const READ_AHEAD_FILES: usize = 32;
/// How many bytes it reads ahead at most (one file larger than this is read alone).
const READ_AHEAD_BYTES: f64 = 8.0 * 1024.0 * 1024.0;

/// A file being read: its bytes when JS gave bytes, else the pending `Blob.arrayBuffer()`.
enum Ahead {
    Ready(Uint8Array),
    Reading(JsFuture, f64),
}

async fn write_reading_ahead(
    mut writer: BundleWriter<JsChunks>,
    contents: Vec<Content>,
) -> Result<JsValue, JsValue> {
    let mut ahead: VecDeque<Ahead> = VecDeque::new();
    let mut upcoming = contents.into_iter().peekable();
    let mut bytes_ahead = 0.0;
    while writer.next_file().is_some() {
        // Start reads while the window has room (and always the next file's).
        while let Some(content) = upcoming.peek() {
            let size = match content {
                Content::Blob(blob) => blob.size(),
                Content::Bytes(_) => 0.0,
            };
            let full = ahead.len() >= READ_AHEAD_FILES || bytes_ahead + size > READ_AHEAD_BYTES;
            if full && !ahead.is_empty() {
                break;
            }
            let content = upcoming.next().expect("peeked");
            ahead.push_back(match content {
                Content::Bytes(array) => Ahead::Ready(array),
                Content::Blob(blob) => {
                    bytes_ahead += size;
                    Ahead::Reading(JsFuture::from(blob.array_buffer()), size)
                }
            });
        }
        let path = writer
            .next_file()
            .map(|f| f.path.clone())
            .unwrap_or_default();
        let bytes = match ahead.pop_front() {
            Some(Ahead::Ready(array)) => array.to_vec(),
            Some(Ahead::Reading(read, size)) => {
                bytes_ahead -= size;
                let buffer = read.await.map_err(|e| {
                    error(
                        "read-failed",
                        &format!("{path}: cannot be read: {}", describe(&e)),
                    )
                })?;
                Uint8Array::new(&buffer).to_vec()
            }
            None => return Err(error("read-failed", &format!("{path}: no contents"))),
        };
        writer.push(bytes).map_err(|e| bundle_error(&e))?;
    }
    let (info, sink) = writer.finish().map_err(|e| bundle_error(&e))?;
    let out = to_js(&info)?;
    Reflect::set(&out, &JsValue::from_str("blob"), &sink.blob()?.into())?;
    Ok(out)
}

/// Where the archive goes while it is written: 1 MiB chunks copied out to JS as they fill,
/// so the module's memory (which never shrinks) holds one chunk, not the whole bundle. For a
/// Blob, every 16 chunks become a Blob at once: the browser keeps Blob data out of the
/// page's heap, so the page never holds more than those 16 MiB of the archive.
#[derive(Default)]
struct JsChunks {
    /// Full chunks not yet in a Blob (all of them when the output is one array).
    chunks: Vec<Uint8Array>,
    current: Vec<u8>,
    len: usize,
    /// Blob output: the Blobs made so far, in order.
    blobs: Option<Vec<Blob>>,
}

impl JsChunks {
    const CHUNK: usize = 1 << 20;
    const CHUNKS_PER_BLOB: usize = 16;

    fn for_blob() -> JsChunks {
        JsChunks {
            blobs: Some(Vec::new()),
            ..JsChunks::default()
        }
    }

    fn flush_chunk(&mut self) {
        if !self.current.is_empty() {
            self.chunks.push(Uint8Array::from(self.current.as_slice()));
            self.current.clear();
        }
        if self.chunks.len() >= Self::CHUNKS_PER_BLOB {
            self.seal();
        }
    }

    /// Moves the pending chunks into a Blob (Blob output only).
    fn seal(&mut self) {
        let Some(blobs) = &mut self.blobs else { return };
        if self.chunks.is_empty() {
            return;
        }
        let parts: js_sys::Array = self.chunks.drain(..).collect();
        // Making a Blob of byte arrays does not fail.
        if let Ok(blob) = Blob::new_with_u8_array_sequence(&parts) {
            blobs.push(blob);
        }
    }

    /// The whole archive as an `application/zip` Blob (of Blobs: no copy).
    fn blob(mut self) -> Result<Blob, JsValue> {
        self.flush_chunk();
        self.seal();
        let parts: js_sys::Array = self.blobs.take().unwrap_or_default().into_iter().collect();
        let options = web_sys::BlobPropertyBag::new();
        options.set_type("application/zip");
        Blob::new_with_blob_sequence_and_options(&parts, &options)
    }

    /// The whole archive as one `Uint8Array`.
    fn concat(mut self) -> Uint8Array {
        self.flush_chunk();
        let all = Uint8Array::new_with_length(self.len as u32);
        let mut at = 0;
        for chunk in self.chunks.drain(..) {
            all.set(&chunk, at);
            at += chunk.length();
        }
        all
    }
}

impl io::Write for JsChunks {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.current.capacity() == 0 {
            self.current.reserve_exact(Self::CHUNK);
        }
        let n = buf.len().min(Self::CHUNK - self.current.len());
        self.current.extend_from_slice(&buf[..n]);
        self.len += n;
        if self.current.len() == Self::CHUNK {
            self.flush_chunk();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Every path of the builder's folder with the rule that decided it (directories end with
/// `/`; an excluded directory is listed once).
#[wasm_bindgen(unchecked_return_type = "Decision[]")]
pub fn explain(builder: &BundleBuilder) -> Result<JsValue, JsValue> {
    let selection = q8s_core::select::select(&builder.tree)
        .map_err(|e| error("io-error", &format!("reading the app folder: {e}")))?;
    to_js(&selection.explain)
}

/// True for a `Blob` (or `File`) when the global `Blob` exists (browsers, Node ≥ 18).
fn is_blob(value: &JsValue) -> bool {
    let global = js_sys::global();
    match Reflect::get(&global, &JsValue::from_str("Blob")) {
        Ok(ctor) if ctor.is_function() => value.is_instance_of::<Blob>(),
        _ => false,
    }
}

fn flag(options: &JsValue, name: &str) -> bool {
    options.is_object()
        && Reflect::get(options, &JsValue::from_str(name)).is_ok_and(|v| v.is_truthy())
}
