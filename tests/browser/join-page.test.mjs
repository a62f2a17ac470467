// The join page in a real browser (Debian's Chromium, driven by
// playwright-core) against a running Foyer (FOYER_URL, started by run.sh),
// with matrix-js-sdk 37.5.0 as the member on the other side.
//
// 1. A guest link opened in a fresh browser lands in the room; a message
//    typed there reaches the matrix-js-sdk client, and its answer comes
//    back. Phone-sized and by keyboard only. The page's transfer size on
//    first load is printed.
// 2. A reload, and opening the same link again, keep the same guest.
// 3. Keeping the account: a named guest with the same user ID, then a
//    password, then a login with it through the API.
// 4. The preview of a world_readable room follows new messages live; Join
//    then makes the visitor a member who can write.
// 5. A revoked link says so clearly.
// 6. Keeping the account under a chosen username (the rename upgrade): a
//    taken and an invalid name are refused clearly, then the page goes on
//    in the room as @thatname:localhost.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";

import {
  api, artifacts, baseUrl, createGuestLink, createRoom, desktop, guestLinkUses, launchBrowser,
  measureTransfer, phone, registerUser, revokeGuestLink, sdkClient, sdkMessage, sendText, waitFor, watchPage,
} from "./helpers.mjs";

let browser;
let alice;
let aliceClient;
const contexts = [];

before(async () => {
  browser = await launchBrowser();
  alice = await registerUser("alice");
  aliceClient = await sdkClient(alice);
});

after(async () => {
  aliceClient?.stopClient();
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  // matrix-js-sdk leaves timers running for minutes after stopClient;
  // don't wait for them (this fires only if they are what is left).
  setTimeout(() => process.exit(), 1000).unref();
});

async function newPage(device, secrets) {
  const context = await browser.newContext({ ...device, baseURL: baseUrl });
  contexts.push(context);
  const page = await context.newPage();
  const problems = watchPage(page, secrets);
  return { context, page, problems };
}

const shot = (page, name) => page.screenshot({ path: join(artifacts, name), fullPage: false });
const timelineText = (page) => page.locator("#timeline").innerText();

// State shared by the link scenarios (1-3): one visitor's browser.
const visitor = { page: null, context: null, problems: null, userId: "", token: "" };
let bookRoom;
let bookLink;

test("a guest link opened in a fresh browser lands in the room and chats both ways", async () => {
  bookRoom = await createRoom(alice, { name: "Book club", topic: "This month: The Left Hand of Darkness" });
  await aliceClient.joinRoom(bookRoom).catch(() => {}); // already joined; makes the SDK know it
  await sendText(alice, bookRoom, "Welcome, everyone. Chapter 3 tonight.");
  bookLink = await createGuestLink(alice, bookRoom);

  const secrets = () => [visitor.token];
  Object.assign(visitor, await newPage(phone, secrets));
  const { page, context } = visitor;
  const sizes = await measureTransfer(context, page);

  const resp = await page.goto(`/_foyer/join/${bookLink}`);
  const headers = resp.headers();
  assert.match(headers["content-security-policy"], /^default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'self'; connect-src 'self';/);
  assert.equal(headers["referrer-policy"], "no-referrer");
  assert.equal(headers["x-content-type-options"], "nosniff");
  await page.locator("#composer").waitFor({ state: "visible", timeout: 15000 });
  await page.waitForLoadState("load");
  const firstLoad = { page: sizes.page, api: sizes.api, requests: [...sizes.requests] };
  assert.equal(await page.locator("#room-name").innerText(), "Book club");
  assert.equal(await page.locator("#room-topic").innerText(), "This month: The Left Hand of Darkness");
  assert.equal(await page.locator("#room-members").innerText(), "2 members");
  assert.match(await timelineText(page), /Chapter 3 tonight/);

  // The link token left the address bar (and history) once redeemed.
  const path = await page.evaluate(() => location.pathname);
  assert.equal(decodeURIComponent(path), `/_foyer/room/${bookRoom}`);
  assert.ok(!page.url().includes(bookLink), "the link token is still in the URL");

  const stored = await page.evaluate(() => JSON.parse(localStorage.getItem("foyer.accounts")));
  const acct = Object.values(stored)[0];
  visitor.userId = acct.user_id;
  visitor.token = acct.access_token;
  assert.match(visitor.userId, /^@\d+:localhost$/);

  // Keyboard only: the name field has the focus; Enter saves it and moves
  // on to the message box; Enter sends.
  assert.equal(await page.evaluate(() => document.activeElement.id), "display-name");
  await page.keyboard.type("Vera the Visitor");
  await page.keyboard.press("Enter");
  await waitFor(() => page.evaluate(() => document.activeElement.id === "message"), 5000, "focus on the message box");
  await page.keyboard.type("Hello from the browser! <b>not bold</b>");
  await page.keyboard.press("Enter");

  const got = await sdkMessage(aliceClient, bookRoom, "Hello from the browser! <b>not bold</b>");
  assert.equal(got.getSender(), visitor.userId);
  assert.equal(aliceClient.getRoom(bookRoom).getMember(visitor.userId)?.name, "Vera the Visitor");

  await aliceClient.sendTextMessage(bookRoom, "Hi Vera, glad you made it.");
  await page.locator("#timeline li", { hasText: "Hi Vera, glad you made it." }).waitFor({ timeout: 10000 });
  // Message bodies are text: the markup arrived as characters, not as an element.
  assert.equal(await page.locator("#timeline b").count(), 0);
  assert.equal(await page.locator("#timeline li.message.mine").count(), 1);
  await page.locator("#timeline li.message.mine:not(.pending)").waitFor({ timeout: 5000 });
  await shot(page, "01-guest-link-chat-phone.png");

  // What the first load transferred (headers included, as Chromium
  // counts them, cache off): the page's own files, and everything until
  // the room was on screen (the redemption, whoami and the first sync).
  const files = firstLoad.requests.filter((r) => !r.path.startsWith("/_matrix/") && !r.path.startsWith("/_foyer/client/"));
  const calls = firstLoad.requests.filter((r) => !files.includes(r));
  console.log(`join page first load: ${firstLoad.page + firstLoad.api} bytes in ${firstLoad.requests.length} responses: ` +
    `page files ${firstLoad.page} bytes (${files.map((r) => `${r.path} ${r.bytes}`).join(", ")}), ` +
    `API ${firstLoad.api} bytes (${calls.map((r) => `${r.path} ${r.bytes}`).join(", ")})`);
  assert.ok(firstLoad.page < 40000, `the page's files weigh ${firstLoad.page} bytes`);
  assert.deepEqual(visitor.problems, []);
});

test("a reload keeps the same guest, and so does opening the link again", async () => {
  const { page } = visitor;
  await page.reload();
  await page.locator("#composer").waitFor({ state: "visible", timeout: 15000 });
  await page.locator("#account summary").click();
  assert.equal(await page.locator("#account-id").innerText(), visitor.userId);
  assert.equal(await page.locator("#account-name").innerText(), "Vera the Visitor");
  assert.ok(await page.locator("#name-form").isHidden(), "asked for a name again");
  assert.match(await timelineText(page), /Hello from the browser!/);
  assert.match(await timelineText(page), /glad you made it/);

  await page.locator("#message").fill("Back after a reload");
  await page.locator("#message").press("Enter");
  const got = await sdkMessage(aliceClient, bookRoom, "Back after a reload");
  assert.equal(got.getSender(), visitor.userId);
  await shot(page, "02-reload-same-guest-phone.png");

  // The same link in the same browser: no second redemption.
  await page.goto(`/_foyer/join/${bookLink}`);
  await page.locator("#composer").waitFor({ state: "visible", timeout: 15000 });
  await page.locator("#account summary").click();
  assert.equal(await page.locator("#account-id").innerText(), visitor.userId);
  assert.equal(await guestLinkUses(alice, bookRoom, bookLink), 1);
  assert.deepEqual(visitor.problems, []);
});

test("keeping the account makes a named guest, then a password lets it log in anywhere", async () => {
  const { page } = visitor;
  await page.setViewportSize(desktop.viewport);
  await page.locator("#keep-button").click();
  await page.locator("#account-status", { hasText: "Kept." }).waitFor({ timeout: 10000 });
  // The named guest's new token; the user ID is the same.
  const acct = await page.evaluate(() => JSON.parse(localStorage.getItem("foyer.accounts")));
  const kept = acct[visitor.userId];
  assert.equal(kept.kind, "named_guest");
  visitor.token = kept.access_token;
  const who = await api("GET", "/_matrix/client/v3/account/whoami", { token: kept.access_token });
  assert.equal(who.user_id, visitor.userId);
  assert.equal(who.is_guest, false);

  await page.locator("#new-password").fill("a long passphrase for vera");
  await page.locator("#repeat-password").fill("a long passphrase for vera");
  await page.locator("#password-button").click();
  await page.locator("#account-status", { hasText: "Password saved." }).waitFor({ timeout: 10000 });
  await shot(page, "03-keep-account-password.png");

  const login = await api("POST", "/_matrix/client/v3/login", {
    body: { type: "m.login.password", identifier: { type: "m.id.user", user: visitor.userId }, password: "a long passphrase for vera" },
  });
  assert.equal(login.user_id, visitor.userId);
  // Still in the room, still chatting from the page.
  await page.locator("#message").fill("I kept my account");
  await page.locator("#message").press("Enter");
  await sdkMessage(aliceClient, bookRoom, "I kept my account");
  // After a reload the page knows the account has a password.
  await page.reload();
  await page.locator("#composer").waitFor({ state: "visible", timeout: 15000 });
  assert.equal(await page.locator("#password-button").textContent(), "Change password");
  assert.ok(await page.locator("#keep-guest").isHidden());
  assert.deepEqual(visitor.problems, []);
});

test("the preview of a world_readable room follows it live, and Join lets the visitor write", async () => {
  const lobby = await createRoom(alice, {
    name: "Lobby", topic: "Everyone welcome", alias: `lobby${Date.now().toString(36)}`, worldReadable: true, publicRoom: true,
  });
  const alias = (await api("GET", `/_matrix/client/v1/room_summary/${encodeURIComponent(lobby)}`)).canonical_alias;
  await sendText(alice, lobby, "First post in the lobby");

  let token = "";
  const { page, problems } = await newPage(desktop, () => [token]);
  await page.goto(`/_foyer/room/${encodeURIComponent(alias)}`);
  await page.locator("#preview-bar").waitFor({ state: "visible", timeout: 15000 });
  await page.locator("#timeline li", { hasText: "First post in the lobby" }).waitFor({ timeout: 10000 });
  assert.equal(await page.locator("#room-name").innerText(), "Lobby");
  assert.ok(await page.locator("#composer").isHidden(), "a previewer has a composer");
  assert.ok(await page.locator("#join-button").isVisible(), "no Join button");
  token = Object.values(await page.evaluate(() => JSON.parse(localStorage.getItem("foyer.accounts"))))[0].access_token;

  // Live: a new message shows up without a reload.
  await sendText(alice, lobby, "Live update for the previewers");
  await page.locator("#timeline li", { hasText: "Live update for the previewers" }).waitFor({ timeout: 10000 });
  await shot(page, "04-preview-live.png");

  await page.locator("#join-button").click();
  await page.locator("#composer").waitFor({ state: "visible", timeout: 15000 });
  await page.locator("#display-name").fill("Pat from the preview");
  await page.locator("#display-name").press("Enter");
  await waitFor(() => page.evaluate(() => document.activeElement.id === "message"), 5000, "the name to be saved");
  await page.locator("#message").fill("Joined from the preview");
  await page.locator("#message").press("Enter");
  await aliceClient.joinRoom(lobby).catch(() => {});
  await sdkMessage(aliceClient, lobby, "Joined from the preview");
  await shot(page, "05-preview-joined.png");
  assert.deepEqual(problems, []);
});

test("a revoked link shows a clear message", async () => {
  const room = await createRoom(alice, { name: "Closed circle" });
  const link = await createGuestLink(alice, room);
  await revokeGuestLink(alice, room, link);
  const { page, problems } = await newPage(phone);
  await page.goto(`/_foyer/join/${link}`);
  await page.locator("#notice-title", { hasText: "This invitation link no longer works" }).waitFor({ timeout: 10000 });
  assert.match(await page.locator("#notice-text").innerText(), /Ask the person who sent it for a new link/);
  assert.ok(await page.locator("#room").isHidden());
  assert.equal(await page.evaluate(() => localStorage.getItem("foyer.accounts")), null, "an account was stored");
  await shot(page, "06-revoked-link-phone.png");

  // An unknown link says that instead.
  await page.goto(`/_foyer/join/nosuchlinkAAAAAAAAAAAAAAA`);
  await page.locator("#notice-title", { hasText: "This invitation link does not exist" }).waitFor({ timeout: 10000 });
  assert.deepEqual(problems, []);
});

test("keeping the account under a chosen username continues in the room as that user", async () => {
  const garden = await createRoom(alice, { name: "Garden club", topic: "Tomatoes, mostly" });
  await aliceClient.joinRoom(garden).catch(() => {});
  await sendText(alice, garden, "Seedlings are up!");
  const link = await createGuestLink(alice, garden);

  const tokens = [];
  const { page, problems } = await newPage(desktop, () => tokens);
  await page.goto(`/_foyer/join/${link}`);
  await page.locator("#composer").waitFor({ state: "visible", timeout: 15000 });
  const guest = Object.values(await page.evaluate(() => JSON.parse(localStorage.getItem("foyer.accounts"))))[0];
  tokens.push(guest.access_token);
  await page.locator("#display-name").fill("Sam Sower");
  await page.locator("#display-name").press("Enter");
  await waitFor(() => page.evaluate(() => document.activeElement.id === "message"), 5000, "the name to be saved");
  await page.locator("#message").fill("Hello from a guest who will pick a name");
  await page.locator("#message").press("Enter");
  await sdkMessage(aliceClient, garden, "Hello from a guest who will pick a name");

  await page.locator("#account summary").click();
  assert.equal(await page.locator("#keep-button").textContent(), "Keep this account");
  // A taken name, then an invalid one: said clearly, nothing changes.
  const taken = alice.userId.slice(1).split(":")[0];
  await page.locator("#keep-username").fill(taken);
  assert.equal(await page.locator("#keep-button").textContent(), `Continue as @${taken}:localhost`);
  await page.locator("#keep-button").click();
  await page.locator("#account-status", { hasText: "is taken" }).waitFor({ timeout: 10000 });
  assert.equal(await page.locator("#keep-username").getAttribute("aria-invalid"), "true");
  await page.locator("#keep-username").fill("12345");
  await page.locator("#keep-button").click();
  await page.locator("#account-status", { hasText: "That name cannot be used" }).waitFor({ timeout: 10000 });
  assert.match(await page.locator("#account-status").innerText(), /numeric/);
  assert.equal(await page.locator("#account-id").innerText(), guest.user_id);
  assert.equal((await api("GET", "/_matrix/client/v3/account/whoami", { token: guest.access_token })).user_id, guest.user_id);

  const name = `sam${Date.now().toString(36)}`;
  const newId = `@${name}:localhost`;
  await page.locator("#keep-username").fill(name);
  await page.locator("#keep-button").click();
  await page.locator("#account-status", { hasText: `You are ${newId} now` }).waitFor({ timeout: 15000 });
  assert.equal(await page.locator("#account-id").innerText(), newId);
  assert.equal(await page.locator("#account-name").innerText(), "Sam Sower");
  assert.ok(await page.locator("#keep-guest").isHidden(), "still offers to keep a guest");
  assert.ok(await page.locator("#password-form").isVisible(), "no password form for the new account");
  assert.ok(await page.locator("#composer").isVisible(), "the room is gone");
  assert.ok(await page.locator("#name-form").isHidden(), "asked for a name again");

  // The new account replaced the guest in this browser; the guest is gone.
  const stored = await page.evaluate(() => ({
    accounts: JSON.parse(localStorage.getItem("foyer.accounts")),
    current: localStorage.getItem("foyer.current"),
    rooms: JSON.parse(localStorage.getItem("foyer.rooms")),
  }));
  assert.deepEqual(Object.keys(stored.accounts), [newId]);
  assert.equal(stored.current, newId);
  assert.equal(stored.rooms[garden], newId);
  const acct = stored.accounts[newId];
  assert.equal(acct.kind, "named_guest");
  tokens.push(acct.access_token);
  const who = await api("GET", "/_matrix/client/v3/account/whoami", { token: acct.access_token });
  assert.equal(who.user_id, newId);
  assert.equal(who.is_guest, false);
  const dead = await api("GET", "/_matrix/client/v3/account/whoami", { token: guest.access_token, ok: [401] });
  assert.equal(dead.status, 401);
  assert.equal(dead.errcode, "M_UNKNOWN_TOKEN");

  // Earlier messages are still there (the guest's under its old ID), and
  // the page writes as the new user.
  assert.match(await timelineText(page), /Seedlings are up!/);
  assert.match(await timelineText(page), /Hello from a guest who will pick a name/);
  await page.locator("#message").fill("Now with a name of my own");
  await page.locator("#message").press("Enter");
  const got = await sdkMessage(aliceClient, garden, "Now with a name of my own");
  assert.equal(got.getSender(), newId);
  await page.locator("#timeline li.message.mine:not(.pending)", { hasText: "Now with a name of my own" }).waitFor({ timeout: 5000 });
  await shot(page, "07-keep-account-new-username.png");

  // A reload comes back as the new user, in the room.
  await page.reload();
  await page.locator("#composer").waitFor({ state: "visible", timeout: 15000 });
  await page.locator("#account summary").click();
  assert.equal(await page.locator("#account-id").innerText(), newId);
  assert.deepEqual(problems, []);
});
