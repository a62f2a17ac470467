// Guest journeys with a real client: matrix-js-sdk 37.5.0 (no crypto)
// against a running Foyer (FOYER_URL, started by run.sh), driven only
// through the SDK's own high-level calls.
//
// 1. A guest previews a world_readable room (peekInRoom): history, then a
//    member's new message live through the peek.
// 2. A guest joins a can_join room, chats both ways, sets a display name
//    and publishes its m.call.member state.
// 3. A guest is removed when the room's guest_access becomes forbidden.
// 4. A guest upgrades to a full user (same user ID) and keeps its rooms;
//    the upgrade's token replaces the guest token.
// 5. A named guest (username, no password) sets a password through
//    interactive auth (m.login.dummy) and logs in with it.
// 6. A guest link is created by a member and redeemed; the new guest's
//    client starts in the room and chats.
//
// Every client's sync loop must start (PREPARED), keep syncing (never
// ERROR or RECONNECTING) and be seen to complete another sync at the end
// of its journey; and the SDK must log no error other than its known
// MatrixRTC noise (KNOWN_NOISE below).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { format } from "node:util";

import {
  createClient,
  ClientEvent,
  InteractiveAuth,
  Method,
  SyncState,
} from "matrix-js-sdk";

import { baseUrl, raw, waitFor, withTimeout } from "./helpers.mjs";

// --- The SDK's log ----------------------------------------------------
//
// matrix-js-sdk logs through loglevel with its own method factory, which
// looks the console method up at call time (lib/logger.js: "we always get
// the current value of console methods"), for the root logger and every
// child logger (also those created at module load, before this file's
// code runs). Wrapping console.error/console.warn therefore records every
// error- and warn-level line the SDK writes, whichever logger it used.
const sdkLog = [];
// Requests the SDK made that the server refused (any non-2xx answer).
const refusedLog = [];
const KNOWN_NOISE = [
  // MatrixRTCSessionManager / RoomKeyTransport on a room's first sync
  // (client-behaviour.md): the SDK's own noise, not a server fault.
  /Got room state event for unknown room/,
];
const isNoise = (text) => KNOWN_NOISE.some((re) => re.test(text));
for (const level of ["error", "warn"]) {
  const original = console[level].bind(console);
  console[level] = (...args) => {
    const text = format(...args);
    sdkLog.push({ level, text, at: new Date().toISOString() });
    if (process.env.E2E_DEBUG || (level === "error" && !isNoise(text))) {
      original(...args);
    }
  };
}
if (!process.env.E2E_DEBUG) {
  console.debug = () => {};
  console.info = () => {};
  console.log = () => {};
}

function errorsSince(index) {
  return sdkLog
    .slice(index)
    .filter((e) => e.level === "error" && !isNoise(e.text))
    .map((e) => `${e.at} ${e.text}`);
}

// --- Helpers ----------------------------------------------------------

const allClients = [];
after(() => {
  if (process.env.E2E_SDK_LOG) {
    // E2E_SDK_LOG=file keeps every error and warning line the SDK wrote.
    writeFileSync(process.env.E2E_SDK_LOG, sdkLog.map((e) => `${e.at} ${e.level} ${e.text}`).join("\n") + "\n");
  }
  for (const c of allClients) {
    c.stopPeeking();
    c.stopClient();
  }
  // The SDK leaves request-timeout and capability-refresh timers (and a
  // peek's /events long-poll) behind after stopClient; don't wait.
  setTimeout(() => process.exit(), 1000).unref();
});

let counter = 0;
function uniqueName(prefix) {
  counter++;
  return `${prefix}${Date.now().toString(36)}${counter}`;
}

// registerWithUIA registers through the SDK's interactive auth, as Element
// does: a first request without auth, then whatever stages the server
// offers (InteractiveAuth completes m.login.dummy by itself).
async function registerWithUIA(client, body) {
  const ia = new InteractiveAuth({
    matrixClient: client,
    doRequest: (auth) => client.registerRequest(auth ? { ...body, auth } : body),
    stateUpdated: (stage, status) => {
      throw new Error(`registration asked for a stage the test cannot complete: ${stage} ${JSON.stringify(status)}`);
    },
    requestEmailToken: () => Promise.reject(new Error("no email")),
  });
  return withTimeout(ia.attemptAuth(), 15000, "registration through interactive auth");
}

async function registerUser() {
  const username = uniqueName("e2euser");
  const password = `pw-${username}-secret`;
  const r = await registerWithUIA(createClient({ baseUrl }), { username, password });
  return { userId: r.user_id, deviceId: r.device_id, accessToken: r.access_token, username, password };
}

async function registerGuest() {
  const r = await createClient({ baseUrl }).registerGuest();
  assert.ok(r.user_id && r.access_token && r.device_id, `guest registration answered ${JSON.stringify(r)}`);
  return { userId: r.user_id, deviceId: r.device_id, accessToken: r.access_token };
}

// startClient builds a client from credentials, starts its sync loop and
// waits for PREPARED. client.e2e records the sync states it went through.
async function startClient(creds, { guest = false } = {}) {
  const track = { syncs: 0, bad: [], states: [], events: [] };
  const client = createClient({
    baseUrl,
    userId: creds.userId,
    deviceId: creds.deviceId,
    accessToken: creds.accessToken,
    // Every answer that was not a success, for the journey's report.
    fetchFn: async (resource, init) => {
      const url = new URL(String(resource instanceof Request ? resource.url : resource));
      if (url.pathname.endsWith("/events")) {
        track.events.push(url); // the peek's polls
      }
      const res = await fetch(resource, init);
      if (!res.ok) {
        let errcode = "";
        try {
          errcode = (await res.clone().json()).errcode ?? "";
        } catch {}
        refusedLog.push(`${creds.userId}${guest ? " (guest)" : ""}: ${init?.method ?? "GET"} ${url.pathname} -> ${res.status} ${errcode}`);
      }
      return res;
    },
  });
  if (guest) {
    client.setGuest(true);
  }
  client.e2e = track;
  const prepared = new Promise((resolve) => {
    client.on(ClientEvent.Sync, (state, _prev, data) => {
      track.states.push(state);
      if (state === SyncState.Prepared || state === SyncState.Syncing) {
        track.syncs++;
        if (state === SyncState.Prepared) {
          resolve();
        }
      } else if (state === SyncState.Error || state === SyncState.Reconnecting) {
        track.bad.push(`${state}: ${data?.error?.errcode ?? ""} ${data?.error?.message ?? ""}`);
      }
    });
  });
  allClients.push(client);
  await client.startClient({ initialSyncLimit: 20 });
  await withTimeout(prepared, 30000, `${creds.userId}'s first sync (PREPARED)`);
  assert.equal(client.isGuest(), guest);
  return client;
}

// keptSyncing checks a client's sync loop is healthy and wakes it (a
// to-device message from poker) to see it complete one more sync.
async function keptSyncing(client, poker) {
  const track = client.e2e;
  assert.deepEqual(track.bad, [], `${client.getUserId()}'s sync loop went through ${track.bad.join("; ")}`);
  const before = track.syncs;
  await poker.sendToDevice(
    "org.foyer.e2e.ping",
    new Map([[client.getUserId(), new Map([[client.getDeviceId(), { n: before }]])]]),
  );
  await waitFor(() => track.syncs > before, 15000, `${client.getUserId()} to complete another sync`);
  assert.equal(client.getSyncState(), SyncState.Syncing);
  assert.deepEqual(track.bad, [], `${client.getUserId()}'s sync loop went through ${track.bad.join("; ")}`);
}

function timelineBodies(client, roomId) {
  const room = client.getRoom(roomId);
  if (!room) {
    return [];
  }
  return room
    .getLiveTimeline()
    .getEvents()
    .filter((e) => e.getType() === "m.room.message")
    .map((e) => e.getContent().body);
}

async function sees(client, roomId, body, ms = 15000) {
  await waitFor(() => timelineBodies(client, roomId).includes(body), ms, `${client.getUserId()} to see "${body}"`);
  const ev = client
    .getRoom(roomId)
    .getLiveTimeline()
    .getEvents()
    .find((e) => e.getType() === "m.room.message" && e.getContent().body === body);
  return ev;
}

async function membershipIs(client, roomId, userId, membership, ms = 15000) {
  await waitFor(
    () => client.getRoom(roomId)?.getMember(userId)?.membership === membership,
    ms,
    `${client.getUserId()} to see ${userId}'s membership become ${membership}`,
  );
}

// Refusals a journey provokes on purpose (UIA's first 401, a forbidden
// rejoin); any other non-2xx answer to an SDK request fails the journey.
let expectedRefusals = [];
function expectRefusal(re) {
  expectedRefusals.push(re);
}

// journey runs one test with a bounded timeout: it fails on any error the
// SDK logged while it ran, and stops the clients the journey started.
function journey(name, ms, fn) {
  test(name, { timeout: ms }, async (t) => {
    expectedRefusals = [];
    const since = sdkLog.length;
    const refusedSince = refusedLog.length;
    const started = allClients.length;
    try {
      await fn(t);
    } finally {
      // Let in-flight responses land before judging the log.
      await new Promise((r) => setTimeout(r, 300));
      for (const c of allClients.slice(started)) {
        if (c !== member) {
          c.stopPeeking();
          c.stopClient();
        }
      }
    }
    const warns = sdkLog.slice(since).filter((e) => e.level === "warn");
    if (warns.length) {
      t.diagnostic(`${warns.length} SDK warning line(s) while this journey ran (E2E_SDK_LOG=file keeps them)`);
    }
    const errors = errorsSince(since);
    assert.deepEqual(errors, [], "the SDK logged errors during this journey");
    const unexpected = [];
    for (const line of refusedLog.slice(refusedSince)) {
      t.diagnostic(`refused: ${line}`);
      if (!expectedRefusals.some((re) => re.test(line))) {
        unexpected.push(line);
      }
    }
    assert.deepEqual(unexpected, [], "the server refused requests the SDK made on its own");
  });
}

// The member who owns the rooms, shared by the journeys.
let member;
let memberCreds;
async function theMember() {
  if (!member) {
    memberCreds = await registerUser();
    member = await startClient(memberCreds);
  }
  return member;
}

function guestRoomOptions(extra = {}) {
  return {
    preset: "public_chat",
    ...extra,
    initial_state: [
      { type: "m.room.guest_access", state_key: "", content: { guest_access: "can_join" } },
      ...(extra.initial_state ?? []),
    ],
  };
}

// --- Journeys ---------------------------------------------------------

journey("1. a guest previews a world_readable room: history, then live messages through the peek", 60000, async () => {
  const alice = await theMember();
  const { room_id: roomId } = await alice.createRoom({
    preset: "public_chat",
    name: "preview room",
    topic: "read me",
    initial_state: [{ type: "m.room.history_visibility", state_key: "", content: { history_visibility: "world_readable" } }],
  });
  for (const body of ["history one", "history two", "history three"]) {
    await alice.sendTextMessage(roomId, body);
  }

  const guestCreds = await registerGuest();
  const guest = await startClient(guestCreds, { guest: true });
  const room = await withTimeout(guest.peekInRoom(roomId), 15000, "peekInRoom");
  assert.equal(room.roomId, roomId);
  assert.equal(room.name, "preview room");
  assert.notEqual(room.getMyMembership(), "join", "a peeking guest is not a member");
  const history = timelineBodies(guest, roomId);
  for (const body of ["history one", "history two", "history three"]) {
    assert.ok(history.includes(body), `peek history lacks "${body}" (has ${JSON.stringify(history)})`);
  }
  assert.ok(room.getMember(memberCreds.userId), "the peek's state lacks the member");

  // A message sent afterwards arrives through the peek's /events poll. The
  // SDK's first poll carries no from token, so it starts at whatever is
  // newest when it reaches the server, which may be after a message sent
  // now. Alice types until that poll answers and the SDK polls on from its
  // end token; from there on nothing can slip between two polls. Typing
  // starts and stops in turn: each is a change that answers a waiting poll.
  const polledOn = () => guest.e2e.events.some((u) => u.searchParams.has("from"));
  let typing = false;
  await waitFor(
    async () => {
      typing = !typing;
      await alice.sendTyping(roomId, typing, 5000);
      await new Promise((r) => setTimeout(r, 250));
      return polledOn();
    },
    15000,
    "the guest's peek to poll /events from a token",
  );
  await alice.sendTyping(roomId, false);
  await alice.sendTextMessage(roomId, "live while you peek");
  const live = await sees(guest, roomId, "live while you peek", 20000);
  assert.equal(live.getSender(), memberCreds.userId);

  await keptSyncing(guest, alice);
});

journey("2. a guest joins a can_join room, chats both ways, sets a display name and sends m.call.member", 60000, async () => {
  const alice = await theMember();
  const { room_id: roomId } = await alice.createRoom(
    guestRoomOptions({ name: "call room", power_level_content_override: { events: { "m.call.member": 0 } } }),
  );

  const guestCreds = await registerGuest();
  const guest = await startClient(guestCreds, { guest: true });
  await withTimeout(guest.joinRoom(roomId), 15000, "the guest's joinRoom");
  await waitFor(() => guest.getRoom(roomId)?.getMyMembership() === "join", 15000, "the guest's client to see itself joined");
  await membershipIs(alice, roomId, guestCreds.userId, "join");

  // Display name: the member's client shows it.
  await guest.setDisplayName("Visiting Vera");
  await waitFor(
    () => alice.getRoom(roomId)?.getMember(guestCreds.userId)?.name === "Visiting Vera",
    15000,
    "the member to see the guest's display name",
  );

  // Chat, both ways.
  await guest.sendTextMessage(roomId, "hello from the guest");
  const atAlice = await sees(alice, roomId, "hello from the guest");
  assert.equal(atAlice.getSender(), guestCreds.userId);
  await alice.sendTextMessage(roomId, "welcome, guest");
  const atGuest = await sees(guest, roomId, "welcome, guest");
  assert.equal(atGuest.getSender(), memberCreds.userId);

  // MatrixRTC membership (MSC4143), per device.
  const stateKey = `_${guestCreds.userId}_${guestCreds.deviceId}`;
  const content = {
    application: "m.call",
    call_id: "",
    scope: "m.room",
    device_id: guestCreds.deviceId,
    expires: 3600000,
    focus_active: { type: "livekit", focus_selection: "oldest_membership" },
    foci_preferred: [{ type: "livekit", livekit_service_url: "https://livekit.invalid", livekit_alias: roomId }],
  };
  const sent = await guest.sendStateEvent(roomId, "m.call.member", content, stateKey);
  assert.ok(sent.event_id, `m.call.member answered ${JSON.stringify(sent)}`);
  await waitFor(
    () => alice.getRoom(roomId)?.currentState.getStateEvents("m.call.member", stateKey)?.getSender() === guestCreds.userId,
    15000,
    "the member to see the guest's m.call.member",
  );
  // (matrix-js-sdk 37.5's MatrixRTC session manager itself still reads
  // the unstable org.matrix.msc3401.call.member type, so the member's
  // room state is what shows the membership here.)
  assert.deepEqual(alice.getRoom(roomId).currentState.getStateEvents("m.call.member", stateKey).getContent(), content);
  await waitFor(
    () => guest.getRoom(roomId)?.currentState.getStateEvents("m.call.member", stateKey)?.getId() === sent.event_id,
    15000,
    "the guest to see its own m.call.member",
  );

  await keptSyncing(guest, alice);
});

journey("3. a guest is removed when the room's guest_access becomes forbidden", 60000, async () => {
  const alice = await theMember();
  const { room_id: roomId } = await alice.createRoom(guestRoomOptions({ name: "soon closed to guests" }));
  const guestCreds = await registerGuest();
  const guest = await startClient(guestCreds, { guest: true });
  await guest.joinRoom(roomId);
  await waitFor(() => guest.getRoom(roomId)?.getMyMembership() === "join", 15000, "the guest to see itself joined");
  await guest.sendTextMessage(roomId, "guest was here");
  await sees(alice, roomId, "guest was here");

  await alice.sendStateEvent(roomId, "m.room.guest_access", { guest_access: "forbidden" }, "");

  await waitFor(() => guest.getRoom(roomId)?.getMyMembership() === "leave", 20000, "the guest's client to see its membership become leave");
  await membershipIs(alice, roomId, guestCreds.userId, "leave");
  // And it cannot come back or write.
  expectRefusal(/\(guest\): POST \/_matrix\/client\/v3\/join\/\S+ -> 403 /);
  await assert.rejects(guest.joinRoom(roomId), (e) => {
    assert.equal(e.httpStatus, 403, `rejoining answered ${e.httpStatus} ${e.errcode}`);
    return e.errcode === "M_FORBIDDEN" || e.errcode === "M_GUEST_ACCESS_FORBIDDEN";
  });
  // (Not through the SDK's send: it logs a failed send as an error.)
  const send = await raw(
    "PUT",
    `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/after-revocation`,
    { msgtype: "m.text", body: "still here?" },
    guestCreds.accessToken,
  );
  assert.equal(send.status, 403, `a removed guest's send answered ${send.status} ${JSON.stringify(send.json)}`);

  await keptSyncing(guest, alice);
});

journey("4. a guest upgrades to a full user and keeps its user ID and rooms", 60000, async (t) => {
  const alice = await theMember();
  const { room_id: roomId } = await alice.createRoom(guestRoomOptions({ name: "upgrade room" }));
  const guestCreds = await registerGuest();
  const guest = await startClient(guestCreds, { guest: true });
  await guest.joinRoom(roomId);
  await waitFor(() => guest.getRoom(roomId)?.getMyMembership() === "join", 15000, "the guest to see itself joined");
  await alice.sendTextMessage(roomId, "said before the upgrade");
  await guest.sendTextMessage(roomId, "the guest, before upgrading");
  await sees(guest, roomId, "said before the upgrade");
  await sees(alice, roomId, "the guest, before upgrading");

  // The spec's upgrade: /register with guest_access_token and the guest's
  // own localpart, through interactive auth. The upgrade revokes the guest
  // token, so the guest's client stops syncing first, as a client that
  // switches to the upgrade's token does.
  guest.stopClient();
  const localpart = guestCreds.userId.slice(1).split(":")[0];
  const password = `pw-${localpart}-upgraded`;
  // MatrixClient.register(username, password, sessionId, auth,
  // bindThreepids, guestAccessToken) is the SDK's call for it, driven by
  // its InteractiveAuth (a first request with no auth, then m.login.dummy).
  expectRefusal(/: POST \/_matrix\/client\/v3\/register -> 401 $/);
  const up = await withTimeout(
    new InteractiveAuth({
      matrixClient: guest,
      doRequest: (auth) => guest.register(localpart, password, null, auth, undefined, guestCreds.accessToken),
      stateUpdated: (stage, status) => {
        throw new Error(`the upgrade asked for ${stage} ${JSON.stringify(status)}`);
      },
      requestEmailToken: () => Promise.reject(new Error("no email")),
    }).attemptAuth(),
    15000,
    "the guest upgrade through interactive auth",
  );
  assert.equal(up.user_id, guestCreds.userId, "the upgrade kept the user ID");
  assert.ok(up.access_token, "the upgrade returned an access token");
  t.diagnostic(`upgrade: device ${up.device_id} (the guest's was ${guestCreds.deviceId})`);

  const user = await startClient({ userId: up.user_id, deviceId: up.device_id, accessToken: up.access_token });
  const who = await user.whoami();
  assert.equal(who.user_id, guestCreds.userId);
  assert.equal(who.is_guest ?? false, false, `whoami after the upgrade: ${JSON.stringify(who)}`);
  assert.equal(user.getRoom(roomId)?.getMyMembership(), "join", "still joined after the upgrade");
  const history = timelineBodies(user, roomId);
  for (const body of ["said before the upgrade", "the guest, before upgrading"]) {
    assert.ok(history.includes(body), `after the upgrade the timeline lacks "${body}" (has ${JSON.stringify(history)})`);
  }
  await user.sendTextMessage(roomId, "now a full user");
  const atAlice = await sees(alice, roomId, "now a full user");
  assert.equal(atAlice.getSender(), guestCreds.userId);
  // A full user may do what a guest may not.
  const own = await user.createRoom({ name: "the upgraded user's own room" });
  assert.ok(own.room_id);
  // The password works too.
  const login = await createClient({ baseUrl }).loginWithPassword(localpart, password);
  assert.equal(login.user_id, guestCreds.userId);

  // The guest token died with the upgrade; the token it returned is the
  // account's now.
  const old = await raw("GET", "/_matrix/client/v3/account/whoami", undefined, guestCreds.accessToken);
  assert.equal(old.status, 401, `the guest token after the upgrade answered ${old.status} ${JSON.stringify(old.json)}`);
  assert.equal(old.json.errcode, "M_UNKNOWN_TOKEN");
  await keptSyncing(user, alice);
});

journey("5. a named guest sets a password through m.login.dummy and logs in with it", 60000, async () => {
  const alice = await theMember();
  const username = uniqueName("named");
  const reg = await registerWithUIA(createClient({ baseUrl }), { username, initial_device_display_name: "named guest" });
  assert.ok(reg.access_token, `named-guest registration answered ${JSON.stringify(reg)}`);
  const namedId = reg.user_id;
  assert.ok(namedId.startsWith(`@${username}:`));

  const named = await startClient({ userId: namedId, deviceId: reg.device_id, accessToken: reg.access_token });
  assert.equal((await named.whoami()).is_guest ?? false, false);
  const { room_id: roomId } = await named.createRoom({ name: "a named guest's room" });
  await named.sendTextMessage(roomId, "named, no password yet");
  await sees(named, roomId, "named, no password yet");

  // The SDK's interactive auth: the server offers only m.login.dummy,
  // which InteractiveAuth completes by itself.
  const password = `pw-${username}-set-later`;
  expectRefusal(/: POST \/_matrix\/client\/v3\/account\/password -> 401 $/);
  const stagesSeen = [];
  const ia = new InteractiveAuth({
    matrixClient: named,
    doRequest: (auth) => named.setPassword(auth ?? undefined, password, false),
    stateUpdated: (stage, status) => {
      stagesSeen.push(stage);
      throw new Error(`password change asked for ${stage} ${JSON.stringify(status)}`);
    },
    requestEmailToken: () => Promise.reject(new Error("no email")),
  });
  await withTimeout(ia.attemptAuth(), 15000, "setting the password through interactive auth");
  assert.deepEqual(stagesSeen, []);

  // From now on only m.login.password is offered.
  const again = await raw("POST", "/_matrix/client/v3/account/password", { new_password: "another-one" }, reg.access_token);
  assert.equal(again.status, 401);
  assert.deepEqual(again.json.flows, [{ stages: ["m.login.password"] }]);

  // loginWithPassword, then a client on the new device.
  const fresh = createClient({ baseUrl });
  const login = await fresh.loginWithPassword(username, password);
  assert.equal(login.user_id, namedId);
  assert.notEqual(login.device_id, reg.device_id);
  const second = await startClient({ userId: login.user_id, deviceId: login.device_id, accessToken: login.access_token });
  assert.equal(second.getRoom(roomId)?.getMyMembership(), "join");
  assert.ok(timelineBodies(second, roomId).includes("named, no password yet"));
  await second.sendTextMessage(roomId, "logged in with my new password");
  await sees(named, roomId, "logged in with my new password");

  // logout_devices false: the first device keeps syncing.
  await keptSyncing(named, alice);
  await keptSyncing(second, alice);
});

journey("6. a member's guest link is redeemed; the new guest starts in the room and chats", 60000, async () => {
  const alice = await theMember();
  // Invite-only: redemption goes through the creator's invite.
  const { room_id: roomId } = await alice.createRoom(guestRoomOptions({ preset: "private_chat", name: "link room" }));

  const link = await alice.http.authedRequest(
    Method.Post,
    `/rooms/${encodeURIComponent(roomId)}/guest_links`,
    undefined,
    { max_uses: 1, expires_in_ms: 10 * 60 * 1000 },
    { prefix: "/_foyer/client/v1" },
  );
  assert.equal(typeof link.token, "string");
  assert.equal(link.room_id, roomId);
  assert.equal(link.max_uses, 1);
  assert.equal(link.uses, 0);

  const redeemPath = `/_foyer/client/v1/guest_links/${encodeURIComponent(link.token)}/redeem`;
  const redeemed = await raw("POST", redeemPath, { initial_device_display_name: "link guest" });
  assert.equal(redeemed.status, 200, `redeem answered ${redeemed.status} ${JSON.stringify(redeemed.json)}`);
  const r = redeemed.json;
  assert.equal(r.room_id, roomId);
  assert.ok(r.user_id && r.access_token && r.device_id);

  const guest = await startClient({ userId: r.user_id, deviceId: r.device_id, accessToken: r.access_token }, { guest: true });
  assert.equal(guest.getRoom(roomId)?.getMyMembership(), "join", "the link guest's first sync has the room joined");
  assert.equal(guest.getRoom(roomId)?.name, "link room");
  assert.equal((await guest.whoami()).is_guest, true);

  await guest.sendTextMessage(roomId, "arrived by link");
  const atAlice = await sees(alice, roomId, "arrived by link");
  assert.equal(atAlice.getSender(), r.user_id);
  await alice.sendTextMessage(roomId, "glad the link worked");
  await sees(guest, roomId, "glad the link worked");

  // max_uses 1: used up.
  const second = await raw("POST", redeemPath, {});
  assert.equal(second.status, 403, `a used-up link answered ${second.status} ${JSON.stringify(second.json)}`);
  assert.equal(second.json.errcode, "M_FORBIDDEN");

  await keptSyncing(guest, alice);
});

test("the SDK logged no errors during the whole run", { timeout: 10000 }, async () => {
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(errorsSince(0), []);
});
