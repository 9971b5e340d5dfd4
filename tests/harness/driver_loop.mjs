// The line protocol both browser drivers speak to their Python side
// (tests/harness/browser.py): one JSON command per stdin line, one JSON reply
// per stdout line, {"ready": true} first; the browser closed at end of input.
import readline from "node:readline";

export async function serve(commands, browser) {
  const rl = readline.createInterface({ input: process.stdin });
  process.stdout.write(JSON.stringify({ ready: true }) + "\n");
  for await (const line of rl) {
    let reply;
    try {
      const msg = JSON.parse(line);
      reply = { ok: true, result: await commands[msg.cmd](msg) };
    } catch (err) {
      reply = { ok: false, error: String(err && err.message || err) };
    }
    process.stdout.write(JSON.stringify(reply) + "\n");
  }
  await browser.close();
}
