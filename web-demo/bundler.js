// The page's side of the bundling Worker (worker.js): one job at a time, progress events,
// and a fresh Worker whenever the old one crashed (a Rust panic), failed to start, or is
// busy with a job that a newer choice of folder replaces.

/** Why a job ended without a result. */
export class BundlerError extends Error {
  constructor(message, { code = "error", diagnostics, hint } = {}) {
    super(message);
    this.code = code;
    this.diagnostics = diagnostics;
    this.hint = hint;
  }
}

export class Bundler {
  /** @param {WebAssembly.Module} module the compiled q8s wasm module, shared with the Worker */
  constructor(module) {
    this.module = module;
    this.nextId = 1;
    this.job = null;
    this.worker = null;
    this.restarts = 0;
  }

  /** Checks and bundles a folder selection. `onChecked(event)` gets the check report first;
   * the promise resolves with the `bundled` event, or `null` when the folder is invalid. */
  bundle(files, onChecked) {
    return this.#run({ type: "bundle", files }, [], (event) => {
      if (event.type === "checked") {
        onChecked?.(event);
        return event.report.valid ? undefined : { done: null };
      }
      if (event.type === "bundled") return { done: event };
      return undefined;
    });
  }

  /** Reads a `.qz` (its bytes are moved to the Worker). Resolves with the `inspected` event. */
  inspect(bytes) {
    return this.#run({ type: "inspect", bytes }, [bytes], (event) =>
      event.type === "inspected" ? { done: event } : undefined);
  }

  #spawn() {
    const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "q8s-bundler" });
    worker.postMessage({ type: "init", module: this.module });
    worker.onmessage = ({ data }) => this.#receive(worker, data);
    worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(worker, new BundlerError(`The bundler stopped: ${event.message || "it could not start"}.`, {
        code: "worker-error",
        hint: "It has been restarted; choose the folder again.",
      }));
    };
    worker.onmessageerror = () => this.#fail(worker, new BundlerError("The bundler sent a message the page cannot read.", { code: "worker-error" }));
    return worker;
  }

  #run(message, transfer, handle) {
    if (this.job) {
      // A newer request replaces the running one: a Worker busy in wasm cannot be
      // interrupted, only replaced.
      const old = this.job;
      this.job = null;
      this.#replaceWorker();
      old.reject(new BundlerError("replaced by a newer choice", { code: "superseded" }));
    }
    this.worker ??= this.#spawn();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.job = { id, resolve, reject, handle, worker: this.worker };
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  #receive(worker, data) {
    const job = this.job;
    if (!job || job.worker !== worker || data.id !== job.id) return;
    if (data.type === "crashed") {
      this.#fail(worker, new BundlerError(`The bundler crashed: ${data.message}.`, {
        code: "bundler-crashed",
        hint: "It has been restarted. If this folder makes it crash again, please report it.",
      }));
      return;
    }
    if (data.type === "error") {
      this.job = null;
      job.reject(new BundlerError(data.error.message, data.error));
      return;
    }
    const outcome = job.handle(data);
    if (outcome) {
      this.job = null;
      job.resolve(outcome.done);
    }
  }

  #fail(worker, error) {
    if (worker === this.worker) this.#replaceWorker();
    const job = this.job;
    if (job && job.worker === worker) {
      this.job = null;
      job.reject(error);
    }
  }

  #replaceWorker() {
    this.worker?.terminate();
    this.worker = null;
    this.restarts += 1;
  }
}
