// The upload page's entry: loads the wasm module (once, shared with the bundling Worker),
// finds out who is signed in, and wires the choice of a folder or `.qz` (picker, input,
// drag and drop), the three views and their tabs. See index.html for the test hooks.

import init, { Client, version } from "./pkg/q8s_wasm.js";
import { Bundler } from "./bundler.js";
import { Capacity } from "./capacity.js";
import { Catalog } from "./catalog.js";
import { announce, errorBox, formatBytes, h, plural, replace } from "./dom.js";
import { fromDirectoryHandle, fromDrop, fromFileList, hasDirectoryPicker } from "./files.js";
import { RunPanel } from "./instance.js";
import { Tokens } from "./tokens.js";
import { UploadView } from "./upload.js";

const $ = (id) => document.getElementById(id);

// Last resort: an error nothing else caught is shown in the page (not only in the console).
window.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  showPageError("Something went wrong", event.reason);
});
window.addEventListener("error", (event) => {
  showPageError("Something went wrong", event.error ?? event.message);
});

function showPageError(title, err) {
  const box = errorBox(title, err);
  box.append(h("button", { type: "button", class: "button small", onclick: () => box.remove() }, "Dismiss"));
  $("page-error").append(box);
}

async function loadModule() {
  const url = new URL("./pkg/q8s_wasm_bg.wasm", import.meta.url);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url.pathname}: HTTP ${response.status}`);
  if (response.headers.get("content-type")?.startsWith("application/wasm")) {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}

/** Who is signed in: `{ username, admin }`, `null` when signed out (the page still checks
 * and bundles then; uploading and the catalog need a session). */
async function loadSession(client) {
  try {
    const me = await client.me();
    replace($("session"),
      h("span", { class: "who" }, "Signed in as ", h("strong", { "data-testid": "user" }, me.username),
        me.admin ? h("span", { class: "pill" }, "admin") : null),
      h("form", { method: "post", action: "/logout", class: "inline" },
        h("button", { type: "submit", class: "button small", "data-testid": "sign-out" }, "Sign out")));
    return me;
  } catch (err) {
    if (err.status === 401) {
      replace($("session"),
        h("a", { class: "button primary small", href: "/login?next=/", "data-testid": "sign-in" }, "Sign in"));
    } else {
      replace($("session"), h("span", { class: "muted" }, "Server unreachable"));
      showPageError("Cannot tell who is signed in", err);
    }
    return null;
  }
}

/** The views behind the tabs, by tab id, with the `#hash` that opens each. */
const VIEWS = [
  { tab: "tab-upload", hash: "" },
  { tab: "tab-catalog", hash: "#catalog" },
  { tab: "tab-tokens", hash: "#tokens" },
];

/** Wires the tabs; `views` maps a tab id to the view told when it is shown or hidden. */
function setupTabs(views) {
  const tabs = VIEWS.map((v) => $(v.tab));
  const select = (tab, { focus = false } = {}) => {
    for (const t of tabs) {
      const selected = t === tab;
      t.setAttribute("aria-selected", String(selected));
      t.tabIndex = selected ? 0 : -1;
      $(t.getAttribute("aria-controls")).hidden = !selected;
    }
    if (focus) tab.focus();
    for (const [id, view] of Object.entries(views)) view.setVisible(tab.id === id);
    const hash = VIEWS.find((v) => v.tab === tab.id).hash;
    if (location.hash !== hash) history.replaceState(null, "", hash || location.pathname);
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1, Home: -i, End: tabs.length - 1 - i }[event.key];
      if (step === undefined) return;
      event.preventDefault();
      select(tabs[(i + step + tabs.length) % tabs.length], { focus: true });
    });
  });
  const opened = VIEWS.findIndex((v) => v.hash && v.hash === location.hash);
  select(tabs[Math.max(0, opened)]);
  return () => select(tabs[0]);
}

function setupChoosing(view, showUploadTab) {
  let generation = 0;
  const selectionEl = $("selection");

  // (Redrawn every 50 files: a folder can hold many thousands.)
  const reading = (what) => (n) => (n % 50 === 0) && replace(selectionEl, h("span", {},
    h("span", { class: "spinner", "aria-hidden": "true" }), `Reading ${what}… ${n ? plural(n, "file") : ""}`));

  /** Runs one choice to its end; a newer choice makes an older one's results moot. */
  const choose = async (describe, read) => {
    const mine = ++generation;
    showUploadTab();
    view.reset();
    try {
      const progress = reading(describe);
      progress(0);
      const chosen = await read(progress);
      if (mine !== generation || !chosen) return;
      if (chosen.kind === "qz") {
        replace(selectionEl, h("span", {}, "Bundle ", h("strong", {}, chosen.file.name), ` (${formatBytes(chosen.file.size)})`));
        await view.showBundleFile(chosen.file);
      } else {
        const { selection } = chosen;
        const size = selection.files.reduce((sum, f) => sum + f.file.size, 0);
        replace(selectionEl, h("span", {}, "Folder ", h("strong", {}, selection.name), ` — ${plural(selection.files.length, "file")}, ${formatBytes(size)}`),
          selection.handle
            ? h("button", {
              type: "button", class: "button small", "data-testid": "reread-folder",
              onclick: () => choose(selection.name, async (progress) => ({ kind: "folder", selection: await fromDirectoryHandle(selection.handle, progress) })),
            }, "Re-read folder")
            : null);
        await view.showFolder(selection);
      }
    } catch (err) {
      if (err?.code === "superseded" || mine !== generation) return;
      if (err?.name === "AbortError") { replace(selectionEl); return; } // the picker was closed
      view.showError("This could not be read or bundled", err);
      announce("Error: " + (err?.message ?? err));
    }
  };

  const folderInput = $("folder-input");
  const qzInput = $("qz-input");
  folderInput.addEventListener("change", () => {
    const files = [...folderInput.files];
    folderInput.value = "";
    if (files.length) choose("the folder", async () => ({ kind: "folder", selection: fromFileList(files) }));
  });
  qzInput.addEventListener("change", () => {
    const file = qzInput.files[0];
    qzInput.value = "";
    if (file) choose(file.name, async () => ({ kind: "qz", file }));
  });
  $("pick-folder").addEventListener("click", () => {
    if (!hasDirectoryPicker) {
      folderInput.click();
      return;
    }
    choose("the folder", async (progress) => {
      const handle = await window.showDirectoryPicker({ id: "q8s-app", mode: "read" });
      return { kind: "folder", selection: await fromDirectoryHandle(handle, progress) };
    });
  });
  $("pick-qz").addEventListener("click", () => qzInput.click());

  // The whole window takes drops (missing the zone must not make the browser open the file).
  const zone = $("dropzone");
  let depth = 0;
  const carriesFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes("Files");
  window.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth += 1;
    zone.classList.add("dragging");
  });
  window.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) zone.classList.remove("dragging");
  });
  window.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  window.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth = 0;
    zone.classList.remove("dragging");
    // The entries must be taken now, before the handler returns.
    const dropped = fromDrop(event.dataTransfer, reading("the dropped folder"));
    choose("the dropped folder", async () => {
      const result = await dropped;
      if (result.kind === "none") {
        throw Object.assign(new Error("Drop a folder or a single .qz file."), { code: "nothing-to-read" });
      }
      return result;
    });
  });
}

async function main() {
  const module = await loadModule();
  await init({ module_or_path: module });
  $("version").textContent = `q8s ${version()}`;
  const client = new Client(location.origin);
  let me = null;
  let runPanel = null;
  const catalog = new Catalog({ client, me: () => me, onAppChanged: (app) => runPanel?.updateApp(app) });
  runPanel = new RunPanel({ client, onChange: () => catalog.markStale() });
  const view = new UploadView({
    bundler: new Bundler(module),
    signedIn: () => me !== null,
    onUploaded: (app) => {
      runPanel.showApp(app);
      catalog.markStale();
    },
  });
  const tokens = new Tokens({ client, me: () => me });
  const capacity = new Capacity({ client, me: () => me });
  const catalogView = {
    setVisible: (visible) => {
      catalog.setVisible(visible);
      capacity.setVisible(visible);
    },
  };
  const showUploadTab = setupTabs({ "tab-catalog": catalogView, "tab-tokens": tokens });
  setupChoosing(view, showUploadTab);
  me = await loadSession(client);
  view.refreshUploadButton();
  catalog.markStale();
  if (capacity.visible) capacity.refresh();
  if (tokens.visible) tokens.refresh();
  document.body.dataset.ready = "true";
}

main().catch((err) => showPageError("The page could not start", err));
