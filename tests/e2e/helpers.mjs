// What both real-client test files need: the server's address, timeouts
// that say what was awaited, and requests made without the SDK.

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
