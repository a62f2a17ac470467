// Shared helpers of the browser tests: the server's API for setting up
// rooms, a matrix-js-sdk client for "the other side", and Chromium.
import { mkdirSync } from "node:fs";
import { join } from "node:path";

import { chromium } from "playwright-core";
import { createClient, ClientEvent } from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

export const baseUrl = process.env.FOYER_URL;
if (!baseUrl) {
  throw new Error("FOYER_URL is not set; run tests/browser/run.sh");
}
export const artifacts = process.env.BROWSER_ARTIFACTS || join(import.meta.dirname, "..", "..", "test-artifacts", "browser");
mkdirSync(artifacts, { recursive: true });

if (!process.env.BROWSER_DEBUG) {
  logger.setLevel("error");
  console.debug = () => {};
  console.info = () => {};
  // The SDK's MatrixRTC manager logs an error on every first sync of a
  // room (docs/client-behaviour.md: its own noise, not a server fault).
  const error = console.error.bind(console);
  console.error = (...args) => {
    if (args.map(String).join(" ").includes("Got room state event for unknown room")) return;
    error(...args);
  };
}

// api calls the server; it throws with the answer on a non-2xx status
// unless ok lists that status.
export async function api(method, path, { body, token, ok = [] } = {}) {
  const res = await fetch(baseUrl + path, {
    method,
    headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok && !ok.includes(res.status)) {
    throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  }
  return { status: res.status, ...json };
}

const C = "/_matrix/client/v3";
let counter = 0;

// registerUser registers a full user through the UIA dummy stage.
export async function registerUser(prefix) {
  const username = `${prefix}${Date.now().toString(36)}${counter++}`;
  const password = "secret-" + username;
  const first = await api("POST", `${C}/register`, { body: { username, password }, ok: [401] });
  const res = await api("POST", `${C}/register`, {
    body: { username, password, auth: { type: "m.login.dummy", session: first.session } },
  });
  return { userId: res.user_id, token: res.access_token, deviceId: res.device_id, password };
}

// createRoom makes a room that admits guests.
export async function createRoom(user, { name, topic, alias, worldReadable = false, publicRoom = false } = {}) {
  const initial_state = [{ type: "m.room.guest_access", state_key: "", content: { guest_access: "can_join" } }];
  if (worldReadable) {
    initial_state.push({ type: "m.room.history_visibility", state_key: "", content: { history_visibility: "world_readable" } });
  }
  const res = await api("POST", `${C}/createRoom`, {
    token: user.token,
    body: { name, topic, room_alias_name: alias, preset: publicRoom ? "public_chat" : "private_chat", initial_state },
  });
  return res.room_id;
}

export async function sendText(user, roomId, body) {
  const txn = `t${Date.now()}${counter++}`;
  return api("PUT", `${C}/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txn}`, {
    token: user.token, body: { msgtype: "m.text", body },
  });
}

const links = (roomId) => `/_foyer/client/v1/rooms/${encodeURIComponent(roomId)}/guest_links`;
export async function createGuestLink(user, roomId) {
  return (await api("POST", links(roomId), { token: user.token, body: {} })).token;
}
export async function revokeGuestLink(user, roomId, token) {
  await api("DELETE", `${links(roomId)}/${token}`, { token: user.token });
}
export async function guestLinkUses(user, roomId, token) {
  const res = await api("GET", links(roomId), { token: user.token });
  return res.guest_links.find((l) => l.token === token).uses;
}

// waitFor polls check until it returns a truthy value.
export async function waitFor(check, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// sdkClient starts matrix-js-sdk for user and waits for its first sync.
export async function sdkClient(user) {
  const client = createClient({ baseUrl, userId: user.userId, accessToken: user.token, deviceId: user.deviceId });
  const prepared = new Promise((resolve) => {
    client.on(ClientEvent.Sync, (state) => {
      if (state === "PREPARED") resolve();
    });
  });
  await client.startClient({ initialSyncLimit: 20 });
  await prepared;
  return client;
}

// sdkMessage waits until client sees a text message in roomId.
export function sdkMessage(client, roomId, body, ms = 15000) {
  return waitFor(() => {
    const room = client.getRoom(roomId);
    return room?.getLiveTimeline().getEvents().find((e) => e.getType() === "m.room.message" && e.getContent().body === body);
  }, ms, `matrix-js-sdk to see "${body}"`);
}

// The flags this machine's Chromium needs (see the README: no network but
// loopback, running as root in a container).
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.FOYER_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage",
    ],
  });
}

export const phone = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
export const desktop = { viewport: { width: 1200, height: 800 } };

// watchPage records what must never happen on the page: script errors
// and Content-Security-Policy violations, and any request URL that holds
// one of the secrets (access tokens).
export function watchPage(page, secrets = () => []) {
  const problems = [];
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error" && /Content Security Policy|Refused to/i.test(msg.text())) {
      problems.push(`CSP: ${msg.text()}`);
    }
  });
  page.on("request", (req) => {
    for (const s of secrets()) {
      if (s && req.url().includes(s)) problems.push(`a secret in a URL: ${req.method()} ${req.url().slice(0, 80)}…`);
    }
  });
  return problems;
}

// measureTransfer sums the bytes the page received (headers and bodies,
// as Chromium's network stack counts them) from now on, by URL kind.
export async function measureTransfer(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
  const urls = new Map();
  const sizes = { page: 0, api: 0, requests: [] };
  cdp.on("Network.requestWillBeSent", (e) => urls.set(e.requestId, e.request.url));
  cdp.on("Network.loadingFinished", (e) => {
    const url = urls.get(e.requestId) || "";
    const path = new URL(url, baseUrl).pathname;
    const own = path.startsWith("/_foyer/join/") || path.startsWith("/_foyer/room/") || path.startsWith("/_foyer/static/");
    sizes[own ? "page" : "api"] += e.encodedDataLength;
    sizes.requests.push({ path: own ? path.replace(/\/_foyer\/join\/.*/, "/_foyer/join/…") : path.replace(/\/_foyer\/client\/v1\/guest_links\/[^/]+/, "/_foyer/client/v1/guest_links/…"), bytes: e.encodedDataLength });
  });
  return sizes;
}
