// Drives a headless Chromium for the console tests: one JSON command per
// line on stdin, one JSON answer per line on stdout. Commands:
//   {"goto": URL}                          opens the page
//   {"wait": EXPRESSION, "timeout": MS}    until it is truthy in the page
//   {"eval": EXPRESSION}                   its value
//   {"screenshot": PATH}                   the whole page as a PNG
// Answers: {"ok": VALUE} or {"error": MESSAGE}. Chromium is the system's
// (CHROMIUM, default /usr/bin/chromium), with a fresh profile that is
// removed at the end; it is told to reach nothing but the page's origin.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const profile = mkdtempSync(join(tmpdir(), "peercloud-console-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = context.pages()[0] || await context.newPage();
const problems = [];
page.on("pageerror", e => problems.push("page error: " + e.message));
page.on("console", m => { if (m.type() === "error") problems.push("console error: " + m.text()); });

async function run(command) {
  if ("goto" in command) {
    await page.goto(command.goto, { waitUntil: "load" });
    return page.url();
  }
  if ("wait" in command) {
    // Polled from here: the page's content security policy forbids the
    // eval that waitForFunction would use for an expression.
    const deadline = Date.now() + (command.timeout || 20000);
    for (;;) {
      if (await page.evaluate(command.wait)) return true;
      if (Date.now() > deadline) throw new Error("timed out after " + (command.timeout || 20000) + " ms");
      await new Promise(resolve => setTimeout(resolve, 100));
    }
  }
  if ("eval" in command) return await page.evaluate(command.eval);
  if ("screenshot" in command) {
    await page.screenshot({ path: command.screenshot, fullPage: true });
    return command.screenshot;
  }
  if ("problems" in command) return problems;
  throw new Error("unknown command " + JSON.stringify(command));
}

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  let answer;
  try {
    answer = { ok: await run(JSON.parse(line)) };
  } catch (e) {
    answer = { error: String(e && e.message || e) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
await context.close();
rmSync(profile, { recursive: true, force: true });
