// The manifest beside its diagnostics: the text with line numbers, each diagnostic shown
// under the line it is about, and the full list (with the problems that have no line).

import { diagnosticItem, h, plural } from "./dom.js";

const lineId = (n) => `manifest-line-${n}`;

const SEVERITY_RANK = { error: 0, warning: 1, note: 2 };

/** Diagnostics whose line is in the manifest (those about requirements.txt count its lines). */
const inManifest = (d) => d.line && d.path !== "requirements.txt";

const bySeverityThenLine = (a, b) =>
  (SEVERITY_RANK[a.severity] ?? 1) - (SEVERITY_RANK[b.severity] ?? 1) ||
  (a.line ?? Infinity) - (b.line ?? Infinity) ||
  (a.column ?? 0) - (b.column ?? 0);

/** The manifest text with numbered lines and the diagnostics at their lines. */
export function renderManifest(fileName, text, diagnostics) {
  if (text === null || text === undefined) {
    return h("p", { class: "muted" }, "This folder has no manifest (q-app.toml, wave-app.toml or app.toml).");
  }
  const lines = text.split(/\r?\n/);
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  const atLine = new Map();
  for (const d of diagnostics) {
    if (!inManifest(d)) continue;
    const line = Math.min(d.line, lines.length);
    atLine.set(line, [...(atLine.get(line) ?? []), d]);
  }
  const rows = [];
  lines.forEach((content, i) => {
    const n = i + 1;
    const here = atLine.get(n) ?? [];
    const severity = ["error", "warning", "note"].find((s) => here.some((d) => d.severity === s)) ?? "";
    rows.push(h("li", { id: lineId(n), class: `code-line ${severity}`, tabindex: -1, dataset: { line: n } },
      h("span", { class: "ln", "aria-hidden": "true" }, n),
      h("code", {}, content || " ")));
    for (const d of here.sort(bySeverityThenLine)) {
      rows.push(h("li", {
        class: `code-diag ${d.severity}`,
        "data-testid": "manifest-diagnostic",
        dataset: { line: d.line, code: d.code, severity: d.severity },
      },
      h("span", { class: "ln", "aria-hidden": "true" }, "↳"),
      h("span", {},
        h("span", { class: "visually-hidden" }, `Line ${d.line}: `),
        h("span", { class: `badge ${d.severity}` }, d.severity), " ",
        d.message,
        d.column ? h("span", { class: "muted" }, ` (column ${d.column})`) : null,
        " ", h("code", { class: "diag-code" }, d.code))));
    }
  });
  return h("figure", { class: "manifest" },
    h("figcaption", {}, fileName),
    h("ol", { class: "code", "data-testid": "manifest-text", "aria-label": `${fileName}, with its problems under their lines` }, rows));
}

/** The list of all diagnostics, errors first, with a one-line summary. */
export function renderDiagnostics(diagnostics) {
  const count = (severity) => diagnostics.filter((d) => d.severity === severity).length;
  const [errors, warnings, notes] = [count("error"), count("warning"), count("note")];
  const summary = diagnostics.length === 0
    ? h("p", { class: "diag-summary ok" }, "✓ No problems found.")
    : h("p", { class: `diag-summary ${errors ? "error" : warnings ? "warning" : "note"}` },
      [errors ? plural(errors, "error") : null, warnings ? plural(warnings, "warning") : null, notes ? plural(notes, "note") : null]
        .filter(Boolean).join(", "),
      errors ? " — the bundle cannot be built until they are fixed." : null);
  return h("div", { class: "diagnostics", "data-testid": "diagnostics", dataset: { errors, warnings } },
    summary,
    diagnostics.length
      ? h("ul", { class: "diag-list" }, [...diagnostics].sort(bySeverityThenLine)
        .map((d) => diagnosticItem(d, { lineLink: inManifest(d) ? lineId : undefined })))
      : null);
}

/** Moves focus to a manifest line when a diagnostic's `line n` link is followed. */
export function focusLineOnLinkClick(container) {
  container.addEventListener("click", (event) => {
    const link = event.target.closest?.("a.diag-where");
    if (!link) return;
    const target = document.getElementById(link.getAttribute("href").slice(1));
    if (!target) return;
    event.preventDefault();
    target.scrollIntoView({ block: "center", behavior: "smooth" });
    target.focus({ preventScroll: true });
  });
}
