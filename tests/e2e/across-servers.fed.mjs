// Two homeservers, a real client on each: matrix-js-sdk 37.5.0 with its
// Rust crypto. Started by TestMatrixJSSDKAcrossServers
// (tests/integration), which runs two federating Foyer servers and sets
// FOYER_URL (server A) and FOYER_URL_B; not part of run.sh's glob.
//
// Alice on A creates an encrypted room; Bob on B joins it through A
// (make_join/send_join), each fetches the other's devices over
// federation (/user/keys/query), claims one-time keys (/user/keys/claim),
// sends room keys over to-device (m.direct_to_device) and decrypts the
// other's messages; a guest on B joins too when the room allows guests.
import { test } from "node:test";
import assert from "node:assert/strict";

import { api, baseUrl, registerUser, waitFor } from "./helpers.mjs";
import { decrypted, deviceKnown, joinedMembers, quietClientsStoppedAfterTests, startCryptoClient } from "./crypto.mjs";

const serverB = process.env.FOYER_URL_B;
if (!serverB) {
  throw new Error("FOYER_URL_B is not set; TestMatrixJSSDKAcrossServers runs this file");
}

quietClientsStoppedAfterTests();

async function registerGuest(server) {
  const r = await api("POST", "/register?kind=guest", {}, undefined, server);
  return { userId: r.user_id, deviceId: r.device_id, accessToken: r.access_token };
}

const serverNameOf = (userId) => userId.slice(userId.indexOf(":") + 1);

test("users of two servers decrypt each other's messages in a room of one of them", { timeout: 140000 }, async () => {
  const aliceCreds = await registerUser("fed", baseUrl);
  const bobCreds = await registerUser("fed", serverB);
  const alice = await startCryptoClient(aliceCreds, { server: baseUrl });
  const bob = await startCryptoClient(bobCreds, { server: serverB });

  const { room_id: roomId } = await alice.createRoom({
    preset: "public_chat",
    name: "encrypted across servers",
    initial_state: [
      { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
      { type: "m.room.guest_access", state_key: "", content: { guest_access: "can_join" } },
    ],
  });
  await bob.joinRoom(roomId, { viaServers: [serverNameOf(aliceCreds.userId)] });
  await waitFor(async () => (await joinedMembers(alice, roomId)).includes(bobCreds.userId), 20000, "bob's join at A");
  await waitFor(() => alice.getRoom(roomId)?.getMember(bobCreds.userId)?.membership === "join", 20000, "alice to see bob join");
  await waitFor(() => bob.getRoom(roomId)?.hasEncryptionStateEvent(), 20000, "bob to see the room's encryption");

  await deviceKnown(alice, bobCreds.userId, bobCreds.deviceId);
  await deviceKnown(bob, aliceCreds.userId, aliceCreds.deviceId);

  await alice.sendTextMessage(roomId, "hello bob on the other server");
  const atBob = await decrypted(bob, roomId, "hello bob on the other server", 45000);
  assert.equal(atBob.getSender(), aliceCreds.userId);
  assert.equal(atBob.getWireType(), "m.room.encrypted");

  await bob.sendTextMessage(roomId, "hello alice, from server B");
  const atAlice = await decrypted(alice, roomId, "hello alice, from server B", 45000);
  assert.equal(atAlice.getSender(), bobCreds.userId);

  // A guest of B joins (the room allows guests), learns both devices and
  // decrypts what alice sends after it joined.
  const guestCreds = await registerGuest(serverB);
  const guest = await startCryptoClient(guestCreds, { guest: true, server: serverB });
  await guest.joinRoom(roomId, { viaServers: [serverNameOf(aliceCreds.userId)] });
  await waitFor(() => alice.getRoom(roomId)?.getMember(guestCreds.userId)?.membership === "join", 20000, "alice to see the guest join");
  await deviceKnown(alice, guestCreds.userId, guestCreds.deviceId);
  await deviceKnown(guest, aliceCreds.userId, aliceCreds.deviceId);
  await alice.sendTextMessage(roomId, "welcome, guest of B");
  const atGuest = await decrypted(guest, roomId, "welcome, guest of B", 45000);
  assert.equal(atGuest.getSender(), aliceCreds.userId);
  await decrypted(bob, roomId, "welcome, guest of B", 45000);

  // Neither server stored plaintext.
  for (const [server, token] of [[baseUrl, aliceCreds.accessToken], [serverB, bobCreds.accessToken]]) {
    const page = await api("GET", `/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=50`, undefined, token, server);
    assert.equal(page.chunk.filter((e) => e.type === "m.room.message").length, 0, `plaintext stored on ${server}`);
  }
});
