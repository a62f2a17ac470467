// The join page's proof-of-work worker: finds a nonce such that
// SHA-256(challenge ":" nonce) starts with `bits` zero bits, the stage
// foyer.login.proof_of_work (internal/proofofwork). It runs off the page's
// thread so the page stays responsive, and reports how many tries it has
// made for the progress bar.
//
// SHA-256 is written out here rather than taken from crypto.subtle: that
// exists only on secure origins and answers through a promise per hash,
// and the first 64-byte block of every message is the same, so its state
// is computed once and each try hashes only the rest.
"use strict";

// Round constants and initial state of SHA-256 (FIPS 180-4).
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const H0 = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const W = new Int32Array(64);

// compress folds the 64-byte block of m at offset o into state H.
function compress(H, m, o) {
  for (let i = 0; i < 16; i++) {
    const j = o + 4 * i;
    W[i] = (m[j] << 24) | (m[j + 1] << 16) | (m[j + 2] << 8) | m[j + 3];
  }
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15];
    const w2 = W[i - 2];
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
  }
  let a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
  }
  H[0] = (H[0] + a) | 0; H[1] = (H[1] + b) | 0; H[2] = (H[2] + c) | 0; H[3] = (H[3] + d) | 0;
  H[4] = (H[4] + e) | 0; H[5] = (H[5] + f) | 0; H[6] = (H[6] + g) | 0; H[7] = (H[7] + h) | 0;
}

// zeroBits counts the zero bits at the start of the digest in H.
function zeroBits(H) {
  let n = 0;
  for (let i = 0; i < 8; i++) {
    const z = Math.clz32(H[i]);
    n += z;
    if (z < 32) break;
  }
  return n;
}

// solve returns the first nonce (a decimal number) that gives `bits`
// zero bits, calling progress(tries) now and then.
function solve(challenge, bits, progress) {
  const prefix = new TextEncoder().encode(challenge + ":");
  const whole = prefix.length - (prefix.length % 64);
  const mid = new Int32Array(H0);
  for (let o = 0; o < whole; o += 64) compress(mid, prefix, o);
  const tail = prefix.subarray(whole);
  // The tail, the nonce, the 0x80 byte and the length: two blocks at most.
  const buf = new Uint8Array(128);
  buf.set(tail);
  const state = new Int32Array(8);
  for (let n = 0; ; n++) {
    const nonce = String(n);
    let len = tail.length;
    for (let i = 0; i < nonce.length; i++) buf[len++] = nonce.charCodeAt(i);
    const bitLength = (whole + len) * 8;
    buf[len++] = 0x80;
    const end = len + 8 <= 64 ? 64 : 128;
    buf.fill(0, len, end - 4);
    buf[end - 4] = bitLength >>> 24;
    buf[end - 3] = bitLength >>> 16;
    buf[end - 2] = bitLength >>> 8;
    buf[end - 1] = bitLength;
    state.set(mid);
    compress(state, buf, 0);
    if (end === 128) compress(state, buf, 64);
    if (zeroBits(state) >= bits) return { nonce, tries: n + 1 };
    if ((n & 0x3fff) === 0x3fff) progress(n + 1);
  }
}

if (typeof self !== "undefined" && typeof self.postMessage === "function") {
  self.onmessage = (e) => {
    const { challenge, bits } = e.data;
    const started = performance.now();
    const found = solve(String(challenge), Number(bits), (tries) => self.postMessage({ tries }));
    self.postMessage({ nonce: found.nonce, tries: found.tries, ms: performance.now() - started });
  };
}
