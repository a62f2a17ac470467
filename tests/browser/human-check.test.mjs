// The join page with the guest human checks on, in a real browser. This
// file starts Foyers of its own (FOYER_BIN, built by run.sh) with the
// checks switched on, and a fake captcha provider: a widget script on
// another origin (the page's CSP must admit exactly it) and a verify
// endpoint.
//
// 1. Proof of work (guest_access.proof_of_work, default difficulty): a
//    guest link opened on a phone shows the progress bar, then lands in
//    the room. Then the median time the worker takes in this headless
//    Chromium at the default difficulty, printed and saved to
//    test-artifacts/browser/proof-of-work.json.
// 2. Captcha (guest_access.require_captcha, provider "turnstile" faked):
//    the widget appears; a wrong answer is refused and the widget comes
//    back; the right one lands the visitor in the room.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { artifacts, launchBrowser, phone, waitFor, watchPage } from "./helpers.mjs";

const C = "/_matrix/client/v3";
const bin = process.env.FOYER_BIN;
if (!bin) throw new Error("FOYER_BIN is not set; run tests/browser/run.sh");

let browser;
const servers = [];
const contexts = [];

// freePort asks the kernel for a free loopback port.
function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// startFoyer runs a Foyer with env on top of the test settings run.sh
// uses, and waits until it answers.
async function startFoyer(env) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "foyer-check-"));
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn(bin, ["serve", "--listen", `127.0.0.1:${port}`, "--data-dir", join(dir, "data"),
    "--server-name", "localhost", "--registration", "open"], {
    env: {
      ...process.env,
      FOYER_RATE_GUEST_REGISTRATION: "off", FOYER_RATE_REGISTRATION: "off", FOYER_RATE_LOGIN: "off",
      FOYER_RATE_GUEST_LINK_REDEMPTION: "off", FOYER_PASSWORD_MEMORY_KIB: "1024", FOYER_PASSWORD_ITERATIONS: "1",
      ...env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  proc.stderr.on("data", (d) => { log = (log + d).slice(-4000); });
  servers.push({ proc, dir });
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error("foyer exited: " + log);
    return fetch(url + "/_matrix/client/versions").then((r) => r.ok, () => false);
  }, 30000, "foyer to start");
  return url;
}

async function call(base, method, path, { body, token, ok = [] } = {}) {
  const res = await fetch(base + path, {
    method,
    headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok && !ok.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return { status: res.status, ...json };
}

// roomWithLink registers a user, makes a room guests may join and a
// guest link to it.
async function roomWithLink(base) {
  const username = "host" + Date.now().toString(36);
  const first = await call(base, "POST", `${C}/register`, { body: { username, password: "pw-" + username }, ok: [401] });
  const user = await call(base, "POST", `${C}/register`, {
    body: { username, password: "pw-" + username, auth: { type: "m.login.dummy", session: first.session } },
  });
  const room = await call(base, "POST", `${C}/createRoom`, {
    token: user.access_token,
    body: { name: "Checked room", preset: "private_chat",
      initial_state: [{ type: "m.room.guest_access", state_key: "", content: { guest_access: "can_join" } }] },
  });
  const link = await call(base, "POST", `/_foyer/client/v1/rooms/${encodeURIComponent(room.room_id)}/guest_links`,
    { token: user.access_token, body: {} });
  return { roomId: room.room_id, token: link.token };
}

// The fake captcha provider: a Turnstile-like widget with a "person" and
// a "robot" button, and a verify endpoint that accepts only the person.
const fakeWidget = `
window.turnstile = {
  render(el, opts) {
    for (const [label, answer] of [["I am a person", "person-ok"], ["I am a robot", "robot"]]) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.addEventListener("click", () => opts.callback(answer));
      el.appendChild(b);
    }
    return "widget-1";
  },
};`;
let provider;
const verified = [];
async function startProvider() {
  const port = await freePort();
  provider = createServer((req, res) => {
    if (req.method === "GET" && req.url.startsWith("/api.js")) {
      res.writeHead(200, { "Content-Type": "text/javascript" });
      res.end(fakeWidget);
      return;
    }
    let body = "";
    req.on("data", (d) => { body += d; });
    req.on("end", () => {
      const form = new URLSearchParams(body);
      verified.push(form.get("response"));
      const success = form.get("secret") === "fake-secret" && form.get("response") === "person-ok";
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ success }));
    });
  });
  await new Promise((resolve) => provider.listen(port, "127.0.0.1", resolve));
  return `http://127.0.0.1:${port}`;
}

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  for (const { proc, dir } of servers) {
    proc.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  provider?.close();
});

async function newPage(base) {
  const context = await browser.newContext({ ...phone, baseURL: base });
  contexts.push(context);
  const page = await context.newPage();
  return { page, problems: watchPage(page) };
}

const shot = (page, name) => page.screenshot({ path: join(artifacts, name), fullPage: false });

test("with the proof of work on, a guest link shows progress and lands in the room", async () => {
  const base = await startFoyer({ FOYER_GUEST_PROOF_OF_WORK: "true" });
  const { roomId, token } = await roomWithLink(base);
  const { page, problems } = await newPage(base);

  // Make this one challenge four bits harder on its way to the page, so
  // the progress bar stays long enough to be seen: a nonce with more zero
  // bits still solves the server's challenge.
  let bits = 0;
  await page.route("**/guest_links/*/redeem", async (route) => {
    const res = await route.fetch();
    const body = await res.json();
    const pow = body.params?.["foyer.login.proof_of_work"];
    if (res.status() === 401 && pow && !bits) {
      bits = pow.bits;
      pow.bits += 4;
    }
    await route.fulfill({ response: res, json: body });
  });
  await page.goto(`/_foyer/join/${token}`);
  await page.locator("#check progress").waitFor({ state: "visible", timeout: 15000 });
  assert.match(await page.locator("#check-title").innerText(), /Getting you in/);
  await waitFor(async () => Number(await page.locator("#check-progress").getAttribute("value")) > 0 ||
    !(await page.locator("#check").isVisible()), 15000, "the progress bar to move");
  await shot(page, "check-proof-of-work.png");
  await page.locator("#composer").waitFor({ state: "visible", timeout: 60000 });
  assert.equal(bits, 18, "the default difficulty");
  assert.ok(await page.locator("#check").isHidden());
  assert.ok(decodeURIComponent(page.url()).includes(`/_foyer/room/${roomId}`), page.url());
  await shot(page, "check-proof-of-work-in-room.png");
  await page.unroute("**/guest_links/*/redeem");

  // The worker alone at the default difficulty: the median of 11 runs on
  // challenges the length of the server's.
  const times = await page.evaluate(async (bitCount) => {
    const url = document.querySelector('meta[name="foyer-pow-worker"]').content;
    const out = [];
    for (let i = 0; i < 11; i++) {
      const challenge = crypto.getRandomValues(new Uint8Array(60)).reduce((s, b) => s + (b % 36).toString(36), "").slice(0, 35) +
        "." + "s".repeat(43);
      const started = performance.now();
      await new Promise((resolve) => {
        const w = new Worker(url);
        w.onmessage = (e) => { if (e.data.nonce !== undefined) { w.terminate(); resolve(); } };
        w.postMessage({ challenge, bits: bitCount });
      });
      out.push(performance.now() - started);
    }
    return out;
  }, bits);
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(`proof of work at ${bits} bits in headless Chromium: median ${median.toFixed(0)} ms over ${times.length} runs ` +
    `(min ${times[0].toFixed(0)}, max ${times[times.length - 1].toFixed(0)})`);
  writeFileSync(join(artifacts, "proof-of-work.json"), JSON.stringify({ bits, runs_ms: times, median_ms: median }, null, 2));
  assert.deepEqual(problems, []);
});

test("with the captcha on, the widget appears, a wrong answer is refused, the right one lands in the room", async () => {
  const providerURL = await startProvider();
  const base = await startFoyer({
    FOYER_GUEST_REQUIRE_CAPTCHA: "true",
    FOYER_CAPTCHA_PROVIDER: "turnstile",
    FOYER_CAPTCHA_SITE_KEY: "fake-site-key",
    FOYER_CAPTCHA_SECRET: "fake-secret",
    FOYER_CAPTCHA_VERIFY_URL: providerURL + "/siteverify",
    FOYER_CAPTCHA_SCRIPT_URL: providerURL + "/api.js?render=explicit",
    FOYER_OUTBOUND_ALLOW_PRIVATE_ADDRESSES: "true",
  });
  const { roomId, token } = await roomWithLink(base);
  const { page, problems } = await newPage(base);
  const csp = [];
  page.on("response", (r) => { if (r.url().includes("/_foyer/join/")) csp.push(r.headers()["content-security-policy"]); });
  await page.goto(`/_foyer/join/${token}`);
  const person = page.getByRole("button", { name: "I am a person" });
  await person.waitFor({ state: "visible", timeout: 15000 });
  assert.ok(csp[0].includes(`script-src 'self' ${providerURL};`), csp[0]);
  assert.match(await page.locator("#check-title").innerText(), /One more step/);
  await shot(page, "check-captcha.png");

  // The robot's answer: refused by the provider, the widget comes back.
  await page.getByRole("button", { name: "I am a robot" }).click();
  await waitFor(() => verified.includes("robot"), 10000, "the wrong answer to be checked");
  await person.waitFor({ state: "visible", timeout: 10000 });
  assert.ok(await page.locator("#composer").isHidden());

  await person.click();
  await page.locator("#composer").waitFor({ state: "visible", timeout: 15000 });
  assert.deepEqual(verified, ["robot", "person-ok"]);
  assert.ok(await page.locator("#check").isHidden());
  await page.locator("#message").fill("in past the captcha");
  await page.keyboard.press("Enter");
  await page.locator("#timeline").getByText("in past the captcha").waitFor({ timeout: 10000 });
  assert.match(page.url(), /\/_foyer\/room\//);
  await shot(page, "check-captcha-in-room.png");
  assert.ok(roomId.startsWith("!"));
  assert.deepEqual(problems, []);
});
