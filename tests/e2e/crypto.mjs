// Real clients with end-to-end encryption, shared by the test files that
// need them: matrix-js-sdk 37.5.0 with its Rust crypto. Every client
// started here is listed in clients, for the test file to stop.
import { after } from "node:test";

import { createClient, ClientEvent } from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

import { baseUrl, waitFor, withTimeout } from "./helpers.mjs";

export const clients = [];

// quietClientsStoppedAfterTests silences the SDK and its Rust crypto
// (tracing on console.debug/info; E2E_DEBUG=1 shows everything) and stops
// every client when the calling file's tests end.
export function quietClientsStoppedAfterTests() {
  if (!process.env.E2E_DEBUG) {
    logger.setLevel("error");
    console.debug = () => {};
    console.info = () => {};
  }
  after(() => {
    for (const c of clients) {
      c.stopClient();
    }
    // The SDK leaves request-timeout and capability-refresh timers behind
    // (up to minutes) after stopClient; don't wait for them.
    setTimeout(() => process.exit(), 1000).unref();
  });
}

// startCryptoClient logs a client in with the Rust crypto (in memory) on
// server (FOYER_URL unless given) and waits for its first sync;
// cryptoCallbacks give it a secret storage key when asked.
export async function startCryptoClient(creds, { guest = false, fetchFn, server = baseUrl, cryptoCallbacks } = {}) {
  const client = createClient({
    baseUrl: server,
    userId: creds.userId,
    deviceId: creds.deviceId,
    accessToken: creds.accessToken,
    ...(fetchFn ? { fetchFn } : {}),
    ...(cryptoCallbacks ? { cryptoCallbacks } : {}),
  });
  clients.push(client);
  if (guest) {
    client.setGuest(true);
  }
  await client.initRustCrypto({ useIndexedDB: false });
  const synced = new Promise((resolve) => {
    const onSync = (state) => {
      if (state === "PREPARED" || state === "SYNCING") {
        client.off(ClientEvent.Sync, onSync);
        resolve();
      }
    };
    client.on(ClientEvent.Sync, onSync);
  });
  await client.startClient({ initialSyncLimit: 20 });
  await withTimeout(synced, 30000, `${creds.userId}'s first sync`);
  return client;
}

// deviceKnown waits until client's crypto lists userId's deviceId,
// fetching the user's devices (as a client does for a new room member).
export async function deviceKnown(client, userId, deviceId) {
  await waitFor(
    async () => {
      const map = await client.getCrypto().getUserDeviceInfo([userId], true);
      return map.get(userId)?.has(deviceId);
    },
    30000,
    `${client.getUserId()} to know ${userId}'s device ${deviceId}`,
  );
}

// decrypted waits until client has decrypted a message with body in the
// room, and returns the event. Keys may arrive by to-device after the
// message itself: decryption is retried, so watch for Decrypted too.
export async function decrypted(client, roomId, body, ms = 30000) {
  const find = () => {
    const room = client.getRoom(roomId);
    if (!room) {
      return null;
    }
    for (const ev of room.getLiveTimeline().getEvents()) {
      if (ev.isEncrypted() && !ev.isDecryptionFailure() && ev.getType() === "m.room.message" && ev.getContent().body === body) {
        return ev;
      }
    }
    return null;
  };
  const ev = await waitFor(async () => find(), ms, `${client.getUserId()} (${client.getDeviceId()}) to decrypt "${body}"`);
  return ev;
}

export async function joinedMembers(client, roomId) {
  const r = await client.getJoinedRoomMembers(roomId);
  return Object.keys(r.joined);
}
