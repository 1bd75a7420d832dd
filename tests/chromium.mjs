// How headless Chromium runs on these machines (Debian's chromium driven by playwright-core;
// see toolchain.md): shared by the page's e2e test, the CLI's browser sign-in test and the
// browser benchmark.

/** The browser: $CHROMIUM, or Debian's. */
export const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

/** Flags for a quiet, sandbox-less headless run that fetches nothing by itself. */
export const args = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
