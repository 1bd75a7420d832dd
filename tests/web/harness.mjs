// The parts of the browser tests that are not about the page: a real q8s-server on a free
// loopback port with a temporary data directory, headless Chromium (Debian's, driven by
// playwright-core), the CLI, and numbered steps that print what they check.

import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

import { args, executablePath } from "../chromium.mjs";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const TARGET_DIR = process.env.CARGO_TARGET_DIR || path.join(os.homedir(), ".cache", "q8s-target");

/** A workspace binary: `$<envVar>`, else the newer of the release and debug builds. */
export function binary(name, envVar) {
  if (process.env[envVar]) return process.env[envVar];
  const built = ["release", "debug"]
    .map((profile) => path.join(TARGET_DIR, profile, name))
    .filter((p) => fs.existsSync(p));
  if (built.length === 0) fail(`${name} is not built: run \`cargo build -p ${name}\` (or set ${envVar})`);
  return built.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
}

export class TestFailure extends Error {}

/** The selector of the element with `data-testid="${id}"`. */
export const byTestId = (id) => `[data-testid="${id}"]`;

/** Polls `predicate` every 200 ms until it holds, else fails with `message`. */
export async function waitForApi(predicate, message, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  fail(message);
}

export function fail(message) {
  throw new TestFailure(message);
}

export function check(condition, message) {
  if (!condition) fail(message);
}

export function sha256(bytes) {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Runs the CLI and parses its JSON output (`-o json`). */
export function cliJson(cli, args, { cwd, allowFailure = false } = {}) {
  try {
    return JSON.parse(execFileSync(cli, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }));
  } catch (err) {
    if (allowFailure && err.stdout) return JSON.parse(err.stdout);
    fail(`${path.basename(cli)} ${args.join(" ")} failed: ${err.stderr || err.message}`);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts q8s-server serving `webDir`; resolves when `/readyz` answers. */
export async function startServer({ exe, webDir, outputDir }) {
  const port = await freePort();
  const data = fs.mkdtempSync(path.join(os.tmpdir(), "q8s-web-e2e-"));
  const logPath = path.join(outputDir, "q8s-server.log");
  const log = fs.openSync(logPath, "w");
  const child = spawn(exe, ["--listen", `127.0.0.1:${port}`, "--data-dir", data, "--web-dir", webDir], {
    stdio: ["ignore", "ignore", log],
    env: { ...process.env, Q8S_LOG: process.env.Q8S_LOG || "info" },
  });
  fs.closeSync(log);
  // Whatever ends this process (playwright's own SIGINT handler exits at once), the server
  // goes with it; `stop()` is the orderly way.
  const killOnExit = () => {
    child.kill("SIGKILL");
    fs.rmSync(data, { recursive: true, force: true });
  };
  process.on("exit", killOnExit);
  const server = {
    port,
    data,
    logPath,
    child,
    // Instance hosts hand off to the main site by the server's own name for itself
    // (`localhost`), so the page is used there: the session cookie must be that host's.
    url: `http://localhost:${port}`,
    adminPassword: "",
    adminToken: "",
    async api(method, route, body) {
      const response = await fetch(`http://127.0.0.1:${port}/api/v1${route}`, {
        method,
        headers: { Authorization: `Bearer ${this.adminToken}`, ...(body ? { "Content-Type": "application/json" } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : null };
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const exited = await Promise.race([
          new Promise((resolve) => child.once("exit", () => resolve(true))),
          new Promise((resolve) => setTimeout(() => resolve(false), 15000)),
        ]);
        if (!exited) child.kill("SIGKILL");
      }
      process.off("exit", killOnExit);
      fs.rmSync(data, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 60000;
  for (;;) {
    if (child.exitCode !== null) fail(`q8s-server exited early:\n${fs.readFileSync(logPath, "utf8")}`);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.stop();
      fail(`q8s-server did not become ready:\n${fs.readFileSync(logPath, "utf8")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  server.adminPassword = fs.readFileSync(path.join(data, "admin-password"), "utf8").trim();
  server.adminToken = fs.readFileSync(path.join(data, "admin-token"), "utf8").trim();
  return server;
}

/** Headless Chromium with the flags that work here. (playwright gives each launch a fresh
 * temporary profile, `--user-data-dir`, and removes it on close.) */
export async function launchBrowser() {
  const browser = await chromium.launch({ executablePath, headless: true, args });
  return {
    browser,
    close: () => browser.close().catch(() => {}),
  };
}

/**
 * Collects the console errors and page errors of a page. A step may expect some (an HTTP
 * error the page shows on purpose is also logged by Chromium as a failed resource load):
 * `expect(pattern)` lets messages matching it pass until `done()`.
 */
export function watchConsole(page, label) {
  const problems = [];
  const expected = [];
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    const text = `${msg.text()} ${msg.location()?.url ?? ""}`.trim();
    if (expected.some((e) => e.pattern.test(text))) return;
    problems.push(`${label} console error: ${text}`);
  });
  page.on("pageerror", (err) => problems.push(`${label} page error: ${err.stack || err.message}`));
  return {
    problems,
    expect(pattern) {
      const entry = { pattern };
      expected.push(entry);
      return () => expected.splice(expected.indexOf(entry), 1);
    },
    assertClean(when) {
      if (problems.length) fail(`${problems.length} console/page error(s) ${when}:\n  ${problems.join("\n  ")}`);
    },
  };
}

let stepNumber = 0;

/** Runs one named check, printing it with its time; a failure names the step. */
export async function step(name, fn) {
  stepNumber += 1;
  const started = performance.now();
  process.stdout.write(`${String(stepNumber).padStart(2)}. ${name} … `);
  try {
    const result = await fn();
    console.log(`ok (${Math.round(performance.now() - started)} ms)`);
    return result;
  } catch (err) {
    console.log("FAILED");
    err.message = `step ${stepNumber} (${name}): ${err.message}`;
    throw err;
  }
}
