// The wasm module against the shared vectors (tests/vectors): every app folder gives the
// files, modes, diagnostics and sha256 the Rust side pins (and, when Q8S_CLI names the
// binary, exactly what `q8s-cli bundle` writes); every manifest gives the same diagnostics.
// Run by `make test` (node --test) after `make build-web`.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import init, { BundleBuilder, inspectBundle, validateManifest, validateManifestBytes } from "../pkg/q8s_wasm.js";
import { addFolder } from "./walk.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const vectors = join(here, "..", "..", "tests", "vectors");
await init({ module_or_path: readFileSync(join(here, "..", "pkg", "q8s_wasm_bg.wasm")) });

const cli = process.env.Q8S_CLI;
const apps = readdirSync(join(vectors, "apps")).filter((n) => n.endsWith(".json")).map((n) => n.slice(0, -5));
assert.ok(apps.length >= 10, `expected the app vectors, found ${apps.length}`);

for (const name of apps) {
  test(`app vector ${name}`, async () => {
    const folder = join(vectors, "apps", name);
    const expected = JSON.parse(readFileSync(`${folder}.json`, "utf8"));
    for (const excluded of expected.excluded) {
      assert.ok(existsSync(join(folder, excluded)), `${excluded} must exist for the test to mean anything`);
    }
    const builder = addFolder(new BundleBuilder(), folder);
    const report = builder.check();
    assert.equal(report.valid, expected.valid);
    assert.deepEqual(report.files.map((f) => f.path), expected.files);
    assert.deepEqual(report.files.filter((f) => f.executable).map((f) => f.path), expected.executable);
    assert.deepEqual(report.diagnostics.map((d) => d.code).sort(), [...expected.diagnostics_codes].sort());
    if ("diagnostics" in expected) assert.deepEqual(report.diagnostics, expected.diagnostics, "every diagnostic, pinned");
    for (const excluded of expected.excluded) {
      assert.ok(!report.files.some((f) => f.path === excluded), `${excluded} is left out`);
    }
    if (!expected.valid) {
      assert.throws(() => builder.finish(), (e) => {
        assert.equal(e.code, "invalid-bundle");
        assert.deepEqual(e.diagnostics, report.diagnostics);
        return true;
      });
      return;
    }
    const out = builder.finish();
    assert.equal(out.sha256, expected.sha256, "the sha256 pinned by the Rust tests");
    assert.equal(out.size, out.bytes.length);
    assert.deepEqual(out.files, expected.files);
    if (cli) {
      const cwd = mkdtempSync(join(tmpdir(), "q8s-wasm-"));
      try {
        const json = JSON.parse(execFileSync(cli, ["bundle", folder, "-o", "json"], { cwd, encoding: "utf8" }));
        assert.equal(out.sha256, json.sha256, "the CLI's sha256");
        assert.deepEqual(out.bytes, new Uint8Array(readFileSync(join(cwd, json.path))), "the CLI's bytes");
      } finally {
        rmSync(cwd, { recursive: true, force: true });
      }
    }
    // finishBlobAsync, reading ahead: Python files as Blobs (read with Blob.arrayBuffer()),
    // the rest as bytes, since the manifest and images are read synchronously to check them.
    const real = new BundleBuilder();
    addFolder(
      {
        add: (path, data, options) => real.add(path, path.endsWith(".py") ? new Blob([data]) : data, options),
        addLink: (...args) => real.addLink(...args),
      },
      folder,
    );
    const asyncOut = await real.finishBlobAsync();
    assert.equal(asyncOut.sha256, out.sha256);
    assert.deepEqual(new Uint8Array(await asyncOut.blob.arrayBuffer()), out.bytes);
    real.free();
    // Read back by the strict reader: same files, same modes.
    const inspected = inspectBundle(out.bytes);
    assert.equal(inspected.valid, true);
    assert.equal(inspected.sha256, out.sha256);
    assert.deepEqual(inspected.entries.map((e) => e.name), expected.files);
    assert.deepEqual(inspected.entries.filter((e) => e.executable).map((e) => e.name), expected.executable);
  });
}

const manifests = readdirSync(join(vectors, "manifests")).filter((n) => n.endsWith(".toml"));
assert.ok(manifests.length >= 100, `expected the manifest vectors, found ${manifests.length}`);

test(`${manifests.length} manifest vectors give the same diagnostics`, () => {
  for (const file of manifests) {
    const bytes = readFileSync(join(vectors, "manifests", file));
    const expected = JSON.parse(readFileSync(join(vectors, "manifests", file.replace(/\.toml$/, ".json")), "utf8"));
    const report = validateManifestBytes(bytes);
    const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    let decoded = null;
    try {
      decoded = text.decode(bytes);
    } catch {
      // Not UTF-8: only the bytes form can say so.
    }
    if (decoded !== null) assert.deepEqual(validateManifest(decoded), report, `${file} as text`);
    assert.equal(report.valid, expected.valid, file);
    assert.deepEqual(report.diagnostics, expected.diagnostics, file);
    if ("manifest" in expected) assert.deepEqual(report.manifest, expected.manifest, file);
  }
});
