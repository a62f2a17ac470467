// What the real-client test files share: the server's address, timeouts
// that say what was awaited, requests made without the SDK, and accounts.

export const baseUrl = process.env.FOYER_URL;
if (!baseUrl) {
  throw new Error("FOYER_URL is not set; run tests/e2e/run.sh");
}

// withTimeout fails after ms with what was being waited for.
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// waitFor polls check until it returns a truthy value.
export async function waitFor(check, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) {
      return v;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// raw answers a request made without the SDK, status and body.
export async function raw(method, path, body, token) {
  return rawAt(baseUrl, method, path, body, token);
}

// rawAt is raw to the server at server (another homeserver of a test).
export async function rawAt(server, method, path, body, token) {
  const res = await fetch(server + path, {
    method,
    headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = { unparsed: text };
  }
  return { status: res.status, json };
}

// api makes a client-server v3 request (to server, FOYER_URL unless
// given) and fails on any error status.
export async function api(method, path, body, token, server = baseUrl) {
  const r = await rawAt(server, method, "/_matrix/client/v3" + path, body, token);
  if (r.status >= 300) {
    throw new Error(`${server} ${method} ${path}: ${r.status} ${JSON.stringify(r.json)}`);
  }
  return r.json;
}

let registered = 0;

// registerUser registers a user with a password (m.login.dummy), its
// name made unique from prefix.
export async function registerUser(prefix = "e2e", server = baseUrl) {
  registered++;
  const username = `${prefix}${Date.now().toString(36)}${registered}`;
  const password = `pw-${username}-secret`;
  const r = await api("POST", "/register", { username, password, auth: { type: "m.login.dummy" } }, undefined, server);
  return { userId: r.user_id, deviceId: r.device_id, accessToken: r.access_token, username, password };
}

// login logs a user registerUser made in again: a new device.
export async function login(user, server = baseUrl) {
  const r = await api(
    "POST",
    "/login",
    { type: "m.login.password", identifier: { type: "m.id.user", user: user.username }, password: user.password },
    undefined,
    server,
  );
  return { userId: r.user_id, deviceId: r.device_id, accessToken: r.access_token };
}
