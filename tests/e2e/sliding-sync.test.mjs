// Real-client proof of simplified sliding sync (MSC4186) on Foyer:
// matrix-js-sdk 37.5.0's SlidingSync, with its Rust crypto, against a
// running server (FOYER_URL, started by run.sh). The client reaches a
// room list (an invite, then the joined room with its name), a timeline,
// and exchanges encrypted messages with a /sync client, its keys and
// room keys arriving through the e2ee and to_device extensions.
import { test } from "node:test";
import assert from "node:assert/strict";

import { createClient, ClientEvent } from "matrix-js-sdk";
import { SlidingSync } from "matrix-js-sdk/lib/sliding-sync.js";

import { registerUser, waitFor, withTimeout } from "./helpers.mjs";
import { clients, decrypted, deviceKnown, quietClientsStoppedAfterTests, startCryptoClient } from "./crypto.mjs";
import { baseUrl } from "./helpers.mjs";

quietClientsStoppedAfterTests();

// startSlidingClient starts a client whose sync is sliding sync: one list
// of the 20 most recent rooms with all their state.
async function startSlidingClient(creds) {
  const client = createClient({ baseUrl, userId: creds.userId, deviceId: creds.deviceId, accessToken: creds.accessToken });
  clients.push(client);
  await client.initRustCrypto({ useIndexedDB: false });
  const lists = new Map([["rooms", { ranges: [[0, 19]], timeline_limit: 20, required_state: [["*", "*"]] }]]);
  const slidingSync = new SlidingSync(baseUrl, lists, { timeline_limit: 20, required_state: [["*", "*"]] }, client, 10000);
  const synced = new Promise((resolve) => {
    const onSync = (state) => {
      if (state === "PREPARED" || state === "SYNCING") {
        client.off(ClientEvent.Sync, onSync);
        resolve();
      }
    };
    client.on(ClientEvent.Sync, onSync);
  });
  await client.startClient({ slidingSync });
  await withTimeout(synced, 30000, `${creds.userId}'s first sliding sync`);
  return { client, slidingSync };
}

test("a SlidingSync client lists its rooms, joins an invite, and exchanges encrypted messages with a /sync client", { timeout: 120000 }, async () => {
  const aliceCreds = await registerUser("slide");
  const bobCreds = await registerUser("bob");
  const { client: alice, slidingSync } = await startSlidingClient(aliceCreds);
  const bob = await startCryptoClient(bobCreds);

  // Bob makes an encrypted room and invites alice: her room list shows
  // the invite.
  const { room_id: roomId } = await bob.createRoom({
    name: "sliding and encrypted",
    invite: [aliceCreds.userId],
    initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
  });
  await waitFor(() => alice.getRoom(roomId)?.getMyMembership() === "invite", 20000, "the invite in alice's room list");
  assert.ok(slidingSync.getListData("rooms").joinedCount >= 1);

  await alice.joinRoom(roomId);
  await waitFor(() => alice.getRoom(roomId)?.getMyMembership() === "join", 20000, "alice's join seen by sliding sync");
  await waitFor(() => alice.getRoom(roomId)?.name === "sliding and encrypted", 20000, "the room's name");
  await waitFor(() => alice.getRoom(roomId)?.hasEncryptionStateEvent(), 20000, "the room's encryption in required_state");
  await waitFor(() => bob.getRoom(roomId)?.getMember(aliceCreds.userId)?.membership === "join", 20000, "bob to see alice join");

  // Each knows the other's device: alice's from the e2ee extension's
  // device list changes, bob's as a /sync client.
  await deviceKnown(bob, aliceCreds.userId, aliceCreds.deviceId);
  await deviceKnown(alice, bobCreds.userId, bobCreds.deviceId);

  // Bob -> alice: the room key reaches alice over the to_device extension.
  await bob.sendTextMessage(roomId, "hello sliding alice");
  const atAlice = await decrypted(alice, roomId, "hello sliding alice");
  assert.equal(atAlice.getSender(), bobCreds.userId);
  assert.equal(atAlice.getWireType(), "m.room.encrypted");

  // Alice -> bob.
  await alice.sendTextMessage(roomId, "hello bob, from sliding sync");
  const atBob = await decrypted(bob, roomId, "hello bob, from sliding sync");
  assert.equal(atBob.getSender(), aliceCreds.userId);

  // The timeline holds both, in order.
  const bodies = alice
    .getRoom(roomId)
    .getLiveTimeline()
    .getEvents()
    .filter((e) => e.getType() === "m.room.message")
    .map((e) => e.getContent().body);
  assert.deepEqual(bodies.slice(-2), ["hello sliding alice", "hello bob, from sliding sync"]);
});
