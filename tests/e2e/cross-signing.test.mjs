// Cross-signing as Element sets it up (it does so because /versions
// advertises org.matrix.e2e_cross_signing): matrix-js-sdk 37.5.0 with its
// Rust crypto bootstraps cross-signing and secret storage for alice; her
// second device, verified with the recovery key, signs itself; and bob,
// who shares an encrypted room with her, sees her messages from that
// device without the "device not verified by its owner" warning he saw
// before.
import { test } from "node:test";
import assert from "node:assert/strict";

import { EventShieldColour, EventShieldReason } from "matrix-js-sdk/lib/crypto-api/index.js";

import { login, raw, registerUser, waitFor } from "./helpers.mjs";
import { decrypted, deviceKnown, quietClientsStoppedAfterTests, startCryptoClient } from "./crypto.mjs";

quietClientsStoppedAfterTests();

// The recovery key alice's devices answer secret storage with.
function recoveryKeyHolder() {
  const holder = {
    key: null,
    callbacks: {
      getSecretStorageKey: async ({ keys }) => {
        const keyId = Object.keys(keys)[0];
        return holder.key ? [keyId, holder.key.privateKey] : null;
      },
    },
  };
  return holder;
}

async function shieldOf(client, ev) {
  const info = await client.getCrypto().getEncryptionInfoForEvent(ev);
  return info;
}

test("a device cross-signed through secret storage sends messages with no unverified-device warning", { timeout: 120000 }, async () => {
  const versions = await raw("GET", "/_matrix/client/versions");
  assert.equal(versions.json.unstable_features["org.matrix.e2e_cross_signing"], true);

  const alice = await registerUser("xs");
  const bob = await registerUser("xs");
  const recovery = recoveryKeyHolder();
  const a1 = await startCryptoClient(alice, { cryptoCallbacks: recovery.callbacks });
  const b = await startCryptoClient(bob);

  // Element's "set up secure backup": cross-signing keys (uploaded with
  // the password through user-interactive auth) and secret storage.
  await a1.getCrypto().bootstrapCrossSigning({
    authUploadDeviceSigningKeys: async (makeRequest) => {
      await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: alice.username }, password: alice.password });
    },
  });
  await a1.getCrypto().bootstrapSecretStorage({
    setupNewSecretStorage: true,
    createSecretStorageKey: async () => {
      recovery.key = await a1.getCrypto().createRecoveryKeyFromPassphrase();
      return recovery.key;
    },
  });
  assert.equal(await a1.getCrypto().isCrossSigningReady(), true, "cross-signing is ready on the first device");
  assert.equal(await a1.getCrypto().isSecretStorageReady(), true, "secret storage is ready");
  const own = await a1.getCrypto().getDeviceVerificationStatus(alice.userId, alice.deviceId);
  assert.equal(own?.crossSigningVerified, true, "the first device is signed by alice's cross-signing key");

  const room = await a1.createRoom({
    invite: [bob.userId],
    initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
  });
  await waitFor(() => b.getRoom(room.room_id), 30000, "bob to see the invite");
  await b.joinRoom(room.room_id);

  const a2creds = await login(alice);
  const a2 = await startCryptoClient(a2creds, { cryptoCallbacks: recovery.callbacks });
  await deviceKnown(b, alice.userId, a2creds.deviceId);
  await waitFor(() => a2.getRoom(room.room_id)?.hasEncryptionStateEvent(), 30000, "alice's second device to see the encrypted room");

  await a2.sendTextMessage(room.room_id, "before verifying");
  const before = await decrypted(b, room.room_id, "before verifying");
  const unsigned = await shieldOf(b, before);
  assert.equal(unsigned?.shieldColour, EventShieldColour.RED, "an unsigned device's message carries a red shield");
  assert.equal(unsigned?.shieldReason, EventShieldReason.UNSIGNED_DEVICE);

  // "Verify with recovery key": the second device takes the cross-signing
  // keys from secret storage and signs itself.
  await a2.getCrypto().bootstrapCrossSigning({});
  await a2.getCrypto().crossSignDevice(a2creds.deviceId);
  assert.equal(await a2.getCrypto().isCrossSigningReady(), true, "cross-signing is ready on the second device");

  await a2.sendTextMessage(room.room_id, "after verifying");
  const after = await decrypted(b, room.room_id, "after verifying");
  await waitFor(
    async () => {
      await b.getCrypto().getUserDeviceInfo([alice.userId], true);
      const status = await b.getCrypto().getDeviceVerificationStatus(alice.userId, a2creds.deviceId);
      return status?.signedByOwner;
    },
    30000,
    "bob to see alice's second device signed by her",
  );
  const signed = await shieldOf(b, after);
  assert.equal(signed?.shieldColour, EventShieldColour.NONE, `no shield on a cross-signed device's message (reason ${signed?.shieldReason})`);
  await waitFor(
    async () => {
      await a1.getCrypto().getUserDeviceInfo([alice.userId], true);
      return (await a1.getCrypto().getDeviceVerificationStatus(alice.userId, a2creds.deviceId))?.crossSigningVerified;
    },
    30000,
    "alice's first device to see her second one verified",
  );
});
