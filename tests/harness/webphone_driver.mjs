// Drives the edge's web phone in headless Chromium (Debian's package, through
// playwright-core), one JSON command per line on stdin, one JSON reply per
// line on stdout. Each "phone" is its own browser context (its own device).
// The browser uses fake audio devices. Tests run it inside a network
// namespace of their own (tests/harness/netns.py), so its media crosses only
// the test's veth link, never the machine's interfaces.
import { createRequire } from "module";
import { serve } from "./driver_loop.mjs";

const require = createRequire(new URL("../../webphone/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required", "--ignore-certificate-errors",
  ],
});
const phones = new Map();

async function open({ phone, url }) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  if (process.env.JSSIP_DEBUG) {
    await context.addInitScript(() => localStorage.setItem("debug", "JsSIP:*"));
  }
  await context.grantPermissions(["microphone"]);
  const page = await context.newPage();
  const console = [];
  page.on("console", (m) => console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => console.push(`pageerror: ${e.message}`));
  await page.goto(url);
  phones.set(phone, { context, page, console });
  return {};
}

const page = (phone) => {
  const p = phones.get(phone);
  if (!p) throw new Error(`no phone ${phone}`);
  return p.page;
};

async function state({ phone }) {
  return page(phone).evaluate(() => ({
    registration: document.body.dataset.registration,
    call: document.body.dataset.call,
    error: document.getElementById("error").textContent,
    peer: document.getElementById("peer").textContent,
  }));
}

const commands = {
  open,
  async register({ phone, user, password, domain }) {
    const p = page(phone);
    if (domain) await p.fill("#domain", domain);
    await p.fill("#user", user);
    await p.fill("#password", password);
    await p.click("#register");
    return {};
  },
  async call({ phone, number }) {
    const p = page(phone);
    await p.fill("#number", number);
    await p.click("#call");
    return {};
  },
  async answer({ phone }) { await page(phone).click("#answer"); return {}; },
  async hangup({ phone }) { await page(phone).click("#hangup"); return {}; },
  async unregister({ phone }) { await page(phone).click("#unregister"); return {}; },
  state,
  async wait({ phone, attr, value, timeout }) {
    try {
      await page(phone).waitForFunction(
        ([a, v]) => document.body.dataset[a] === v, [attr, value], { timeout: timeout || 15000 });
    } catch (err) {
      // say where the phone is instead, and what its page last logged
      const now = await state({ phone }).catch(() => ({}));
      const tail = phones.get(phone).console.slice(-(+process.env.CONSOLE_TAIL || 15)).join(" | ");
      throw new Error(`${attr} never became ${value} (now ${JSON.stringify(now)}); ` +
                      `console: ${tail}; ${err.message}`);
    }
    return state({ phone });
  },
  async console({ phone }) { return phones.get(phone).console.slice(-50); },
  async stats({ phone }) { return page(phone).evaluate(() => window.webphone.stats()); },
  // the phone stops renewing its registration (and keeps its connection)
  async hold_refresh({ phone }) {
    await page(phone).evaluate(() => window.webphone.holdRefresh());
    return {};
  },
  async close({ phone }) {
    const p = phones.get(phone);
    if (p) { await p.context.close(); phones.delete(phone); }
    return {};
  },
};

await serve(commands, browser);
