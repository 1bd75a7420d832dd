# q8s: the entry point for people and CI alike (`.ci/run` is `make test`).
# `make help` lists the targets. Every target installs what it needs first
# (scripts/setup.sh), so a fresh machine needs nothing but this repository.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# One build cache outside the work tree, shared by every checkout and CI run,
# so repeated runs are incremental.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/q8s-target

CARGO       ?= cargo
WASM_TARGET := wasm32-unknown-unknown
Q8S_CLI     := $(CARGO_TARGET_DIR)/release/q8s-cli
Q8S_SERVER  := $(CARGO_TARGET_DIR)/release/q8s-server
# `make run` keeps the service's data here (database, bundles, instances);
# delete it to start afresh.
RUN_DATA    ?= q8s-data

# Groups of scripts/setup.sh that `make setup` installs; a new surface adds
# its own group (e.g. web: chromium, wasm-bindgen-cli).
SETUP_GROUPS := dev server web python

# Python sources checked by ruff (settings in ruff.toml).
PY_SOURCES := examples scripts bench bindings-python tests/python testing

# The virtualenv with the Python package (built by maturin) and its test tools.
export PY_VENV ?= $(HOME)/.cache/q8s-venv

# Benchmarks, run in this order by `make bench`; their generated inputs are
# cached in BENCH_DIR.
BENCHES := bench/bundle.sh bench/python.sh bench/web.sh bench/import.sh bench/lists.sh bench/service.sh \
           bench/wake.sh bench/replicas.sh bench/cli.sh bench/density.sh
# Not under $HOME: the import and service benchmarks run q8s-server, whose sandbox user must
# pass through every folder above its data directory (root's home is 0700).
export BENCH_DIR ?= /var/tmp/q8s-bench-$(shell id -u)

# cargo-nextest runs the tests in parallel processes when it is installed;
# it does not run doctests, so those run separately, first, so that the last
# summary printed is the one covering every other test.
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: help setup setup-scale build build-native build-web test test-rust test-scale test-kubernetes \
        test-python test-web \
        lint fmt run bench fuzz fuzz-api clean

help: ## Show this help
	@echo "usage: make TARGET"
	@echo
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "} {printf "  %-10s %s\n", $$1, $$2}'
	@echo
	@echo "Cargo builds go to CARGO_TARGET_DIR=$(CARGO_TARGET_DIR)"

setup: ## Install missing tools (wasm target, rustfmt, clippy, ruff, uv, bubblewrap, e2fsprogs)
	@scripts/setup.sh $(SETUP_GROUPS)

build: setup build-native build-web ## Build every artifact in release mode

build-native:
	$(CARGO) build --release --workspace

# The wasm package (bindings-wasm/pkg) and the upload page q8s-server serves (web-demo/dist).
build-web: setup
	@scripts/build-web.sh

test: setup setup-scale lint test-rust test-scale test-kubernetes test-python test-web ## Check formatting and lints, run every test

# What the scale-out stores' tests run against (PostgreSQL, moto's S3); not needed by `make run`.
setup-scale:
	@scripts/setup.sh scale

test-rust:
ifeq ($(NEXTEST),yes)
	$(CARGO) test --workspace --doc
	$(CARGO) nextest run --workspace
else
	$(CARGO) test --workspace
endif

# The server's API tests that run on the fake runtime and are not about SQLite or the folder,
# a second time with each test server on a fresh PostgreSQL database and a bucket of its own
# on moto (Q8S_TEST_BACKEND=postgres+s3, server/tests/common/backend.rs). The `_on_postgres`
# twins of the first pass are left out: here every test is on PostgreSQL.
SCALE_TESTS := api_accounts api_apps api_errors api_imports api_instances api_lifecycle \
               api_lists api_tokens auth_flows web_origin web_page

test-scale: setup-scale ## Run the server's API tests on PostgreSQL + S3 (moto)
ifeq ($(NEXTEST),yes)
	Q8S_TEST_BACKEND=postgres+s3 $(CARGO) nextest run -p q8s-server \
	  $(addprefix --test ,$(SCALE_TESTS)) -E 'not test(/_on_postgres$$/)'
else
	Q8S_TEST_BACKEND=postgres+s3 $(CARGO) test -p q8s-server $(addprefix --test ,$(SCALE_TESTS))
endif

# The Kubernetes minor the runtime's objects are made for: k8s-openapi's `v1_*` feature (the
# dev-dependency of runtime-kubernetes, .cargo/config.toml) and the schemas the golden objects
# and deploy/kubernetes/ are validated against; runtime-kubernetes/tests/golden.rs checks that
# they agree.
KUBERNETES_MINOR := 1.33
KUBERNETES_VALIDATE := $(or $(Q8S_KUBE_VALIDATE_VENV),$(HOME)/.cache/q8s-kubernetes-validate)/bin/kubernetes-validate

KUBERNETES_YAML := tests/vectors/kubernetes/manifests/*.yaml deploy/kubernetes/*.yaml

test-kubernetes: setup-scale ## Validate the Kubernetes objects (golden, deploy/) against the official schemas
	$(KUBERNETES_VALIDATE) --strict --quiet -k $(KUBERNETES_MINOR) $(KUBERNETES_YAML)
	@echo "kubernetes-validate: $$(ls $(KUBERNETES_YAML) | wc -l) files valid for Kubernetes $(KUBERNETES_MINOR)"

# The Python package built into PY_VENV, its tests against a real q8s-server
# (and the example notebook), stubs checked by mypy --strict.
test-python:
	$(CARGO) build -p q8s-server -p q8s-cli
	VIRTUAL_ENV=$(PY_VENV) $(PY_VENV)/bin/maturin develop --quiet
	Q8S_SERVER=$(CARGO_TARGET_DIR)/debug/q8s-server Q8S_CLI=$(CARGO_TARGET_DIR)/debug/q8s-cli \
	  $(PY_VENV)/bin/python -m pytest -q tests/python

# The wasm module: its wasm-bindgen-test unit tests in Node, the shared vectors through the
# built package (same bytes as the CLI), its .d.ts under tsc --strict, and the upload page
# end to end in headless Chromium against a real q8s-server.
test-web: build-web
	$(CARGO) build -p q8s-server -p q8s-cli
	CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
	  $(CARGO) test --target $(WASM_TARGET) -p q8s-wasm --test unit
	Q8S_CLI=$(CARGO_TARGET_DIR)/debug/q8s-cli node --test bindings-wasm/tests/
	node_modules/.bin/tsc --strict --noEmit --target es2022 --module es2022 \
	  --moduleResolution bundler --lib esnext,dom,dom.iterable bindings-wasm/tests/types.test.ts
	Q8S_SERVER=$(CARGO_TARGET_DIR)/debug/q8s-server Q8S_CLI=$(CARGO_TARGET_DIR)/debug/q8s-cli \
	  node tests/web/e2e.mjs

lint: setup ## rustfmt --check, clippy -D warnings (host and wasm), ruff
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p q8s-core -p q8s-client --target $(WASM_TARGET) -- -D warnings
	$(CARGO) clippy -p q8s-wasm --target $(WASM_TARGET) --all-targets -- -D warnings
	ruff check $(PY_SOURCES)
	ruff format --check $(PY_SOURCES)

fmt: setup ## Format Rust and Python sources in place
	$(CARGO) fmt --all
	ruff format $(PY_SOURCES)

run: setup build-web ## Build and start q8s (http://localhost:8008) with its embedded defaults
	$(CARGO) build --release -p q8s-server -p q8s-cli
	@echo "q8s-cli is at $(Q8S_CLI); data in $(RUN_DATA)/ (Ctrl-C stops the service)"
	@if [ -f $(RUN_DATA)/admin-token ]; then \
	  echo "Sign in at http://localhost:8008/login as admin, password in $(RUN_DATA)/admin-password"; \
	  echo "Admin API token: $$(cat $(RUN_DATA)/admin-token)"; \
	fi
	$(Q8S_SERVER) --data-dir $(RUN_DATA) --web-dir web-demo/dist

bench: setup build-web ## Run the benchmarks (bench/README.md explains the numbers)
	@scripts/setup.sh bench
	$(CARGO) build --release -p q8s-cli -p q8s-server
	VIRTUAL_ENV=$(PY_VENV) $(PY_VENV)/bin/maturin develop --release --quiet
	@for b in $(BENCHES); do \
	  echo "== $$b"; \
	  Q8S_CLI=$(Q8S_CLI) Q8S_SERVER=$(Q8S_SERVER) PYTHON=$(PY_VENV)/bin/python bash $$b; \
	done

fuzz: ## Fuzz the archive reader and the manifest parser (scripts/fuzz.sh)
	@bash scripts/fuzz.sh

fuzz-api: setup ## Fuzz the HTTP API from its OpenAPI document (schemathesis)
	@bash scripts/fuzz-api.sh

clean: ## Remove build outputs (the cargo target dir and the bench inputs)
	$(CARGO) clean
	rm -rf $(BENCH_DIR)
