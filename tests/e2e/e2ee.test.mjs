// Real-client proof of end-to-end encryption on Foyer: matrix-js-sdk
// 37.5.0 with its Rust crypto (initRustCrypto, in memory) against a
// running server (FOYER_URL, started by run.sh).
//
// 1. A guest and a registered user share an encrypted room; each decrypts
//    the other's messages (G-45..G-47: keys, claims, device lists and
//    to-device messages, all on the guest's side too).
// 2. The user's second device, offline while messages are sent, receives
//    the room keys over to-device when it next syncs (the server kept them)
//    and decrypts that history.
import { test } from "node:test";
import assert from "node:assert/strict";

import { createClient, MatrixEventEvent } from "matrix-js-sdk";

import { api, baseUrl, login, registerUser, waitFor, withTimeout } from "./helpers.mjs";
import { clients, decrypted, deviceKnown, joinedMembers, quietClientsStoppedAfterTests, startCryptoClient } from "./crypto.mjs";

quietClientsStoppedAfterTests();

async function registerGuest() {
  const tmp = createClient({ baseUrl });
  const r = await tmp.registerGuest();
  return { userId: r.user_id, deviceId: r.device_id, accessToken: r.access_token };
}

// syncGate lets a client's /sync requests through only while open (after
// an initial allowance), so a test can take a device offline.
function syncGate(allowed) {
  let open = null;
  let release;
  const gate = {
    close() {
      if (!open) {
        open = new Promise((r) => (release = r));
      }
    },
    open() {
      if (open) {
        release();
        open = null;
      }
    },
    async fetchFn(resource, init) {
      const url = String(resource instanceof Request ? resource.url : resource);
      if (url.includes("/sync")) {
        if (allowed > 0) {
          allowed--;
          if (allowed === 0) {
            gate.close();
          }
        } else {
          while (open) {
            await open;
          }
        }
      }
      const res = await fetch(resource, init);
      if (url.includes("/sync") && res.ok) {
        // Note what the server delivered to the device over to-device.
        const body = await res.clone().json();
        gate.toDevice.push(...(body.to_device?.events ?? []));
      }
      return res;
    },
    toDevice: [],
  };
  return gate;
}

test("a guest and a registered user decrypt each other's messages; a second device decrypts history from keys sent while it was offline", { timeout: 120000 }, async () => {
  // Alice, a registered user, and a guest.
  const aliceCreds = await registerUser();
  const guestCreds = await registerGuest();
  const alice = await startCryptoClient(aliceCreds);
  const guest = await startCryptoClient(guestCreds, { guest: true });

  // Alice creates an encrypted room guests may join; the guest joins.
  const { room_id: roomId } = await alice.createRoom({
    preset: "public_chat",
    name: "encrypted with a guest",
    initial_state: [
      { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
      { type: "m.room.guest_access", state_key: "", content: { guest_access: "can_join" } },
    ],
  });
  await guest.joinRoom(roomId);
  await waitFor(async () => (await joinedMembers(alice, roomId)).includes(guestCreds.userId), 15000, "the guest's join");
  await waitFor(() => alice.getRoom(roomId)?.getMember(guestCreds.userId)?.membership === "join", 15000, "alice to see the guest join");
  await waitFor(() => guest.getRoom(roomId)?.hasEncryptionStateEvent(), 15000, "the guest to see the room's encryption");

  // Each side fetches the other's devices (uploaded, signed, queried).
  await deviceKnown(alice, guestCreds.userId, guestCreds.deviceId);
  await deviceKnown(guest, aliceCreds.userId, aliceCreds.deviceId);

  // Alice -> guest.
  await alice.sendTextMessage(roomId, "hello guest, this is encrypted");
  const atGuest = await decrypted(guest, roomId, "hello guest, this is encrypted");
  assert.equal(atGuest.getSender(), aliceCreds.userId);
  assert.equal(atGuest.getWireType(), "m.room.encrypted");

  // Guest -> alice.
  await guest.sendTextMessage(roomId, "hello alice, the guest writes back");
  const atAlice = await decrypted(alice, roomId, "hello alice, the guest writes back");
  assert.equal(atAlice.getSender(), guestCreds.userId);
  assert.equal(atAlice.getWireType(), "m.room.encrypted");

  // The server saw only ciphertext.
  const raw = await api("GET", `/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=50`, undefined, aliceCreds.accessToken);
  const bodies = raw.chunk.filter((e) => e.type === "m.room.message");
  assert.equal(bodies.length, 0, "plaintext messages stored on the server");
  assert.ok(raw.chunk.filter((e) => e.type === "m.room.encrypted").length >= 2);

  // Alice's second device logs in, syncs once (uploading its keys), then
  // goes offline: its next /sync is held back.
  const secondCreds = await login(aliceCreds);
  const gate = syncGate(1);
  const second = await startCryptoClient(secondCreds, { fetchFn: gate.fetchFn });
  await waitFor(
    async () => {
      const q = await api("POST", "/keys/query", { device_keys: { [aliceCreds.userId]: [secondCreds.deviceId] } }, guestCreds.accessToken);
      return q.device_keys[aliceCreds.userId]?.[secondCreds.deviceId];
    },
    30000,
    "the second device's keys on the server",
  );

  // Both senders learn of the new device (device_lists.changed) and
  // encrypt to it while it is offline.
  await deviceKnown(guest, aliceCreds.userId, secondCreds.deviceId);
  await deviceKnown(alice, aliceCreds.userId, secondCreds.deviceId);
  await guest.sendTextMessage(roomId, "sent by the guest while the second device was offline");
  await alice.sendTextMessage(roomId, "sent by alice's first device while the second was offline");
  // The first device decrypts its own session's and the guest's message.
  await decrypted(alice, roomId, "sent by the guest while the second device was offline");

  // Online again: the held sync goes out; the room keys arrive over
  // to-device and the second device decrypts the history it missed.
  gate.open();
  const fromGuest = await decrypted(second, roomId, "sent by the guest while the second device was offline", 45000);
  const fromAlice = await decrypted(second, roomId, "sent by alice's first device while the second was offline", 45000);
  assert.equal(fromGuest.getSender(), guestCreds.userId);
  assert.equal(fromAlice.getSender(), aliceCreds.userId);
  // The keys came as olm-encrypted to-device messages the server kept
  // for the offline device.
  const olm = gate.toDevice.filter((e) => e.type === "m.room.encrypted" && e.content?.algorithm === "m.olm.v1.curve25519-aes-sha2");
  const senders = new Set(olm.map((e) => e.sender));
  assert.ok(senders.has(guestCreds.userId), `no olm to-device message from the guest (got ${[...senders]})`);
  assert.ok(senders.has(aliceCreds.userId), `no olm to-device message from alice's first device (got ${[...senders]})`);

  // And the second device's replies reach both others.
  await deviceKnown(second, guestCreds.userId, guestCreds.deviceId);
  await second.sendTextMessage(roomId, "alice's second device says hi");
  await decrypted(guest, roomId, "alice's second device says hi");
  await decrypted(alice, roomId, "alice's second device says hi");
});

// The guest and alice's first device were there for every message:
// nothing they hold may stay undecryptable.
test("no decryption failures remain for the guest and alice's first device", { timeout: 20000 }, async () => {
  assert.ok(clients.length >= 2);
  for (const c of clients.slice(0, 2)) {
    let checked = 0;
    for (const room of c.getRooms()) {
      for (const ev of room.getLiveTimeline().getEvents()) {
        if (ev.isEncrypted()) {
          await withTimeout(
            ev.isBeingDecrypted() ? new Promise((r) => ev.once(MatrixEventEvent.Decrypted, r)) : Promise.resolve(),
            10000,
            "a pending decryption",
          );
          assert.ok(!ev.isDecryptionFailure(), `${c.getUserId()}/${c.getDeviceId()} could not decrypt ${ev.getId()}: ${ev.decryptionFailureReason}`);
          checked++;
        }
      }
    }
    // Both were there for all five messages of the first test.
    assert.ok(checked >= 5, `${c.getUserId()}/${c.getDeviceId()} holds only ${checked} encrypted events`);
  }
});
