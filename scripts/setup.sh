#!/usr/bin/env bash
# Installs what the build, tests and benchmarks need, and only what is missing:
# safe to run again and again (make calls it before every test run).
#
#   scripts/setup.sh [GROUP...]     default group: dev
#
# Groups:
#   dev     Rust wasm target, rustfmt, clippy, ruff    (make build / lint / test)
#   server  uv, bubblewrap, slirp4netns, e2fsprogs: q8s-server prepares app environments
#           with uv and sandboxes instances with bwrap, each in a network namespace that
#           slirp4netns connects to the internet, with volumes as ext4 images (mkfs.ext4,
#           e2fsck); its tests run them for real. postgresql: the store tests and API tests
#           on PostgreSQL run a throw-away cluster (initdb, postgres)
#   web     the wasm-bindgen CLI pinned to Cargo.lock, Debian's chromium, and the
#           node packages of package.json (wasm-opt from binaryen, TypeScript,
#           playwright-core — no browser download —, the benchmark baselines):
#           make build-web, the JS tests and the headless-Chromium tests
#   python  the virtualenv PY_VENV (default ~/.cache/q8s-venv) with maturin,
#           pytest, mypy, nbclient, ipykernel, tqdm (tests/python/requirements.txt)
#   bench   zip, GNU time, wrk, hyperfine, haproxy, moto's and s3s-fs's S3 servers (make bench)
#
# A new surface adds a group here (e.g. `web`: chromium, wasm-bindgen-cli) and
# names it in the Makefile's SETUP_GROUPS. Each check runs in milliseconds when
# everything is present, so `make test` pays nothing on a warm machine.
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }

# Runs a command as root: directly when we are root (CI, these machines),
# through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    log "need root to run: $*"
    return 1
  fi
}

# need_rust_target TRIPLE: `rustup target add` unless already installed.
need_rust_target() {
  if ! rustup target list --installed | grep -qx "$1"; then
    log "adding Rust target $1"
    rustup target add "$1"
  fi
}

# need_rust_component NAME: `rustup component add` unless already installed.
need_rust_component() {
  if ! rustup component list --installed | grep -q "^$1"; then
    log "adding Rust component $1"
    rustup component add "$1"
  fi
}

APT_UPDATED=0
# apt_install PACKAGE...: `apt-get install`, after one `apt-get update` per run
# (a fresh machine has no package lists).
apt_install() {
  log "installing $* (apt)"
  if [ "$APT_UPDATED" -eq 0 ]; then
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# need_apt COMMAND [PACKAGE]: installs the Debian package (default: COMMAND)
# when COMMAND is not on PATH.
need_apt() {
  local cmd=$1 pkg=${2:-$1}
  command -v "$cmd" >/dev/null 2>&1 && return 0
  apt_install "$pkg"
  command -v "$cmd" >/dev/null 2>&1 || { log "$pkg installed, but $cmd is still not on PATH"; return 1; }
}

# need_apt_file PATH PACKAGE: installs the Debian package when PATH does not
# exist (for tools whose command name is taken, like GNU time's /usr/bin/time).
need_apt_file() {
  [ -e "$1" ] || apt_install "$2"
}

# need_pip COMMAND [PACKAGE[==VERSION]]: installs the PyPI package (default:
# COMMAND) with the machine's python3 when COMMAND is not on PATH, or when a
# pinned VERSION is not what `COMMAND --version` reports (a lint tool's rules
# change between versions; CI must run the one the code was checked with).
need_pip() {
  local cmd=$1 pkg=${2:-$1}
  local version=${pkg#*==}
  [ "$version" = "$pkg" ] && version=
  if command -v "$cmd" >/dev/null 2>&1; then
    [ -z "$version" ] && return 0
    "$cmd" --version 2>/dev/null | grep -qF "$version" && return 0
  fi
  log "installing $pkg (pip) for $cmd"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$pkg"
  # pyenv puts new console scripts on PATH only after a rehash.
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
  hash -r
  command -v "$cmd" >/dev/null 2>&1 || { log "$pkg installed, but $cmd is still not on PATH"; return 1; }
}

# need_build_room: keeps cargo's target dir (shared by every checkout and CI run, see the
# Makefile) from filling its disk. Each checkout path gets its own copies of the workspace's
# artifacts and incremental caches, so the dir grows with every clone; a full disk shows up
# as a linker killed by SIGBUS. Below Q8S_MIN_FREE_GIB free (default 15), or above
# Q8S_MAX_TARGET_GIB (default 40), it drops the incremental caches, then the test profile's
# artifacts (a few minutes to rebuild); it stops with a clear message if that is not enough.
need_build_room() {
  local target=${CARGO_TARGET_DIR:-$HOME/.cache/q8s-target}
  local min_free=${Q8S_MIN_FREE_GIB:-15} max_size=${Q8S_MAX_TARGET_GIB:-40}
  [ -d "$target" ] || return 0
  free_gib() { df -P -BG "$target" | awk 'NR == 2 { sub("G", "", $4); print $4 }'; }
  size_gib() { du -s -BG "$target" 2>/dev/null | awk '{ sub("G", "", $1); print $1 }'; }
  local step
  for step in incremental debug; do
    local free size
    free=$(free_gib) size=$(size_gib)
    [ "$free" -ge "$min_free" ] && [ "$size" -le "$max_size" ] && return 0
    log "$target: ${size} GiB, ${free} GiB free on its disk; removing its $step artifacts"
    case $step in
      incremental) find "$target" -mindepth 2 -maxdepth 2 -name incremental -type d -exec rm -rf {} + ;;
      debug) rm -rf "$target/debug" "$target/wasm32-unknown-unknown/debug" ;;
    esac
  done
  free=$(free_gib)
  if [ "$free" -lt 5 ]; then
    log "only ${free} GiB free on the disk of $target; a build needs about 10 GiB"
    return 1
  fi
}

setup_dev() {
  need_build_room
  need_rust_target wasm32-unknown-unknown
  need_rust_component rustfmt
  need_rust_component clippy
  need_pip ruff ruff==0.17.6
}

# need_tun_for_all: /dev/net/tun usable by every user, as udev's default rule makes it (0666).
# slirp4netns opens it as the sandbox user to give each instance's network namespace its route
# out; the device alone grants nothing (creating an interface needs CAP_NET_ADMIN in a network
# namespace one owns). Some images ship it 0600.
need_tun_for_all() {
  local tun=/dev/net/tun
  [ -c "$tun" ] || return 0
  [ "$(stat -c %a "$tun")" = 666 ] && return 0
  log "making $tun usable by the sandbox user (mode 0666, udev's default)"
  as_root chmod 0666 "$tun"
}

# need_moto: moto's S3 server (`moto_server`), which the tests of the S3 blob store start on a
# loopback port, in the virtualenv Q8S_MOTO_VENV (default ~/.cache/q8s-moto; test support looks
# there too); reinstalled when the pinned packages below change.
MOTO_PACKAGES="moto[s3]==5.2.6 flask==3.1.3 flask-cors==6.0.5"
need_moto() {
  local venv=${Q8S_MOTO_VENV:-$HOME/.cache/q8s-moto}
  # Debian's python3 makes virtualenvs only with python3-venv (ensurepip).
  python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
  [ -x "$venv/bin/python" ] || { log "creating $venv"; python3 -m venv "$venv"; }
  if [ ! -x "$venv/bin/moto_server" ] || [ "$(cat "$venv/.packages" 2>/dev/null)" != "$MOTO_PACKAGES" ]; then
    log "installing $MOTO_PACKAGES in $venv (pip)"
    # shellcheck disable=SC2086 # one argument per package
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $MOTO_PACKAGES
    printf '%s' "$MOTO_PACKAGES" >"$venv/.packages"
  fi
}

# need_s3s_fs: s3s-fs (crates.io, Rust), the import benchmark's second S3 server: one that is
# not a CPU-bound Python process like moto. `cargo install --locked` into Q8S_S3S_ROOT (default
# ~/.cache/q8s-s3s; bench/import.sh looks there), built in a target dir of its own (a few
# minutes, once); reinstalled when the pin changes. 0.14 is the newest that builds with the
# toolchain here (0.15 and later ask for Rust 1.96).
S3S_FS_VERSION=0.14.0
need_s3s_fs() {
  local root=${Q8S_S3S_ROOT:-$HOME/.cache/q8s-s3s}
  if [ ! -x "$root/bin/s3s-fs" ] || [ "$(cat "$root/.version" 2>/dev/null)" != "$S3S_FS_VERSION" ]; then
    log "installing s3s-fs $S3S_FS_VERSION in $root (cargo install, a few minutes)"
    env -u CARGO_TARGET_DIR cargo install --quiet --locked --force s3s-fs \
      --version "=$S3S_FS_VERSION" --features binary --root "$root"
    printf '%s' "$S3S_FS_VERSION" >"$root/.version"
  fi
}

# need_kubernetes_validate: `kubernetes-validate`, which checks the Kubernetes runtime's golden
# objects (tests/vectors/kubernetes/) against the official schemas offline, in the virtualenv
# Q8S_KUBE_VALIDATE_VENV (default ~/.cache/q8s-kubernetes-validate); reinstalled when the pin
# changes. The Kubernetes minor it validates against is the Makefile's KUBERNETES_MINOR.
KUBERNETES_VALIDATE_PACKAGES="kubernetes-validate==1.37.0"
need_kubernetes_validate() {
  local venv=${Q8S_KUBE_VALIDATE_VENV:-$HOME/.cache/q8s-kubernetes-validate}
  python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
  [ -x "$venv/bin/python" ] || { log "creating $venv"; python3 -m venv "$venv"; }
  if [ ! -x "$venv/bin/kubernetes-validate" ] ||
     [ "$(cat "$venv/.packages" 2>/dev/null)" != "$KUBERNETES_VALIDATE_PACKAGES" ]; then
    log "installing $KUBERNETES_VALIDATE_PACKAGES in $venv (pip)"
    # shellcheck disable=SC2086 # one argument per package
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $KUBERNETES_VALIDATE_PACKAGES
    printf '%s' "$KUBERNETES_VALIDATE_PACKAGES" >"$venv/.packages"
  fi
}

setup_server() {
  need_pip uv
  need_apt bwrap bubblewrap
  need_apt slirp4netns
  need_tun_for_all
  # In /sbin, which a user's PATH may lack: looked for by path.
  need_apt_file /sbin/mkfs.ext4 e2fsprogs
  # Native needs of real apps, which tests/apps/ exercise in the sandbox: a JVM (apps built
  # on h2o-3) and fontconfig (matplotlib, Pillow).
  need_apt java default-jre-headless
  need_apt fc-list fontconfig
}

# setup_scale: what the tests of the scale-out parts run against (PostgreSQL, moto's S3, the
# Kubernetes schema validator). `make test` installs it; `make run` does not need it (SQLite, a
# folder and local sandboxes are its defaults).
setup_scale() {
  need_postgres
  need_moto
  need_kubernetes_validate
}

# need_postgres: Debian's PostgreSQL server programs, for the throw-away cluster of the tests
# (testing/src/postgres.rs). Debian keeps initdb and postgres off PATH, in
# /usr/lib/postgresql/<version>/bin; the package also creates the user `postgres` the cluster
# runs as when the tests run as root.
need_postgres() {
  compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null && id postgres >/dev/null 2>&1 && return 0
  apt_install postgresql
}

# need_npm_dir DIR: `npm ci` in DIR (pinned by its package-lock.json) when its
# node_modules is missing or older than the lock file.
need_npm_dir() {
  local dir=$1
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    need_apt npm
    log "installing node packages in $dir (npm ci)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$dir/node_modules"
  fi
}

# need_wasm_bindgen: the wasm-bindgen CLI of exactly the version in Cargo.lock
# (the CLI refuses modules from another version). `cargo install` without
# --locked: the registry mirror lags one of its dependencies (toolchain.md).
need_wasm_bindgen() {
  local want
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
  [ -n "$want" ] || { log "no wasm-bindgen in Cargo.lock"; return 1; }
  if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $want" ]; then
    log "installing wasm-bindgen-cli $want (cargo install, a few minutes)"
    cargo install --quiet wasm-bindgen-cli --version "=$want"
  fi
}

setup_web() {
  need_rust_target wasm32-unknown-unknown
  need_wasm_bindgen
  need_apt chromium
  need_npm_dir .
}

# The virtualenv PY_VENV (default ~/.cache/q8s-venv) with the pinned tools of
# tests/python/requirements.txt; reinstalled when that file changes.
setup_python() {
  local venv=${PY_VENV:-$HOME/.cache/q8s-venv}
  local req; req="$(cd "$(dirname "$0")/.." && pwd)/tests/python/requirements.txt"
  [ -x "$venv/bin/python" ] || { log "creating $venv"; python3 -m venv "$venv"; }
  if ! cmp -s "$req" "$venv/.requirements"; then
    log "installing $req (pip)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    cp "$req" "$venv/.requirements"
  fi
}

setup_bench() {
  need_moto
  need_s3s_fs
  need_postgres
  need_apt sqlite3
  need_apt zip
  need_apt_file /usr/bin/time time
  need_apt wrk
  need_apt hyperfine
  need_apt haproxy
}

main() {
  command -v rustup >/dev/null 2>&1 || { log "rustup is required (https://rustup.rs)"; exit 1; }
  command -v python3 >/dev/null 2>&1 || need_apt python3
  [ $# -gt 0 ] || set -- dev
  local group
  for group in "$@"; do
    if ! declare -F "setup_$group" >/dev/null; then
      log "unknown group '$group'"
      exit 2
    fi
    "setup_$group"
  done
}

main "$@"
