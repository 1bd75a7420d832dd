// Steps 2 and 3 of the page: what the bundler found in the chosen folder (or `.qz`) —
// file tree, manifest with its diagnostics, previews — then the bundle itself (name, size,
// sha256, download) and its upload with progress, cancel and a visibility choice.

import { uploadBundle } from "./pkg/http.js";
import { reprDigest } from "./pkg/q8s_wasm.js";
import { announce, errorBox, formatBytes, h, plural, replace } from "./dom.js";
import { imageType } from "./files.js";
import { focusLineOnLinkClick, renderDiagnostics, renderManifest } from "./manifest.js";
import { renderTree } from "./tree.js";

const $ = (id) => document.getElementById(id);

export class UploadView {
  /**
   * @param {object} o
   * @param {import("./bundler.js").Bundler} o.bundler
   * @param {() => boolean} o.signedIn
   * @param {(app: object) => void} o.onUploaded
   */
  constructor({ bundler, signedIn, onUploaded }) {
    this.bundler = bundler;
    this.signedIn = signedIn;
    this.onUploaded = onUploaded;
    this.bundle = null; // { blob, fileName, sha256, size, name, version }
    this.urls = [];
    this.upload = null; // AbortController of the upload in flight
    focusLineOnLinkClick($("step-check"));
    $("upload-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.#upload();
    });
    $("upload-cancel").addEventListener("click", () => this.upload?.abort());
  }

  /** Something else was chosen: forget the previous bundle and its previews. */
  reset() {
    this.upload?.abort();
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls = [];
    this.bundle = null;
    $("step-check").hidden = true;
    $("step-bundle").hidden = true;
    replace($("previews"));
    replace($("upload-result"));
    $("progress-row").hidden = true;
    this.refreshUploadButton();
  }

  /** Checks and bundles a folder selection `{ name, files }` in the Worker. */
  async showFolder(selection) {
    this.reset();
    const sizes = new Map(selection.files.map((f) => [f.path, f.file.size]));
    const filesByPath = new Map(selection.files.map((f) => [f.path, f.file]));
    this.#showPending("Checking the folder…");
    const output = await this.bundler.bundle(selection.files, ({ report, manifestText, ms }) => {
      this.#showCheck({
        decisions: report.explain,
        sizes,
        roles: roles(report.manifest_file, report.icon, report.screenshots),
        manifestFile: report.manifest_file ?? "q-app.toml",
        manifestText,
        diagnostics: report.diagnostics,
      });
      this.#showPreviews(report.icon, report.screenshots, (path) => filesByPath.get(path));
      if (report.valid) {
        this.#showPending(`Checked in ${Math.round(ms)} ms; writing the bundle…`);
      } else {
        this.#showInvalid(report.diagnostics);
      }
    });
    if (!output) return;
    const o = output.output;
    this.#showBundle({
      blob: o.blob,
      fileName: o.file_name,
      name: o.name,
      version: o.version,
      title: o.manifest?.app?.title,
      sha256: o.sha256,
      size: o.size,
      files: o.files.length,
      note: `Built in ${Math.round(output.ms)} ms from ${plural(o.files.length, "file")}.`,
    });
  }

  /** Inspects a `.qz` file in the Worker and offers it for upload as it is. */
  async showBundleFile(file) {
    this.reset();
    this.#showPending("Reading the bundle…");
    const bytes = await file.arrayBuffer();
    const { report, manifestFile, manifestText, images } = await this.bundler.inspect(bytes);
    const sizes = new Map(report.entries.map((e) => [e.name, e.size]));
    this.#showCheck({
      decisions: report.entries.map((e) => ({ path: e.name, included: true, rule: "" })),
      sizes,
      roles: roles(manifestFile, report.icon, report.screenshots),
      manifestFile: manifestFile ?? "q-app.toml",
      manifestText,
      diagnostics: report.diagnostics,
      showRules: false,
    });
    this.#showPreviews(report.icon, report.screenshots, (path) =>
      images[path] ? new Blob([images[path]], { type: imageType(path) }) : null);
    if (!report.valid) {
      this.#showInvalid(report.diagnostics);
      return;
    }
    const app = report.manifest.app;
    this.#showBundle({
      blob: file,
      fileName: file.name,
      name: app.name,
      version: app.version,
      title: app.title,
      sha256: report.sha256,
      size: report.size,
      files: report.entries.length,
      note: `A ready bundle of ${plural(report.entries.length, "file")}; it is uploaded as it is.`,
    });
  }

  /** Shows an error of the chosen folder or bundle (reading, bundling, the Worker). */
  showError(title, err) {
    $("step-bundle").hidden = false;
    replace($("bundle-summary"), errorBox(title, err));
    this.refreshUploadButton();
  }

  /** Enables Upload when there is a bundle, the user is signed in and nothing is uploading. */
  refreshUploadButton() {
    const button = $("upload-button");
    const note = $("upload-note");
    button.disabled = !this.bundle || !this.signedIn() || this.upload !== null;
    $("upload-form").hidden = !this.bundle;
    if (!this.signedIn()) {
      replace(note, h("a", { href: "/login?next=/" }, "Sign in"), " to upload.");
    } else if (!this.bundle) {
      replace(note);
    } else {
      replace(note, `${this.bundle.fileName}, ${formatBytes(this.bundle.size)}`);
    }
  }

  #showPending(text) {
    $("step-bundle").hidden = false;
    replace($("bundle-summary"), h("p", { class: "pending" }, h("span", { class: "spinner", "aria-hidden": "true" }), text));
  }

  #showInvalid(diagnostics) {
    const errors = diagnostics.filter((d) => d.severity === "error").length;
    replace($("bundle-summary"),
      h("p", { class: "blocked" }, `No bundle: fix the ${plural(errors, "error")} above, then choose the folder again.`));
    this.refreshUploadButton();
    announce(`Found ${plural(errors, "error")}.`);
  }

  #showCheck({ decisions, sizes, roles: pathRoles, manifestFile, manifestText, diagnostics, showRules = true }) {
    $("step-check").hidden = false;
    replace($("check-diagnostics"), renderDiagnostics(diagnostics));
    replace($("check-manifest"), renderManifest(manifestFile, manifestText, diagnostics));
    replace($("check-tree"), renderTree(decisions, { sizes, roles: pathRoles, showRules }));
  }

  #showPreviews(icon, screenshots, blobOf) {
    const image = (path, cls) => {
      const blob = blobOf(path);
      if (!blob) return h("p", { class: "muted small" }, `${path} is missing.`);
      const url = URL.createObjectURL(blob);
      this.urls.push(url);
      return h("figure", { class: cls },
        h("a", { href: url, target: "_blank", rel: "noopener", title: `Open ${path}` },
          h("img", { src: url, alt: cls === "icon-preview" ? "App icon" : `Screenshot ${path}` })),
        h("figcaption", {}, path));
    };
    replace($("previews"),
      h("h3", {}, "Icon and screenshots"),
      icon ? image(icon, "icon-preview") : h("p", { class: "muted small" }, "No icon (a static/icon.png is used when present)."),
      screenshots.length
        ? h("div", { class: "screenshots" }, screenshots.map((s) => image(s, "screenshot-preview")))
        : h("p", { class: "muted small" }, "No screenshots."));
  }

  #showBundle(bundle) {
    this.bundle = bundle;
    const url = URL.createObjectURL(bundle.blob);
    this.urls.push(url);
    const row = (label, value, testid) => [h("dt", {}, label), h("dd", { "data-testid": testid }, value)];
    replace($("bundle-summary"),
      h("h3", {}, bundle.title || bundle.name),
      h("dl", { class: "facts" },
        row("Name", bundle.name, "bundle-name"),
        row("Version", bundle.version, "bundle-version"),
        row("Size", formatBytes(bundle.size), "bundle-size"),
        h("dt", {}, "SHA-256"),
        h("dd", { class: "sha" },
          h("code", { "data-testid": "bundle-sha256" }, bundle.sha256),
          h("button", { type: "button", class: "button small", onclick: (e) => copy(bundle.sha256, e.currentTarget) }, "Copy"))),
      h("p", { class: "muted small" }, bundle.note),
      h("a", { class: "button", href: url, download: bundle.fileName, "data-testid": "download-link" }, `Download ${bundle.fileName}`));
    this.refreshUploadButton();
    announce(`Bundle ${bundle.fileName} is ready: ${formatBytes(bundle.size)}.`);
  }

  async #upload() {
    if (!this.bundle || this.upload) return;
    const visibility = new FormData($("upload-form")).get("visibility");
    const controller = new AbortController();
    this.upload = controller;
    const progress = $("upload-progress");
    const text = $("upload-progress-text");
    progress.value = 0;
    text.textContent = "";
    $("progress-row").hidden = false;
    $("upload-cancel").hidden = false;
    replace($("upload-result"));
    this.refreshUploadButton();
    announce(`Uploading ${this.bundle.fileName}…`);
    try {
      const app = await uploadBundle({
        url: location.origin,
        bytes: this.bundle.blob,
        digest: reprDigest(this.bundle.sha256),
        visibility,
        signal: controller.signal,
        onProgress: (sent, total) => {
          const percent = total ? Math.round((sent / total) * 100) : 0;
          progress.value = percent;
          text.textContent = `${formatBytes(sent)} of ${formatBytes(total)} (${percent}%)`;
        },
      });
      replace($("upload-result"), h("p", { class: "success" }, `✓ Imported ${app.name} ${app.version}.`));
      announce(`Uploaded ${app.name} ${app.version}.`);
      this.onUploaded(app);
    } catch (err) {
      if (err.code === "cancelled") {
        $("progress-row").hidden = true;
        replace($("upload-result"), h("p", { class: "muted" }, "Upload cancelled."));
        announce("Upload cancelled.");
      } else {
        replace($("upload-result"), errorBox("The upload failed", err));
        announce("The upload failed.");
      }
    } finally {
      if (this.upload === controller) this.upload = null;
      $("upload-cancel").hidden = true;
      this.refreshUploadButton();
    }
  }
}

function roles(manifestFile, icon, screenshots) {
  const out = {};
  for (const s of screenshots ?? []) out[s] = "screenshot";
  if (icon) out[icon] = "icon";
  if (manifestFile) out[manifestFile] = "manifest";
  return out;
}

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Select and copy";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 2000);
}
