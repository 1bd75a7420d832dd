// Step 4 of the page: the imported app's card with Run, then the instance it started —
// its status polled live, its URL, and its log followed as it is written.

import { followLog } from "./pkg/http.js";
import {
  VISIBILITY_LABEL, announce, appIcon, errorBox, formatBytes, h, replace, sleep, statusBadge, visibilitySelect,
} from "./dom.js";

const $ = (id) => document.getElementById(id);

/** Statuses an instance leaves by itself: poll these quickly. */
export const TRANSITIONAL = new Set(["PENDING", "STARTING"]);
const isLive = (status) => status === "RUNNING" || TRANSITIONAL.has(status);

/** Most log lines kept in the page (the oldest go first). */
const MAX_LOG_LINES = 5000;

export class RunPanel {
  /**
   * @param {object} o
   * @param {import("./pkg/q8s_wasm.js").Client} o.client
   * @param {() => void} o.onChange something changed that the catalog shows
   */
  constructor({ client, onChange }) {
    this.client = client;
    this.onChange = onChange;
    this.watch = null; // AbortController of the followed instance
    this.app = null;
  }

  /** The app shown here was changed elsewhere (its visibility, in the catalog). */
  updateApp(app) {
    if (this.app?.id !== app.id) return;
    this.app = app;
    const pill = document.querySelector('[data-testid="app-card-visibility"]');
    if (pill) pill.textContent = VISIBILITY_LABEL[app.visibility] ?? app.visibility;
  }

  /** Shows the app just imported, with its Run button. */
  showApp(app) {
    this.stop();
    this.app = app;
    $("step-run").hidden = false;
    replace($("run-instance"));
    const runVisibility = visibilitySelect("PRIVATE", { id: "run-visibility", "data-testid": "run-visibility" });
    const run = h("button", { type: "button", class: "button primary", "data-testid": "run-button" }, "Run");
    run.addEventListener("click", async () => {
      run.disabled = true;
      try {
        const instance = await this.client.run(app.id, runVisibility.value);
        announce(`Started an instance of ${app.name}.`);
        this.follow(instance);
        this.onChange();
      } catch (err) {
        replace($("run-instance"), errorBox("The app could not be started", err));
      } finally {
        run.disabled = false;
      }
    });
    replace($("run-app"),
      h("article", { class: "app-card", "data-testid": "app-card", dataset: { appId: app.id } },
        appIcon(app, "lg"),
        h("div", { class: "app-card-body" },
          h("h3", {}, app.title || app.name),
          h("p", { class: "muted" }, h("span", { class: "mono" }, app.name), " · version ", h("strong", { "data-testid": "app-version" }, app.version)),
          h("p", { class: "meta" },
            h("span", { class: "pill", "data-testid": "app-card-visibility" }, VISIBILITY_LABEL[app.visibility] ?? app.visibility),
            ` owner ${app.owner} · ${formatBytes(app.bundle?.size)}`)),
        h("div", { class: "app-card-actions" },
          h("label", { for: "run-visibility", class: "small" }, "Instance visible to"),
          runVisibility,
          run)));
    $("step-run").scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  /** Shows `instance` and keeps it current until it is terminated or the panel moves on. */
  follow(instance) {
    this.stop();
    const watch = new AbortController();
    this.watch = watch;
    const el = {
      status: statusBadge(instance.status, { "data-testid": "instance-status" }),
      message: h("span", { class: "muted", "data-testid": "instance-message" }),
      url: h("a", { href: instance.url, target: "_blank", rel: "noopener", "data-testid": "instance-url" }, instance.url),
      actions: h("div", { class: "instance-actions" }),
      error: h("div", {}),
      log: h("pre", { class: "log", "data-testid": "instance-log", tabindex: 0, role: "log", "aria-live": "off", "aria-label": "Instance log" }),
    };
    replace($("run-instance"),
      h("section", { class: "instance", "data-testid": "instance", dataset: { instanceId: instance.id }, "aria-label": "Instance" },
        h("div", { class: "instance-head" },
          h("div", { class: "instance-state", role: "status" }, el.status, " ", el.message),
          el.actions),
        h("p", { class: "instance-url" }, "Open at ", el.url),
        el.error,
        h("h4", {}, "Log"),
        el.log));
    this.#render(el, instance);
    this.#poll(el, instance, watch.signal);
    this.#followLog(el, instance.id, watch.signal);
  }

  /** Stops polling and following (the panel shows something else now). */
  stop() {
    this.watch?.abort();
    this.watch = null;
  }

  #render(el, instance) {
    const previous = el.status.textContent;
    el.status.textContent = instance.status;
    el.status.className = `status status-${instance.status.toLowerCase()}`;
    el.message.textContent = instance.status_message ?? "";
    if (previous !== instance.status) announce(`Instance ${instance.status.toLowerCase()}.`);
    if (instance.status === "TERMINATED" && el.url.isConnected) {
      // Its address answers 410 now: no link to follow.
      el.url.replaceWith(h("span", { class: "mono muted", "data-testid": "instance-url-ended" }, `${instance.url} (terminated)`));
    }
    const action = (label, testid, fn, cls = "button small") =>
      h("button", {
        type: "button", class: cls, "data-testid": testid,
        onclick: async (event) => {
          event.currentTarget.disabled = true;
          try {
            const updated = await fn();
            this.#render(el, updated ?? { ...instance, status: "TERMINATED" });
            this.onChange();
          } catch (err) {
            replace(el.error, errorBox(`${label} failed`, err));
          }
        },
      }, label);
    const buttons = [];
    if (instance.status === "RUNNING" || TRANSITIONAL.has(instance.status)) {
      buttons.push(action("Suspend", "instance-suspend", () => this.client.suspend(instance.id)));
    }
    if (instance.status === "SUSPENDED" || instance.status === "FAILED") {
      buttons.push(action("Resume", "instance-resume", () => this.client.resume(instance.id)));
    }
    if (instance.status !== "TERMINATED") {
      buttons.push(action("Terminate", "instance-terminate", async () => {
        await this.client.terminate(instance.id);
        return null;
      }, "button small danger"));
    }
    replace(el.actions, buttons);
  }

  async #poll(el, first, signal) {
    let instance = first;
    while (!signal.aborted && instance.status !== "TERMINATED") {
      await sleep(TRANSITIONAL.has(instance.status) ? 1000 : 3000, signal);
      if (signal.aborted) return;
      try {
        instance = await this.client.instance(instance.id);
      } catch (err) {
        if (signal.aborted) return;
        if (err.status === 404) instance = { ...instance, status: "TERMINATED", status_message: "deleted" };
        else {
          replace(el.error, errorBox("The instance's status could not be read", err));
          continue;
        }
      }
      if (signal.aborted) return;
      replace(el.error);
      if (instance.status !== el.status.textContent) {
        this.#render(el, instance);
        this.onChange();
      }
    }
  }

  /** Follows the log; while the instance has not started yet the stream ends at once, so it
   * is followed again, skipping the lines already shown. */
  async #followLog(el, id, signal) {
    let shown = 0;
    const append = (line) => {
      const atBottom = el.log.scrollHeight - el.log.scrollTop - el.log.clientHeight < 24;
      el.log.append(`${line}\n`);
      if (el.log.childNodes.length > MAX_LOG_LINES) el.log.firstChild.remove();
      if (atBottom) el.log.scrollTop = el.log.scrollHeight;
    };
    while (!signal.aborted) {
      let seen = 0;
      try {
        await followLog({
          url: location.origin,
          id,
          signal,
          onLine: (line) => {
            seen += 1;
            if (seen > shown) {
              shown = seen;
              append(line);
            }
          },
        });
      } catch (err) {
        if (signal.aborted) return;
        if (err.status === 404) return;
        replace(el.error, errorBox("The log could not be read", err));
        return;
      }
      // The stream ended: the instance stopped, or had not started yet. Follow again once
      // it runs (a suspended instance is resumed from this page or the catalog).
      do {
        if (el.status.textContent === "TERMINATED") return;
        await sleep(1000, signal);
      } while (!signal.aborted && !isLive(el.status.textContent));
    }
  }
}
