// Plays the user's part of `q8s-cli config setup` in headless Chromium: opens the sign-in URL
// the CLI gives its browser, signs in on q8s's login page, allows the request on the consent
// page, and checks that the CLI's loopback listener answers "Signed in".
//
// Usage (as $BROWSER of q8s-cli): node sign_in.mjs URL
// Environment: Q8S_TEST_USERNAME, Q8S_TEST_PASSWORD, Q8S_TEST_PROFILE_DIR (fresh folder),
//              CHROMIUM (default /usr/bin/chromium).
import { chromium } from "playwright-core";

import { args, executablePath } from "../../../tests/chromium.mjs";

const url = process.argv[2];
const { Q8S_TEST_USERNAME: username, Q8S_TEST_PASSWORD: password } = process.env;
const profile = process.env.Q8S_TEST_PROFILE_DIR;
if (!url || !username || !password || !profile) {
  console.error("usage: Q8S_TEST_USERNAME=… Q8S_TEST_PASSWORD=… Q8S_TEST_PROFILE_DIR=… node sign_in.mjs URL");
  process.exit(2);
}

const context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args });
try {
  const page = await context.newPage();
  await page.goto(url);
  // Not signed in yet: q8s sends the browser to its login page first.
  await page.waitForURL(/\/login\?/);
  await page.fill("#username", username);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL(/\/oauth\/authorize\?/), page.click("button[type=submit]")]);
  // The consent page names the CLI's loopback address; allow it.
  await Promise.all([page.waitForURL(/^http:\/\/127\.0\.0\.1:\d+\/callback\?/), page.click("button[value=allow]")]);
  const heading = await page.textContent("h1");
  console.log(`browser: ${heading}`);
  if (heading !== "Signed in") {
    throw new Error(`the CLI answered "${heading}"`);
  }
} finally {
  await context.close();
}
