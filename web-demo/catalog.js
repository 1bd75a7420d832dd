// The catalog view: my apps or all apps I may see — a card per Name showing its latest
// version, or a card per version on request — each with its icon, version, owner and
// visibility (changeable by its owner or an admin), and its live instances (of any of its
// versions) with their status, URL and visibility, to run, terminate, or delete.

import {
  VISIBILITY_LABEL, announce, appIcon, errorBox, formatBytes, formatTime, h, plural, replace, statusBadge,
  visibilitySelect,
} from "./dom.js";
import { TRANSITIONAL } from "./instance.js";

const $ = (id) => document.getElementById(id);

export class Catalog {
  /**
   * @param {object} o
   * @param {import("./pkg/q8s_wasm.js").Client} o.client
   * @param {() => (object|null)} o.me the signed-in user (`{ username, admin }`), or null
   * @param {(app: object) => void} [o.onAppChanged] an app was changed here
   */
  constructor({ client, me, onAppChanged }) {
    this.client = client;
    this.me = me;
    this.onAppChanged = onAppChanged;
    this.visible = false;
    this.stale = true;
    this.timer = null;
    this.loading = null;
    this.showTerminated = false;
    for (const radio of document.querySelectorAll('input[name="catalog-scope"]')) {
      radio.addEventListener("change", () => this.refresh());
    }
    $("catalog-all-versions").addEventListener("change", () => this.refresh());
    $("catalog-refresh").addEventListener("click", () => this.refresh({ announceIt: true }));
  }

  get all() {
    return document.querySelector('input[name="catalog-scope"]:checked')?.value === "all";
  }

  /** A card per version (else one per Name, its latest version). */
  get allVersions() {
    return $("catalog-all-versions").checked;
  }

  /** The view was shown or hidden (it refreshes only while shown). */
  setVisible(visible) {
    this.visible = visible;
    if (visible && this.stale) this.refresh();
    if (!visible) clearTimeout(this.timer);
  }

  /** Something changed elsewhere in the page: reload when next shown. */
  markStale() {
    this.stale = true;
    if (this.visible) this.refresh();
  }

  async refresh({ announceIt = false } = {}) {
    clearTimeout(this.timer);
    if (!this.me()) {
      replace($("catalog-body"), h("p", { class: "muted" }, h("a", { href: "/login?next=/" }, "Sign in"), " to see the catalog."));
      return;
    }
    const all = this.all;
    // Terminated instances only on request.
    const status = this.showTerminated ? "all" : "live";
    const load = Promise.all([this.client.apps(all, this.allVersions), this.client.instances(all, status)]);
    this.loading = load;
    let apps;
    let instances;
    let omitted;
    try {
      let list;
      [apps, list] = await load;
      instances = list.instances;
      omitted = list.terminated_omitted;
    } catch (err) {
      if (this.loading === load) replace($("catalog-body"), errorBox("The catalog could not be loaded", err));
      return;
    }
    if (this.loading !== load) return; // a newer refresh is on its way
    this.stale = false;
    const focus = focusKey();
    this.#render(apps, instances);
    this.#omitted(omitted);
    restoreFocus(focus);
    if (announceIt) announce(`Catalog: ${plural(apps.length, "app")}.`);
    if (this.visible && instances.some((i) => TRANSITIONAL.has(i.status))) {
      this.timer = setTimeout(() => this.refresh(), 1500);
    }
  }

  #render(apps, instances) {
    // An instance goes under its version's card, or under its Name's when cards are per Name
    // (a Name has one owner, so the Name is the app).
    const cardOf = this.allVersions ? (i) => i.app_id : (i) => i.app_name;
    const byApp = new Map();
    for (const instance of instances) {
      byApp.set(cardOf(instance), [...(byApp.get(cardOf(instance)) ?? []), instance]);
    }
    const keys = new Set(apps.map((a) => (this.allVersions ? a.id : a.name)));
    const orphans = instances.filter((i) => !keys.has(cardOf(i)) && i.status !== "TERMINATED");
    const sorted = [...apps].sort((a, b) =>
      (a.title || a.name).localeCompare(b.title || b.name) || b.created_at.localeCompare(a.created_at));
    if (sorted.length === 0 && orphans.length === 0) {
      replace($("catalog-body"), h("p", { class: "empty" },
        this.all ? "No apps yet." : "You have not imported an app yet: bundle and upload one first."));
      return;
    }
    replace($("catalog-body"),
      h("ul", { class: "catalog-list", "aria-label": "Apps" },
        sorted.map((app) => h("li", {}, this.#appCard(app, byApp.get(this.allVersions ? app.id : app.name) ?? [])))),
      orphans.length
        ? h("section", { class: "orphans" }, h("h3", {}, "My instances of other users' apps"), this.#instanceList(orphans))
        : null);
  }

  /** The server leaves terminated instances out: say how many, and offer them. */
  #omitted(count) {
    if (count === 0) return;
    $("catalog-body").append(h("p", { class: "muted small", "data-testid": "catalog-terminated-omitted" },
      `${plural(count, "terminated instance")} not shown. `,
      h("button", {
        type: "button", class: "button small", "data-testid": "catalog-show-terminated",
        onclick: () => { this.showTerminated = true; this.refresh(); },
      }, "Show them")));
  }

  #canManage(owner) {
    const me = this.me();
    return Boolean(me && (me.admin || me.username === owner));
  }

  #appCard(app, instances) {
    const error = h("div", { class: "card-error" });
    const live = instances.filter((i) => i.status !== "TERMINATED");
    const manage = this.#canManage(app.owner);
    const label = `${app.title || app.name} ${app.version}`;
    const visibility = manage
      ? visibilitySelect(app.visibility, {
        "data-testid": "app-visibility",
        "aria-label": `Who can see ${label}`,
        onchange: (event) => this.#act(error, "The visibility could not be changed", async () => {
          const updated = await this.client.setAppVisibility(app.id, event.target.value);
          this.onAppChanged?.(updated);
          announce(`${label} is now ${VISIBILITY_LABEL[updated.visibility].toLowerCase()}.`);
        }, () => { event.target.value = app.visibility; }),
      })
      : h("span", { class: "pill" }, VISIBILITY_LABEL[app.visibility] ?? app.visibility);
    const run = h("button", {
      type: "button", class: "button small primary", "data-testid": "catalog-run", "aria-label": `Run ${label}`,
      onclick: () => this.#act(error, "The app could not be started", async () => {
        await this.client.run(app.id, "PRIVATE");
        announce(`Started an instance of ${label}.`);
      }),
    }, "Run");
    const remove = manage && live.length === 0
      ? h("button", {
        type: "button", class: "button small danger", "data-testid": "delete-app", "aria-label": `Delete ${label}`,
        onclick: (event) => {
          const button = event.currentTarget;
          if (button.dataset.confirm !== "yes") {
            // Deleting cannot be undone: the first press only asks.
            button.dataset.confirm = "yes";
            button.textContent = "Really delete?";
            setTimeout(() => { button.dataset.confirm = ""; button.textContent = "Delete"; }, 5000);
            return;
          }
          this.#act(error, "The app could not be deleted", async () => {
            await this.client.deleteApp(app.id);
            announce(`Deleted ${label}.`);
          });
        },
      }, "Delete")
      : null;
    return h("article", { class: "catalog-app", "data-testid": "catalog-app", dataset: { appId: app.id, name: app.name, version: app.version } },
      h("div", { class: "catalog-app-head" },
        appIcon(app),
        h("div", { class: "catalog-app-title" },
          h("h3", {}, app.title || app.name),
          h("p", { class: "muted small" },
            h("span", { class: "mono" }, app.name), " · ", h("strong", {}, app.version),
            ` · ${app.owner} · ${formatBytes(app.bundle?.size)} · ${formatTime(app.created_at)}`)),
        h("div", { class: "catalog-app-actions" }, visibility, run, remove)),
      live.length ? this.#instanceList(live, app) : null,
      this.#terminated(instances.filter((i) => i.status === "TERMINATED"), app),
      error);
  }

  /** Terminated instances (listed on request) are folded away. */
  #terminated(instances, app) {
    if (instances.length === 0) return null;
    return h("details", { class: "terminated" },
      h("summary", {}, `${plural(instances.length, "terminated instance")}`),
      this.#instanceList(instances, app));
  }

  /** Instances, newest first; under `app`'s card, or (without one) of other users' apps. */
  #instanceList(instances, app) {
    const rows = [...instances]
      .sort((a, b) => b.created_at.localeCompare(a.created_at))
      .map((instance) => this.#instanceRow(instance, app));
    return h("ul", { class: "instances", "aria-label": "Instances" }, rows);
  }

  #instanceRow(instance, app) {
    const error = h("div", { class: "card-error" });
    const manage = this.#canManage(instance.owner);
    const ended = instance.status === "TERMINATED";
    const short = instance.id.slice(0, 8);
    // What the card does not already say: an older version, or whose app it is.
    const which = !app
      ? `${instance.app_title || instance.app_name} ${instance.app_version}`
      : instance.app_id !== app.id ? `version ${instance.app_version}` : null;
    return h("li", { class: `catalog-instance${ended ? " ended" : ""}`, "data-testid": "catalog-instance", dataset: { instanceId: instance.id, status: instance.status } },
      h("div", { class: "instance-row" },
        statusBadge(instance.status, { "data-testid": "catalog-instance-status", title: instance.status_message ?? "" }),
        ended
          ? h("span", { class: "mono muted" }, short)
          : h("a", { href: instance.url, target: "_blank", rel: "noopener", class: "mono", "data-testid": "catalog-instance-url" }, instance.url),
        which ? h("span", { class: "pill", "data-testid": "catalog-instance-app" }, which) : null,
        h("span", { class: "muted small" }, `${instance.owner} · ${formatTime(instance.created_at)}`),
        h("span", { class: "instance-row-actions" },
          manage && !ended
            ? visibilitySelect(instance.visibility, {
              "data-testid": "instance-visibility",
              "aria-label": `Who can open instance ${short}`,
              onchange: (event) => this.#act(error, "The visibility could not be changed", async () => {
                await this.client.setInstanceVisibility(instance.id, event.target.value);
                announce(`Instance ${short} is now ${VISIBILITY_LABEL[event.target.value].toLowerCase()}.`);
              }, () => { event.target.value = instance.visibility; }),
            })
            : h("span", { class: "pill" }, VISIBILITY_LABEL[instance.visibility] ?? instance.visibility),
          manage && !ended
            ? h("button", {
              type: "button", class: "button small danger", "data-testid": "terminate-button", "aria-label": `Terminate instance ${short}`,
              onclick: () => this.#act(error, "The instance could not be terminated", async () => {
                await this.client.terminate(instance.id);
                announce(`Terminated instance ${short}.`);
              }),
            }, "Terminate")
            : null)),
      instance.status_message && !ended ? h("p", { class: "muted small" }, instance.status_message) : null,
      error);
  }

  /** Runs an action of a card; its error shows in the card (`undo` puts the control back),
   * success reloads the list. */
  async #act(errorEl, title, fn, undo) {
    replace(errorEl);
    try {
      await fn();
    } catch (err) {
      undo?.();
      replace(errorEl, errorBox(title, err));
      return;
    }
    await this.refresh();
  }
}

/** Which control had the focus, so that a reload can give it back. */
function focusKey() {
  const el = document.activeElement;
  if (!el || !el.dataset?.testid) return null;
  const owner = el.closest("[data-instance-id], [data-app-id]");
  if (!owner) return null;
  const key = owner.dataset.instanceId ? `[data-instance-id="${owner.dataset.instanceId}"]` : `[data-app-id="${owner.dataset.appId}"]`;
  return `${key} [data-testid="${el.dataset.testid}"]`;
}

function restoreFocus(selector) {
  if (!selector) return;
  const target = $("catalog-body").querySelector(selector);
  if (target) target.focus();
}
