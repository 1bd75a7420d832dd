// The server's capacity, for admins, above the catalog: how much of the machine's memory the
// instances may reserve, what they reserve and use, how many are admitted, wait for memory or
// sleep, and every instance by status (`GET /api/v1/admin/capacity`). Hidden for everyone
// else: the server refuses them the call anyway.

import { errorBox, formatBytes, h, replace, statusBadge } from "./dom.js";

const $ = (id) => document.getElementById(id);

/** How often the panel reloads while it is shown. */
const REFRESH_MS = 5000;

/** Statuses in the order an instance's life goes; any other the server adds comes after. */
const ORDER = ["PENDING", "STARTING", "RUNNING", "SUSPENDED", "FAILED", "TERMINATED"];

export class Capacity {
  /**
   * @param {object} o
   * @param {import("./pkg/q8s_wasm.js").Client} o.client
   * @param {() => (object|null)} o.me the signed-in user (`{ username, admin }`), or null
   */
  constructor({ client, me }) {
    this.client = client;
    this.me = me;
    this.visible = false;
    this.timer = null;
    this.loading = null;
    $("catalog-refresh").addEventListener("click", () => this.refresh());
  }

  get #shown() {
    return Boolean(this.me()?.admin);
  }

  /** The view holding the panel was shown or hidden (it reloads only while shown). */
  setVisible(visible) {
    this.visible = visible;
    clearTimeout(this.timer);
    if (visible) this.refresh();
  }

  async refresh() {
    clearTimeout(this.timer);
    $("capacity").hidden = !this.#shown;
    if (!this.#shown) return;
    const load = this.client.capacity();
    this.loading = load;
    try {
      const report = await load;
      if (this.loading !== load) return; // a newer refresh is on its way
      this.#render(report);
    } catch (err) {
      if (this.loading === load) replace($("capacity-body"), errorBox("The server's capacity could not be loaded", err));
    }
    if (this.visible) this.timer = setTimeout(() => this.refresh(), REFRESH_MS);
  }

  /** @param {import("./pkg/q8s_wasm.js").CapacityReport} report */
  #render(report) {
    $("capacity-node").textContent = report.node;
    const statuses = Object.keys(report.instances)
      .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    replace($("capacity-body"),
      memory(report),
      h("ul", { class: "capacity-counts", "aria-label": "Instances on this server" },
        count("capacity-admitted", report.admitted, "admitted", "starting or running here, holding their reservation"),
        count("capacity-waiting", report.waiting, "waiting for memory", "they start as memory frees up", report.waiting > 0),
        count("capacity-sleeping", report.sleeping, "asleep", "idle: they hold no memory and wake on their next request")),
      h("div", { class: "capacity-statuses" },
        h("span", { class: "muted small" }, "All servers' instances:"),
        statuses.length
          ? statuses.map((status) => h("span", { class: "capacity-status", "data-testid": "capacity-status", dataset: { status, count: String(report.instances[status]) } },
            statusBadge(status), " ", String(report.instances[status])))
          : h("span", { class: "muted small" }, "none yet")));
  }
}

function rank(status) {
  const at = ORDER.indexOf(status);
  return at === -1 ? ORDER.length : at;
}

/** Reserved and used memory against the capacity, as a meter and in words. */
function memory(report) {
  const reserved = h("strong", { "data-testid": "capacity-reserved", dataset: { bytes: String(report.reserved_bytes) } },
    formatBytes(report.reserved_bytes));
  const used = report.used_bytes === null
    ? h("span", { class: "muted", "data-testid": "capacity-used", dataset: { bytes: "" } }, "unknown")
    : h("strong", { "data-testid": "capacity-used", dataset: { bytes: String(report.used_bytes) } }, formatBytes(report.used_bytes));
  if (report.capacity_bytes === null) {
    return h("p", { class: "capacity-memory", "data-testid": "capacity-capacity", dataset: { bytes: "" } },
      "Reserved ", reserved, ", in use ", used, ". Memory is admitted by the cluster's scheduler, not by q8s.");
  }
  const share = report.capacity_bytes > 0 ? report.reserved_bytes / report.capacity_bytes : 0;
  return h("div", { class: "capacity-memory" },
    h("meter", {
      class: "capacity-meter", min: 0, max: report.capacity_bytes, value: report.reserved_bytes,
      high: report.capacity_bytes * 0.9, optimum: 0, "aria-label": "Memory reserved of the capacity",
    }),
    h("p", {},
      "Reserved ", reserved, " of ",
      h("strong", { "data-testid": "capacity-capacity", dataset: { bytes: String(report.capacity_bytes) } }, formatBytes(report.capacity_bytes)),
      ` (${(share * 100).toFixed(share < 0.1 ? 1 : 0)} %), in use `, used, "."));
}

function count(testid, n, label, explanation, warn = false) {
  return h("li", { class: warn ? "warn" : null, title: explanation },
    h("strong", { "data-testid": testid }, String(n)), " ", label,
    h("span", { class: "muted small" }, ` — ${explanation}`));
}

