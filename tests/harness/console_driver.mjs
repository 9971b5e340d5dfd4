// Drives the administration console in headless Chromium (Debian's package,
// through playwright-core from webphone/node_modules), one JSON command per
// line on stdin, one JSON reply per line on stdout. Each "session" is its own
// browser context (its own signed-in user). The console is served over HTTPS
// with the edge's own certificate, which the context is told to accept.
import { createRequire } from "module";
import { serve } from "./driver_loop.mjs";

const require = createRequire(new URL("../../webphone/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const sessions = new Map();
const page = (s) => {
  const p = sessions.get(s);
  if (!p) throw new Error(`no session ${s}`);
  return p.page;
};

const commands = {
  async open({ session, url }) {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const p = await context.newPage();
    const log = [];
    p.on("console", (m) => log.push(`${m.type()}: ${m.text()}`));
    p.on("pageerror", (e) => log.push(`pageerror: ${e.message}`));
    await p.goto(url);
    sessions.set(session, { context, page: p, log });
    return {};
  },
  async fill({ session, selector, value }) { await page(session).fill(selector, value); return {}; },
  async click({ session, selector }) { await page(session).click(selector); return {}; },
  async select({ session, selector, value }) {
    await page(session).selectOption(selector, value);
    return {};
  },
  async text({ session, selector }) { return page(session).locator(selector).innerText(); },
  async options({ session, selector }) {
    return page(session).locator(`${selector} option`).evaluateAll((os) => os.map((o) => o.value));
  },
  // until the element's text contains `value`
  async wait_text({ session, selector, value, timeout }) {
    try {
      await page(session).waitForFunction(([sel, v]) => {
        const e = document.querySelector(sel);
        return e && e.textContent.includes(v);
      }, [selector, value], { timeout: timeout || 15000 });
    } catch (err) {
      const now = await page(session).locator("body").innerText().catch(() => "?");
      const log = sessions.get(session).log.slice(-10).join(" | ");
      throw new Error(`${selector} never showed ${JSON.stringify(value)}; page: ` +
                      `${now.slice(0, 1500)}; console: ${log}; ${err.message}`);
    }
    return page(session).locator(selector).innerText();
  },
  async body({ session }) { return page(session).content(); },
  async close({ session }) {
    const s = sessions.get(session);
    if (s) { await s.context.close(); sessions.delete(session); }
    return {};
  },
};

await serve(commands, browser);
