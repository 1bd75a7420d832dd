// Steps of the page's end-to-end test (e2e.mjs) for its views beside uploading and running:
// the capacity panel (admins only), the page signed out, and the Tokens view. Each takes the
// run's page, server and `step` (which names the step in a failure and checks the console).

import path from "node:path";
import { REPO, TARGET_DIR, byTestId, check, waitForApi, watchConsole } from "./harness.mjs";

const HELLO = path.join(REPO, "examples", "hello");
const OUTPUT = path.resolve(process.env.Q8S_TEST_OUTPUT || path.join(TARGET_DIR, "web-e2e"));
const MIB = 1024 * 1024;

/** With one hello instance RUNNING: the catalog view shows admins the server's capacity as the
 * API reports it, and a user who is not an admin neither sees the panel nor is refused a call. */
export async function capacityStep({ page, browser, server, step, shot }) {
  await step("catalog: admins see the server's capacity, as the API reports it; other users do not", async () => {
    await page.click(byTestId("tab-catalog"));
    await page.waitForSelector(`${byTestId("capacity")} ${byTestId("capacity-admitted")}`);
    const api = await server.api("GET", "/admin/capacity");
    check(api.status === 200, `GET /admin/capacity answered ${api.status}`);
    const report = api.body;
    check(report.admitted === 1 && report.reserved_bytes === 64 * MIB && report.instances.RUNNING === 1,
      `one hello instance runs, reserving 64 MiB, yet the API reports ${JSON.stringify(report)}`);
    const shown = await page.evaluate(() => {
      const at = (id) => document.querySelector(`[data-testid="${id}"]`);
      return {
        node: at("capacity-node").textContent,
        capacity: at("capacity-capacity").dataset.bytes,
        reserved: at("capacity-reserved").dataset.bytes,
        admitted: at("capacity-admitted").textContent,
        waiting: at("capacity-waiting").textContent,
        sleeping: at("capacity-sleeping").textContent,
        running: document.querySelector('[data-testid="capacity-status"][data-status="RUNNING"]')?.dataset.count,
        meter: document.querySelector("#capacity meter")?.value,
      };
    });
    const expected = {
      node: report.node,
      capacity: String(report.capacity_bytes),
      reserved: String(report.reserved_bytes),
      admitted: "1",
      waiting: String(report.waiting),
      sleeping: String(report.sleeping),
      running: "1",
      meter: report.reserved_bytes,
    };
    check(JSON.stringify(shown) === JSON.stringify(expected),
      `the panel shows ${JSON.stringify(shown)}, the API says ${JSON.stringify(expected)}`);
    await shot("07a-capacity");

    // Somebody who is not an admin: no panel, and no refused call in the console.
    const created = await server.api("POST", "/users", { username: "carol", admin: false });
    check(created.status === 201 && created.body.password, `creating a user answered ${created.status}`);
    const other = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const p = await other.newPage();
      const otherConsole = watchConsole(p, "carol's page");
      await p.goto(`${server.url}/login?next=/`);
      await p.fill("#username", "carol");
      await p.fill("#password", created.body.password);
      await Promise.all([p.waitForURL((url) => url.pathname === "/"), p.click("button[type=submit]")]);
      await p.waitForSelector("body[data-ready=true]");
      await p.click(byTestId("tab-catalog"));
      await p.waitForSelector("#catalog-body .empty"); // carol has no apps
      check(await p.isHidden(byTestId("capacity")), "the capacity panel shows to a user who is not an admin");
      otherConsole.assertClean("before asking for the capacity"); // the page did not ask
      otherConsole.expect(/status of 403 .*\/api\/v1\/admin\/capacity$/); // asked below, on purpose
      const refused = await p.evaluate(async () => (await fetch("/api/v1/admin/capacity")).status);
      check(refused === 403, `GET /admin/capacity answers ${refused} to a user who is not an admin`);
      otherConsole.assertClean("on carol's page");
    } finally {
      await other.close();
    }
  });
}

/** Signed out, the page still checks and bundles a folder, and offers to sign in. */
export async function signedOutStep({ browser, server, step, cliBundle }) {
  await step("signed out: the page still checks and bundles, and offers to sign in", async () => {
    const guest = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const p = await guest.newPage();
      const guestConsole = watchConsole(p, "signed-out page");
      // `/` sends a signed-out browser to /login; the page's file itself is public. Its /me
      // answers 401 (what the page asks to know), and Chromium logs that failed load.
      guestConsole.expect(/status of 401 .*\/api\/v1\/me$/);
      await p.goto(`${server.url}/index.html`);
      await p.waitForSelector("body[data-ready=true]");
      const href = await p.getAttribute(byTestId("sign-in"), "href");
      check(href === "/login?next=/", `the sign-in link goes to ${href}`);
      await p.setInputFiles(byTestId("folder-input"), HELLO);
      await p.waitForSelector(byTestId("bundle-sha256"));
      check((await p.textContent(byTestId("bundle-sha256"))).trim() === cliBundle.sha256, "another sha256 when signed out");
      check(await p.isDisabled(byTestId("upload-button")), "Upload is enabled while signed out");
      check((await p.textContent("#upload-note")).includes("Sign in"), "no sign-in prompt beside Upload");
      await p.click(byTestId("tab-catalog"));
      await p.waitForSelector(`${byTestId("catalog")} a[href="/login?next=/"]`);
      await p.screenshot({ path: path.join(OUTPUT, "12-signed-out.png"), fullPage: true });
      guestConsole.assertClean("on the signed-out page");
    } finally {
      await guest.close();
    }
  });
}

/** The Tokens view lists, creates (shown once) and revokes API tokens. */
export async function tokensStep({ page, server, step, shot }) {
  await step("The Tokens view lists, creates (shown once) and revokes API tokens", async () => {
    await page.emulateMedia({ colorScheme: "light" });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.click(byTestId("tab-tokens"));
    check(new URL(page.url()).hash === "#tokens", `the Tokens tab opened ${page.url()}`);
    await page.waitForSelector(byTestId("token-list"));
    const row = (name) => page.locator(byTestId("token"), { has: page.locator(`${byTestId("token-name")}:text-is("${name}")`) });
    // The admin's first token has been used by this test's API calls.
    const firstUse = await row("admin (first start)").locator(byTestId("token-last-used")).textContent();
    check(firstUse !== "never", "the admin's token shows no last use");

    await page.fill(byTestId("token-name-input"), "e2e script");
    await page.click(byTestId("token-create"));
    const secret = (await page.textContent(`${byTestId("token-created")} ${byTestId("token-value")}`)).trim();
    check(secret.startsWith("q8s_"), `the new token is shown as ${secret}`);
    await row("e2e script").waitFor();
    check(await row("e2e script").locator(byTestId("token-last-used")).textContent() === "never", "a new token shows a last use");
    check(!(await page.textContent(byTestId("token-list"))).includes(secret), "the list shows a secret");
    await shot("13-tokens");

    // The token works, and its use shows once the list is loaded again.
    const me = (token) => fetch(`${server.url}/api/v1/me`, { headers: { Authorization: `Bearer ${token}` } });
    check((await me(secret)).status === 200, "the new token does not sign in");
    await page.click(byTestId("tab-catalog"));
    await page.click(byTestId("tab-tokens"));
    await waitForApi(async () => (await row("e2e script").locator(byTestId("token-last-used")).textContent()) !== "never",
      "the token's use does not show");

    // Shown once: a reload lists the token without its secret.
    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    await row("e2e script").waitFor();
    check(!(await page.content()).includes(secret), "the secret is still in the page after a reload");

    // Revoking asks once, then signs the token out.
    const revoke = row("e2e script").locator(byTestId("token-revoke"));
    await revoke.click();
    check((await revoke.textContent()) === "Really revoke?", "Revoke did not ask first");
    await revoke.click();
    await row("e2e script").waitFor({ state: "detached" });
    const refused = await me(secret);
    const body = await refused.json();
    check(refused.status === 401 && body.error.message.includes("was refused"), `a revoked token answers ${refused.status} ${JSON.stringify(body)}`);
    await page.click(byTestId("tab-upload"));
  });
}
