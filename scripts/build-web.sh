#!/usr/bin/env bash
# Builds the browser side: the wasm package (bindings-wasm/pkg, an ES module with its
# .d.ts, usable from browsers and Node) and the upload page (web-demo/dist, what
# q8s-server serves at /). Run by `make build-web`; scripts/setup.sh web installs the
# tools (the pinned wasm-bindgen CLI, wasm-opt from npm's binaryen).
#
#   scripts/build-web.sh            release build, wasm-opt -Oz
#   Q8S_WASM_OPT=0 scripts/...      skip wasm-opt (faster, larger)
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/q8s-target}
TARGET_DIR=$CARGO_TARGET_DIR
PKG=bindings-wasm/pkg
DIST=web-demo/dist
log() { printf 'build-web: %s\n' "$*" >&2; }

# One build at a time: two would share pkg.tmp and dist.tmp.
mkdir -p "$CARGO_TARGET_DIR"
exec 9>"$CARGO_TARGET_DIR/.build-web.lock"
flock 9

cargo build --quiet --profile wasm -p q8s-wasm --target wasm32-unknown-unknown
rm -rf "$PKG.tmp" && mkdir -p "$PKG.tmp"
wasm-bindgen --target web --out-dir "$PKG.tmp" --out-name q8s_wasm \
  "$TARGET_DIR/wasm32-unknown-unknown/wasm/q8s_wasm.wasm"

wasm=$PKG.tmp/q8s_wasm_bg.wasm
if [ "${Q8S_WASM_OPT:-1}" != 0 ]; then
  # The features rustc enables for wasm32-unknown-unknown; wasm-opt must know them.
  node_modules/.bin/wasm-opt -Oz \
    --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$wasm" -o "$wasm.opt"
  mv "$wasm.opt" "$wasm"
fi

cp bindings-wasm/js/http.js bindings-wasm/js/http.d.ts bindings-wasm/README.md "$PKG.tmp/"
version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
cat > "$PKG.tmp/package.json" <<JSON
{
  "name": "q8s-wasm",
  "version": "$version",
  "description": "q8s in JavaScript: q-app.toml validation, deterministic .qz bundles and the q8s API client (WebAssembly)",
  "license": "Apache-2.0",
  "type": "module",
  "main": "q8s_wasm.js",
  "types": "q8s_wasm.d.ts",
  "exports": {
    ".": { "types": "./q8s_wasm.d.ts", "default": "./q8s_wasm.js" },
    "./http.js": { "types": "./http.d.ts", "default": "./http.js" }
  },
  "files": ["q8s_wasm.js", "q8s_wasm.d.ts", "q8s_wasm_bg.wasm", "q8s_wasm_bg.wasm.d.ts", "http.js", "http.d.ts", "README.md"],
  "sideEffects": false
}
JSON
rm -rf "$PKG" && mv "$PKG.tmp" "$PKG"

# The page: its sources and the package, in one folder q8s-server serves.
rm -rf "$DIST.tmp" && mkdir -p "$DIST.tmp"
find web-demo -maxdepth 1 -type f \( -name '*.html' -o -name '*.js' -o -name '*.css' -o -name '*.svg' \) \
  -exec cp {} "$DIST.tmp/" \;
cp -r "$PKG" "$DIST.tmp/pkg"
# Compressed once here; q8s-server sends the .gz to browsers that accept gzip.
gzip -9 -k -n "$DIST.tmp/pkg/q8s_wasm_bg.wasm" "$DIST.tmp/pkg/q8s_wasm.js"
rm -rf "$DIST" && mv "$DIST.tmp" "$DIST"

raw=$(stat -c %s "$PKG/q8s_wasm_bg.wasm")
gz=$(stat -c %s "$DIST/pkg/q8s_wasm_bg.wasm.gz")
log "$PKG: q8s_wasm_bg.wasm $raw bytes, $gz bytes gzipped (-9)"
log "$DIST: the page, served by q8s-server at /"
