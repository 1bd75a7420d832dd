// Small DOM helpers shared by the page's modules: an element builder, number formats, the
// live status line and the rendering of errors (message, hint and diagnostics).

/**
 * Creates an element: `h("a", { href, class: "x", onclick }, "text", child)`.
 * Attributes starting with `on` become listeners; `null`/`false` attributes are skipped;
 * `dataset` and `style` objects are merged; children may be strings, nodes, arrays or null.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "style" && typeof value === "object") {
      Object.assign(el.style, value);
    } else if (key === "class") {
      el.className = value;
    } else if (key in el && typeof value !== "string") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** `36371` → `35.5 KB`. */
export function formatBytes(n) {
  if (!Number.isFinite(n)) return "";
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

/** An ISO timestamp as the reader's local date and time. */
export function formatTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** `n thing(s)`. */
export function plural(n, word, many = `${word}s`) {
  return `${n} ${n === 1 ? word : many}`;
}

export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

const statusLine = () => document.getElementById("live-status");

/** Says something in the page's live region (read by screen readers, shown in the footer). */
export function announce(text) {
  const el = statusLine();
  if (el) el.textContent = text;
}

/** One diagnostic as a list item: severity, where, code, message and help. */
export function diagnosticItem(d, { lineLink } = {}) {
  const at = d.line ? `line ${d.line}${d.column ? `:${d.column}` : ""}` : "";
  // requirements.txt diagnostics carry that file's lines.
  const where = d.path === "requirements.txt"
    ? [d.path, at].filter(Boolean).join(" ")
    : at || d.path || "bundle";
  const whereEl = d.line && lineLink
    ? h("a", { href: `#${lineLink(d.line)}`, class: "diag-where" }, where)
    : h("span", { class: "diag-where" }, where);
  return h("li", {
    class: `diag ${d.severity}`,
    dataset: { code: d.code, severity: d.severity, line: d.line ?? "", path: d.path },
  },
  h("span", { class: `badge ${d.severity}` }, d.severity),
  " ", whereEl, " ",
  h("code", { class: "diag-code" }, d.code),
  h("div", { class: "diag-message" }, d.message),
  d.help ? h("div", { class: "diag-help" }, d.help) : null);
}

/**
 * An error as the page shows it: its message, the hint of the API (what to do about it) and
 * the diagnostics the server or the bundler gave. `title` says what was being done.
 */
export function errorBox(title, err) {
  const message = err?.message ?? String(err);
  const diagnostics = Array.isArray(err?.diagnostics) ? err.diagnostics : [];
  return h("div", { class: "error-box", role: "alert", "data-testid": "error", dataset: { code: err?.code ?? "" } },
    h("strong", {}, title),
    h("p", {}, message),
    // The API's messages often end with the hint already; say it once.
    err?.hint && !message.includes(err.hint) ? h("p", { class: "hint" }, err.hint) : null,
    diagnostics.length ? h("ul", { class: "diag-list" }, diagnostics.map((d) => diagnosticItem(d))) : null);
}

/** The initials of an app, for the placeholder icon of an app without one. */
export function initials(text) {
  const words = String(text || "?").split(/[\s._-]+/).filter(Boolean);
  return (words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] ?? "?").slice(0, 2)).toUpperCase();
}

/** An app's icon (`/api/v1/apps/{id}/icon` when it has one; `icon_location` only names the
 * file), else a tile with its initials. */
export function appIcon(app, size = "md") {
  const label = app.title || app.name;
  const src = app.icon_location ? `/api/v1/apps/${encodeURIComponent(app.id)}/icon` : null;
  if (src) return h("img", { class: `app-icon ${size}`, src, alt: "", width: 48, height: 48, loading: "lazy" });
  return h("span", { class: `app-icon placeholder ${size}`, "aria-hidden": "true" }, initials(label));
}

/** A status badge (`RUNNING`, `FAILED`, …), its class derived from the status. */
export function statusBadge(status, attrs = {}) {
  return h("span", { ...attrs, class: `status status-${String(status).toLowerCase()}` }, status);
}

/** A `<select>` of the two visibilities. */
export function visibilitySelect(value, attrs = {}) {
  return h("select", attrs,
    h("option", { value: "PRIVATE", selected: value === "PRIVATE" }, "Private"),
    h("option", { value: "ALL_USERS", selected: value === "ALL_USERS" }, "All users"));
}

export const VISIBILITY_LABEL = { PRIVATE: "Private", ALL_USERS: "All users" };
