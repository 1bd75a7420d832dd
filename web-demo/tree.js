// The file tree of a selection: every path the bundler saw, marked included or excluded
// with the rule that decided it (core's `explain`), or the entries of a dropped `.qz`.

import { formatBytes, h, plural } from "./dom.js";

/** Folders beyond this many paths start collapsed (a `node_modules` should not flood the page). */
const COLLAPSE_ABOVE = 300;

/**
 * @param {{path: string, included: boolean, rule: string}[]} decisions (folders end with `/`)
 * @param {object} o
 * @param {Map<string, number>} o.sizes file sizes by path
 * @param {Record<string, string>} o.roles `manifest`, `icon`, `screenshot` by path
 * @param {boolean} [o.showRules] show the rule of included paths too (off for a `.qz`)
 */
export function renderTree(decisions, { sizes = new Map(), roles = {}, showRules = true } = {}) {
  const root = buildTree(decisions);
  const collapse = decisions.length > COLLAPSE_ABOVE;
  const files = decisions.filter((d) => !d.path.endsWith("/"));
  const included = files.filter((d) => d.included);
  const excluded = decisions.filter((d) => !d.included);
  const total = included.reduce((sum, d) => sum + (sizes.get(d.path) ?? 0), 0);
  return h("div", { class: "tree-wrap" },
    h("p", { class: "tree-summary" },
      h("span", { class: "count ok" }, plural(included.length, "file"), " included"),
      " · ",
      h("span", { class: "count muted" }, excluded.length, " excluded"),
      total ? ` · ${formatBytes(total)}` : null),
    h("ul", { class: "tree", "data-testid": "file-tree", "aria-label": "Files" },
      renderChildren(root, 0, { sizes, roles, showRules, collapse })));
}

function buildTree(decisions) {
  const root = { name: "", children: new Map() };
  for (const decision of decisions) {
    const isDir = decision.path.endsWith("/");
    const parts = decision.path.replace(/\/$/, "").split("/");
    let node = root;
    parts.forEach((part, i) => {
      let child = node.children.get(part);
      if (!child) {
        const dir = isDir || i < parts.length - 1;
        child = { name: part, path: parts.slice(0, i + 1).join("/") + (dir ? "/" : ""), dir, children: new Map(), decision: null };
        node.children.set(part, child);
      }
      node = child;
    });
    node.decision = decision;
  }
  return root;
}

function sorted(node) {
  return [...node.children.values()].sort((a, b) =>
    a.dir === b.dir ? a.name.localeCompare(b.name, undefined, { numeric: true }) : a.dir ? -1 : 1);
}

function renderChildren(node, depth, o) {
  return sorted(node).map((child) => renderNode(child, depth, o));
}

function renderNode(node, depth, o) {
  // A folder is included when anything in it is (its own decision says so when listed).
  const included = node.decision ? node.decision.included : true;
  const rule = node.decision?.rule ?? "";
  const role = o.roles[node.path];
  const label = [
    h("span", { class: "mark", title: included ? "included" : "excluded" },
      h("span", { "aria-hidden": "true" }, included ? "✓" : "–"),
      h("span", { class: "visually-hidden" }, included ? "included" : "excluded")),
    h("span", { class: node.dir ? "name dir" : "name" }, node.name + (node.dir ? "/" : "")),
    role ? h("span", { class: "tag" }, role) : null,
    (!included || (o.showRules && rule && rule !== "included")) ? h("span", { class: "rule" }, rule) : null,
    !node.dir && included && o.sizes.has(node.path) ? h("span", { class: "size" }, formatBytes(o.sizes.get(node.path))) : null,
  ];
  const attrs = {
    class: `tree-node ${included ? "included" : "excluded"}`,
    dataset: { path: node.path, included: String(included), rule },
  };
  if (node.dir && node.children.size > 0) {
    const open = !o.collapse || depth === 0;
    const list = h("ul", {}, open ? renderChildren(node, depth + 1, o) : null);
    const details = h("details", { open }, h("summary", {}, label), list);
    if (!open) {
      // A collapsed folder's contents are drawn when it is first opened.
      details.addEventListener("toggle", () => {
        if (details.open && !list.hasChildNodes()) list.append(...renderChildren(node, depth + 1, o));
      });
    }
    return h("li", attrs, details);
  }
  return h("li", attrs, h("div", { class: "row" }, label));
}
