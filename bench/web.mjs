// Browser bundle benchmark (bench/web.sh runs it): the reference tree of bench/bundle.sh
// bundled in headless Chromium by q8s-wasm in a Worker, by fflate's zipSync (level 6) and by
// client-zip (store), on the same selected files, in the same browser build; each tool in
// a fresh browser so its renderer's peak memory is its own.
//
//   node bench/web.mjs TREE [RUNS]
import { createServer } from "node:http";
import { readFileSync, readdirSync } from "node:fs";
import { extname, join, resolve } from "node:path";
import { chromium } from "playwright-core";

import { args, executablePath } from "../tests/chromium.mjs";

const [tree, runsArg] = process.argv.slice(2);
if (!tree) throw new Error("usage: node bench/web.mjs TREE [RUNS]");
const RUNS = Number(runsArg ?? 3);
const root = resolve(new URL("..", import.meta.url).pathname);

// A static server for the bench page, the wasm package and the two baselines.
const files = {
  "/index.html": join(root, "bench/web/index.html"),
  "/worker.js": join(root, "bench/web/worker.js"),
  "/fflate.js": join(root, "node_modules/fflate/esm/browser.js"),
  "/client-zip.js": join(root, "node_modules/client-zip/index.js"),
};
for (const name of readdirSync(join(root, "bindings-wasm/pkg"))) files[`/pkg/${name}`] = join(root, "bindings-wasm/pkg", name);
const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
const http = createServer((req, res) => {
  const path = files[new URL(req.url, "http://x").pathname];
  if (!path) return res.writeHead(404).end();
  res.writeHead(200, { "Content-Type": types[extname(path)] ?? "application/octet-stream" }).end(readFileSync(path));
});
await new Promise((ok) => http.listen(0, "127.0.0.1", ok));
const url = `http://127.0.0.1:${http.address().port}/index.html`;

// Resident memory of a process and its children, in KiB: { rss, hwm } per pid.
const status = (pid) => {
  try {
    const text = readFileSync(`/proc/${pid}/status`, "utf8");
    const kib = (key) => Number(text.match(new RegExp(`^${key}:\\s+(\\d+)`, "m"))?.[1] ?? 0);
    return { rss: kib("VmRSS"), hwm: kib("VmHWM"), renderer: readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("--type=renderer") };
  } catch {
    return null;
  }
};
const descendants = (pid) => {
  const out = [];
  for (const p of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const ppid = Number(readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1].split(" ")[1]);
      if (ppid === pid) out.push(Number(p), ...descendants(Number(p)));
    } catch { /* gone */ }
  }
  return out;
};

const errors = [];
async function session(fn) {
  const server = await chromium.launchServer({ executablePath, args });
  const browser = await chromium.connect(server.wsEndpoint());
  try {
    const page = await browser.newPage();
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(url);
    await page.setInputFiles("#folder", tree);
    return await fn(page, server.process().pid);
  } finally {
    await browser.close();
    await server.close();
  }
}


// The files q8s selects: every tool gets exactly these.
const selected = await session((page) => page.evaluate(() => window.runTool("select").then((r) => r.selected)));
const results = {};
for (const tool of ["q8s", "fflate", "client-zip"]) {
  results[tool] = await session(async (page, pid) => {
    const all = () => [pid, ...descendants(pid)].map((p) => ({ pid: p, ...status(p) })).filter((s) => s.rss !== undefined);
    const before = new Map(all().map((r) => [r.pid, r.rss]));
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await page.evaluate(({ tool, only }) => window.runTool(tool, only), { tool, only: selected }));
    // Growth of each process to its peak: the renderer that ran the page and its Workers,
    // and all of Chromium's processes summed (Blob data lives in the browser process).
    const grown = all().map((r) => ({ ...r, delta: r.hwm - (before.get(r.pid) ?? 0) }));
    const peak = Math.max(...grown.filter((r) => r.renderer).map((r) => r.delta));
    const total = grown.reduce((n, r) => n + Math.max(0, r.delta), 0);
    runs.sort((a, b) => a.ms - b.ms);
    const median = runs[Math.floor(runs.length / 2)];
    return { ...median, peakKiB: peak, totalKiB: total, allMs: runs.map((r) => Math.round(r.ms)) };
  });
}
http.close();

const mib = (b) => (b / 1048576).toFixed(1);
const q = results.q8s;
console.log(`reference tree: ${q.files} files selected by q8s, ${mib(q.bytesIn)} MiB; ${RUNS} runs per tool, median`);
console.log(`${"tool".padEnd(24)} ${"median s".padStart(9)} ${"MB/s".padStart(7)} ${"output MiB".padStart(11)} ${"page MiB".padStart(9)} ${"all MiB".padStart(8)}  runs ms`);
for (const [tool, r] of Object.entries(results)) {
  const label = { q8s: "q8s-wasm (deflate 6)", fflate: "fflate zipSync (level 6)", "client-zip": "client-zip (store)" }[tool];
  console.log(`${label.padEnd(24)} ${(r.ms / 1000).toFixed(2).padStart(9)} ${(r.bytesIn / 1e6 / (r.ms / 1000)).toFixed(1).padStart(7)} ${mib(r.size).padStart(11)} ${(r.peakKiB / 1024).toFixed(0).padStart(9)} ${(r.totalKiB / 1024).toFixed(0).padStart(8)}  ${r.allMs.join(" ")}`);
}
const speed = results.fflate.ms / q.ms;
const sizeRatio = q.size / results.fflate.size;
const memory = (q.peakKiB * 1024) / q.size;
const memoryAll = (q.totalKiB * 1024) / q.size;
const verdict = (ok) => (ok ? "ok" : "MISSED");
console.log(`q8s-wasm throughput / fflate      ${speed.toFixed(2)}x   >= 1x      ${verdict(speed >= 1)}`);
console.log(`q8s-wasm output size / fflate     ${sizeRatio.toFixed(4)}x  <= 1x      ${verdict(sizeRatio <= 1)}`);
console.log(`q8s-wasm peak page memory / bundle ${memory.toFixed(2)}x   ~<= 2x     ${verdict(memory <= 2.2)}`);
console.log(`  (all Chromium processes / bundle  ${memoryAll.toFixed(2)}x)`);
console.log(`q8s-wasm sha256 ${q.sha256}`);
if (errors.length) {
  console.error(`console errors:\n${errors.join("\n")}`);
  process.exit(1);
}
