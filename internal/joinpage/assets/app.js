// Foyer's join page: a guest link or a room address, straight into the room.
//
// Plain JavaScript on purpose: one file, no build step, no dependencies.
// Rules kept throughout:
//  - every piece of text from the server goes into the page through
//    textContent (or an attribute of an element made here), never as HTML;
//  - the access token travels in the Authorization header only, never in a
//    URL; it is kept in localStorage so a reload keeps the same account;
//  - the guest link token is dropped from the address bar (history) as soon
//    as it has been redeemed.
"use strict";

(() => {
  const API = "/_matrix/client/v3";
  const serverName = meta("foyer-server-name");
  const guestRegistrationOpen = meta("foyer-guest-registration") === "open";
  // The human checks the server asks of new guests, done here (see
  // "Human checks" below).
  const guestChecks = meta("foyer-guest-checks").split(" ").filter(Boolean);
  const captchaProvider = meta("foyer-captcha-provider");
  const captchaScript = meta("foyer-captcha-script");
  const powWorkerURL = meta("foyer-pow-worker");

  function meta(name) {
    const el = document.querySelector(`meta[name="${name}"]`);
    return el ? el.getAttribute("content") : "";
  }
  const $ = (id) => document.getElementById(id);

  // ---- Storage: accounts and which one is used in which room. ----

  const store = {
    read(key, fallback) {
      try {
        const v = JSON.parse(localStorage.getItem(key));
        return v && typeof v === "object" ? v : fallback;
      } catch {
        return fallback;
      }
    },
    write(key, value) {
      try {
        localStorage.setItem(key, JSON.stringify(value));
      } catch {
        // Private mode or a full store: the page still works until reload.
      }
    },
    accounts() { return store.read("foyer.accounts", {}); },
    account(userId) { return userId ? store.accounts()[userId] || null : null; },
    saveAccount(acct) {
      const all = store.accounts();
      all[acct.user_id] = acct;
      store.write("foyer.accounts", all);
      try { localStorage.setItem("foyer.current", acct.user_id); } catch { /* ignore */ }
    },
    dropAccount(userId) {
      const all = store.accounts();
      delete all[userId];
      store.write("foyer.accounts", all);
    },
    current() {
      let id = null;
      try { id = localStorage.getItem("foyer.current"); } catch { /* ignore */ }
      return store.account(id) || Object.values(store.accounts())[0] || null;
    },
    roomAccount(roomId) { return store.account(store.read("foyer.rooms", {})[roomId]); },
    setRoomAccount(roomId, userId) {
      const rooms = store.read("foyer.rooms", {});
      rooms[roomId] = userId;
      store.write("foyer.rooms", rooms);
    },
    // replaceAccount puts a renamed guest's new account in its place: the
    // guest's entry goes, and each room that was the guest's becomes the
    // new account's if it moved there.
    replaceAccount(oldId, acct, movedRooms) {
      store.saveAccount(acct);
      store.dropAccount(oldId);
      const rooms = store.read("foyer.rooms", {});
      for (const [roomId, userId] of Object.entries(rooms)) {
        if (userId !== oldId) continue;
        if (movedRooms.includes(roomId)) rooms[roomId] = acct.user_id;
        else delete rooms[roomId];
      }
      store.write("foyer.rooms", rooms);
    },
    linkRoom(hash) { return hash ? store.read("foyer.links", {})[hash] || null : null; },
    setLinkRoom(hash, roomId) {
      if (!hash) return;
      const links = store.read("foyer.links", {});
      links[hash] = roomId;
      store.write("foyer.links", links);
    },
  };

  // ---- The client API. ----

  class MatrixError extends Error {
    constructor(status, body) {
      super((body && body.error) || `the server answered ${status}`);
      this.status = status;
      this.errcode = (body && body.errcode) || "";
      this.body = body || {};
    }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // api calls the client API as acct (or without a token). A 429 is waited
  // out as the server asks (retry_after_ms), a few times at most.
  async function api(method, path, { acct = null, body, query, signal, uia = false } = {}) {
    let url = path;
    if (query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) q.set(k, String(v));
      url += "?" + q.toString();
    }
    const headers = {};
    if (acct) headers.Authorization = "Bearer " + acct.access_token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(url, {
        method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer",
      });
      let data = {};
      try { data = await res.json(); } catch { data = {}; }
      if (res.ok) return data;
      if (res.status === 401 && uia && data.session) return { uia: data };
      if (res.status === 429 && attempt < 3) {
        const wait = Math.min(Number(data.retry_after_ms) || 1000, 15000);
        setConnection(`The server asks to slow down; trying again in ${Math.ceil(wait / 1000)} s…`);
        await sleep(wait);
        setConnection("");
        continue;
      }
      throw new MatrixError(res.status, data);
    }
  }

  const enc = encodeURIComponent;

  // ---- Small DOM helpers (text only). ----

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function showNotice(title, text, kind = "info") {
    $("notice").hidden = false;
    $("notice").dataset.kind = kind;
    $("notice-title").textContent = title;
    $("notice-text").textContent = text || "";
  }
  function hideNotice() { $("notice").hidden = true; }
  function setConnection(text) { $("connection").textContent = text; }

  // ---- Room state, as the page knows it. ----

  const room = {
    id: "",
    address: "",       // what the visitor asked for: an alias or the ID
    name: "", topic: "", alias: "",
    encrypted: false,
    members: new Map(),  // user ID -> {membership, displayname}
    shown: new Set(),    // event IDs already in the timeline
  };
  let me = null;        // the account in use, when there is one
  let mode = "";        // "", "preview" or "member"
  let stopLoop = null;  // aborts the running long-poll

  function memberName(userId) {
    const m = room.members.get(userId);
    return (m && m.displayname) || userId;
  }

  function applyState(ev) {
    if (typeof ev.state_key !== "string") return;
    const c = ev.content || {};
    switch (ev.type) {
      case "m.room.name": room.name = typeof c.name === "string" ? c.name : ""; break;
      case "m.room.topic": room.topic = typeof c.topic === "string" ? c.topic : ""; break;
      case "m.room.canonical_alias": room.alias = typeof c.alias === "string" ? c.alias : ""; break;
      case "m.room.encryption": room.encrypted = true; break;
      case "m.room.member": {
        const before = memberName(ev.state_key);
        room.members.set(ev.state_key, {
          membership: c.membership,
          displayname: typeof c.displayname === "string" ? c.displayname : "",
        });
        const after = memberName(ev.state_key);
        if (after !== before) {
          // Messages already shown carry the sender's name of now.
          for (const s of document.querySelectorAll(`#timeline li[data-sender="${CSS.escape(ev.state_key)}"] .sender`)) {
            s.textContent = after;
          }
        }
        break;
      }
      default: return;
    }
    renderHead();
  }

  function renderHead() {
    const joined = [...room.members.values()].filter((m) => m.membership === "join").length;
    let name = room.name || room.alias;
    if (!name) {
      const others = [...room.members.entries()]
        .filter(([id, m]) => m.membership === "join" && (!me || id !== me.user_id))
        .map(([id]) => memberName(id));
      name = others.length ? others.slice(0, 3).join(", ") : room.address || "A room";
    }
    $("room-name").textContent = name;
    document.title = name + " — Foyer";
    $("room-topic").textContent = room.topic;
    $("room-topic").hidden = !room.topic;
    if (room.members.size) {
      $("room-members").textContent = joined === 1 ? "1 member" : `${joined} members`;
      $("room-members").hidden = false;
    }
  }

  function applySummary(sum) {
    if (sum.room_id) room.id = sum.room_id;
    room.name = sum.name || "";
    room.topic = sum.topic || "";
    room.alias = sum.canonical_alias || "";
    if (sum.encryption) room.encrypted = true;
    renderHead();
    if (typeof sum.num_joined_members === "number" && !room.members.size) {
      const n = sum.num_joined_members;
      $("room-members").textContent = n === 1 ? "1 member" : `${n} members`;
      $("room-members").hidden = false;
    }
  }

  // ---- The timeline. ----

  const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

  function describe(ev) {
    const c = ev.content || {};
    const who = memberName(ev.sender);
    switch (ev.type) {
      case "m.room.message": {
        if (typeof c.body !== "string") return null;
        if (c.msgtype === "m.emote") return { kind: "emote", who, text: `* ${who} ${c.body}` };
        return { kind: c.msgtype === "m.notice" ? "notice" : "message", who, text: c.body };
      }
      case "m.room.encrypted":
        return { kind: "event", text: `${who} sent an encrypted message; open the room in a Matrix app to read it.` };
      case "m.room.member": {
        const prev = (ev.unsigned && ev.unsigned.prev_content) || {};
        const target = c.displayname || ev.state_key;
        switch (c.membership) {
          case "join":
            if (prev.membership === "join") {
              if (prev.displayname !== c.displayname && c.displayname) {
                return { kind: "event", text: `${prev.displayname || ev.state_key} is now called ${c.displayname}` };
              }
              return null;
            }
            return { kind: "event", text: `${target} joined` };
          case "leave":
            return { kind: "event", text: ev.sender === ev.state_key ? `${prev.displayname || ev.state_key} left` : `${prev.displayname || ev.state_key} was removed` };
          case "invite": return { kind: "event", text: `${who} invited ${target}` };
          case "ban": return { kind: "event", text: `${prev.displayname || ev.state_key} was banned` };
          default: return null;
        }
      }
      case "m.room.name": return { kind: "event", text: c.name ? `${who} named the room ${c.name}` : `${who} removed the room name` };
      case "m.room.topic": return { kind: "event", text: `${who} set the topic: ${c.topic || ""}` };
      case "m.room.create": return { kind: "event", text: `${who} created the room` };
      default: return null;
    }
  }

  function nearBottom() {
    const t = $("timeline");
    return t.scrollHeight - t.scrollTop - t.clientHeight < 80;
  }
  function scrollDown() { const t = $("timeline"); t.scrollTop = t.scrollHeight; }

  function messageItem(d, ts) {
    const li = el("li", "item " + d.kind);
    if (d.kind === "message" || d.kind === "notice") {
      const head = el("p", "meta");
      head.append(el("span", "sender", d.who));
      if (ts) {
        const time = el("time", "time", timeFmt.format(new Date(ts)));
        time.dateTime = new Date(ts).toISOString();
        head.append(" ", time);
      }
      li.append(head, el("p", "body", d.text));
    } else {
      li.append(el("p", "body", d.text));
    }
    return li;
  }

  // addEvents renders timeline events. Live ones (and a sync timeline,
  // whose state section is the state before it) also update the room's
  // state; history read after the current state does not.
  function addEvents(events, { live = true } = {}) {
    const stick = nearBottom();
    // State first, so a batch is told with the names it ends with.
    if (live) for (const ev of events) if (ev && typeof ev.state_key === "string") applyState(ev);
    for (const ev of events) {
      if (!ev || !ev.event_id) continue;
      if (room.shown.has(ev.event_id)) continue;
      const txn = ev.unsigned && ev.unsigned.transaction_id;
      const pending = txn && document.querySelector(`#timeline li[data-txn="${CSS.escape(txn)}"]`);
      if (pending) {
        confirmPending(pending, ev.event_id);
        continue;
      }
      room.shown.add(ev.event_id);
      const d = describe(ev);
      if (!d) continue;
      const li = messageItem(d, ev.origin_server_ts);
      li.dataset.eventId = ev.event_id;
      li.dataset.sender = ev.sender;
      if (me && ev.sender === me.user_id) li.classList.add("mine");
      $("timeline").append(li);
    }
    if (stick) scrollDown();
  }

  function confirmPending(li, eventId) {
    room.shown.add(eventId);
    li.dataset.eventId = eventId;
    li.classList.remove("pending", "failed");
    delete li.dataset.txn;
    const st = li.querySelector(".state");
    if (st) st.remove();
  }

  function clearTimeline() {
    $("timeline").replaceChildren();
    room.shown.clear();
  }

  // ---- Sending. ----

  let txnCounter = 0;
  async function send(text) {
    const txnId = `foyer${Date.now().toString(36)}.${(txnCounter++).toString(36)}`;
    const li = messageItem({ kind: "message", who: memberName(me.user_id), text }, Date.now());
    li.classList.add("mine", "pending");
    li.dataset.txn = txnId;
    li.dataset.sender = me.user_id;
    li.append(el("p", "state", "Sending…"));
    $("timeline").append(li);
    scrollDown();
    try {
      const res = await api("PUT", `${API}/rooms/${enc(room.id)}/send/m.room.message/${enc(txnId)}`, {
        acct: me, body: { msgtype: "m.text", body: text },
      });
      if (li.dataset.txn !== txnId) return; // the sync got there first
      if (room.shown.has(res.event_id)) li.remove();
      else confirmPending(li, res.event_id);
    } catch (err) {
      li.classList.add("failed");
      li.querySelector(".state").textContent = "Not sent: " + err.message;
    }
  }

  function setUpComposer() {
    const form = $("composer");
    const box = $("message");
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const text = box.value.trim();
      if (!text || mode !== "member" || room.encrypted) return;
      box.value = "";
      autosize();
      send(text);
    });
    box.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        form.requestSubmit();
      }
    });
    const autosize = () => {
      box.style.height = "auto";
      box.style.height = Math.min(box.scrollHeight, 160) + "px";
    };
    box.addEventListener("input", autosize);

    $("name-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const name = $("display-name").value.trim();
      if (!name || !me) return;
      const button = $("name-form").querySelector("button");
      button.disabled = true;
      try {
        await api("PUT", `${API}/profile/${enc(me.user_id)}/displayname`, { acct: me, body: { displayname: name } });
        me.displayname = name;
        me.named_by_visitor = true;
        store.saveAccount(me);
        renderAccount();
        $("name-form").hidden = true;
        $("message").focus();
      } catch (err) {
        setAccountStatus("Could not save your name: " + err.message);
        $("account").open = true;
      } finally {
        button.disabled = false;
      }
    });
  }

  // ---- Long-polls. ----

  // loop runs step(signal) until stopped, backing off after errors.
  function loop(step) {
    const ctl = new AbortController();
    let stopped = false;
    (async () => {
      let backoff = 1000;
      while (!stopped) {
        try {
          await step(ctl.signal);
          backoff = 1000;
          setConnection("");
        } catch (err) {
          if (stopped) return;
          if (err instanceof MatrixError && (err.errcode === "M_UNKNOWN_TOKEN" || err.status === 403)) {
            onLostAccess(err);
            return;
          }
          setConnection("Connection lost; reconnecting…");
          await sleep(backoff);
          backoff = Math.min(backoff * 2, 30000);
        }
      }
    })();
    return () => { stopped = true; ctl.abort(); };
  }

  function stopLoops() {
    if (stopLoop) stopLoop();
    stopLoop = null;
  }

  function onLostAccess(err) {
    stopLoops();
    if (err.errcode === "M_UNKNOWN_TOKEN" && me) {
      store.dropAccount(me.user_id);
      me = null;
    }
    showNotice("You are no longer in this room", err.message, "error");
    $("composer").hidden = true;
    $("name-form").hidden = true;
  }

  // ---- Member mode: /sync, filtered to this room. ----

  function syncFilter(limit) {
    return JSON.stringify({
      presence: { not_types: ["*"] },
      account_data: { not_types: ["*"] },
      room: {
        rooms: [room.id],
        timeline: { limit },
        ephemeral: { not_types: ["*"] },
        account_data: { not_types: ["*"] },
      },
    });
  }

  // enterMember shows the room to a member and follows it with /sync. It
  // resolves to false when acct is not joined there.
  async function enterMember(acct) {
    const first = await api("GET", `${API}/sync`, { acct, query: { filter: syncFilter(50), timeout: 0 } });
    const joined = first.rooms && first.rooms.join && first.rooms.join[room.id];
    if (!joined) return false;
    stopLoops();
    me = acct;
    mode = "member";
    store.setRoomAccount(room.id, acct.user_id);
    store.saveAccount(acct);
    clearTimeline();
    room.members.clear();
    for (const ev of (joined.state && joined.state.events) || []) applyState(ev);
    addEvents((joined.timeline && joined.timeline.events) || []);
    const mine = room.members.get(me.user_id);
    if (mine && mine.displayname) me.displayname = mine.displayname;
    showRoom();
    let since = first.next_batch;
    stopLoop = loop(async (signal) => {
      const res = await api("GET", `${API}/sync`, { acct, signal, query: { filter: syncFilter(50), since, timeout: 30000 } });
      since = res.next_batch;
      const r = res.rooms || {};
      const j = r.join && r.join[room.id];
      if (j) {
        for (const ev of (j.state && j.state.events) || []) applyState(ev);
        addEvents((j.timeline && j.timeline.events) || []);
        const mine = room.members.get(me.user_id);
        if (mine && mine.displayname && mine.displayname !== me.displayname) {
          me.displayname = mine.displayname;
          renderAccount();
        }
      }
      if (r.leave && r.leave[room.id]) {
        const l = r.leave[room.id];
        addEvents((l.timeline && l.timeline.events) || []);
        throw new MatrixError(403, { errcode: "M_FORBIDDEN", error: "You have left this room, or were removed from it." });
      }
    });
    return true;
  }

  // ---- Preview mode: initialSync, then /events?room_id=. ----

  async function enterPreview(acct) {
    const snap = await api("GET", `${API}/rooms/${enc(room.id)}/initialSync`, { acct, query: { limit: 30 } });
    stopLoops();
    mode = "preview";
    clearTimeline();
    room.members.clear();
    for (const ev of snap.state || []) applyState(ev);
    addEvents((snap.messages && snap.messages.chunk) || [], { live: false });
    showRoom();
    let from = snap.messages && snap.messages.end;
    stopLoop = loop(async (signal) => {
      const page = await api("GET", `${API}/events`, { acct, signal, query: { room_id: room.id, from, timeout: 30000 } });
      from = page.end || from;
      addEvents(page.chunk || []);
    });
  }

  // ---- Showing the room. ----

  function showRoom() {
    hideNotice();
    $("room").hidden = false;
    $("side").hidden = false;
    renderHead();
    renderElsewhere();
    const member = mode === "member";
    $("composer").hidden = !member;
    $("preview-bar").hidden = member;
    if (member) {
      $("timeline").setAttribute("aria-label", "Messages");
      const box = $("message");
      box.disabled = room.encrypted;
      $("send-button").disabled = room.encrypted;
      box.placeholder = room.encrypted
        ? "This room is end-to-end encrypted: use a Matrix app to write here."
        : "Write a message…";
      const needsName = !me.named_by_visitor && (!me.displayname || me.displayname === localpart(me.user_id));
      $("name-form").hidden = !needsName;
      renderAccount();
      if (needsName) $("display-name").focus();
      else box.focus();
    } else {
      $("timeline").setAttribute("aria-label", "Messages (preview)");
      $("elsewhere-hint").hidden = true;
      $("name-form").hidden = true;
      $("account").hidden = true; // a previewer's account is only a viewer
    }
    requestAnimationFrame(scrollDown);
  }

  function localpart(userId) { return userId.slice(1).split(":")[0]; }

  function renderElsewhere() {
    const addr = room.alias || room.id;
    $("room-address").textContent = addr;
    const via = addr.startsWith("!") && serverName ? `?via=${enc(serverName)}` : "";
    $("matrix-to-link").href = `https://matrix.to/#/${enc(addr)}${via}`;
    const uri = addr.startsWith("#")
      ? `matrix:r/${enc(addr.slice(1))}`
      : `matrix:roomid/${enc(addr.slice(1))}${via}`;
    $("matrix-uri-link").href = uri;
  }

  // ---- Account: name, keep it, add a password. ----

  function setAccountStatus(text, kind = "") {
    const status = $("account-status");
    status.textContent = text;
    if (kind) status.dataset.kind = kind;
    else delete status.dataset.kind;
  }

  // wantedName is the username typed under "Keep this account", without
  // a leading @ or this server's name; "" keeps the guest's own ID.
  function wantedName() {
    let name = $("keep-username").value.trim();
    if (name.startsWith("@")) name = name.slice(1);
    const suffix = ":" + serverName;
    if (serverName && name.toLowerCase().endsWith(suffix.toLowerCase())) name = name.slice(0, -suffix.length);
    return me && name === localpart(me.user_id) ? "" : name;
  }

  function renderKeep() {
    if (!me) return;
    const name = wantedName();
    const newId = `@${name.toLowerCase()}:${serverName}`;
    $("keep-button").textContent = name ? `Continue as ${newId}` : "Keep this account";
    $("keep-hint").textContent = name
      ? `You will continue as ${newId} in your rooms. Messages you sent stay under ${me.user_id}.`
      : `Leave it empty to keep ${me.user_id}, or choose a name to continue under it.`;
    $("keep-username").removeAttribute("aria-invalid");
  }

  function renderAccount() {
    if (!me) return;
    $("account").hidden = false;
    $("account-name").textContent = me.displayname || localpart(me.user_id);
    $("account-id").textContent = me.user_id;
    if (!$("display-name").value) $("display-name").value = me.named_by_visitor ? me.displayname : "";
    const kind = me.kind || "guest";
    $("keep-guest").hidden = kind !== "guest";
    if (kind === "guest") renderKeep();
    $("password-form").hidden = kind === "guest";
    $("current-password-field").hidden = kind !== "user";
    $("password-button").textContent = kind === "user" ? "Change password" : "Add password";
    $("password-intro").textContent = kind === "user"
      ? `Sign in from any Matrix app with the user ID ${me.user_id} and your password.`
      : "Your account is kept in this browser. Add a password to sign in from other Matrix apps with your user ID.";
    $("elsewhere-hint").hidden = kind === "user";
  }

  // uiaDummy completes a user-interactive auth whose only stage is
  // m.login.dummy (the page's token is the proof).
  async function withUIA(method, path, body, acct, authFor) {
    const first = await api(method, path, { acct, body, uia: true });
    if (!first.uia) return first;
    const flows = (first.uia.flows || []).map((f) => f.stages || []);
    const auth = authFor(flows, first.uia.session);
    if (!auth) throw new MatrixError(401, { error: "This server asks for a step this page cannot do here; use a Matrix app." });
    const second = await api(method, path, { acct, body: { ...body, auth }, uia: true });
    if (second.uia) throw new MatrixError(401, second.uia);
    return second;
  }

  const dummyOnly = (flows, session) =>
    flows.some((s) => s.length === 1 && s[0] === "m.login.dummy") ? { type: "m.login.dummy", session } : null;

  function setUpAccount() {
    $("keep-username").addEventListener("input", renderKeep);
    $("keep-guest").addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!me) return;
      const name = wantedName();
      const button = $("keep-button");
      const field = $("keep-username");
      button.disabled = true;
      field.disabled = true;
      try {
        if (name) await continueAs(name);
        else await keepGuest();
      } finally {
        button.disabled = false;
        field.disabled = false;
        if (field.getAttribute("aria-invalid") === "true") field.focus();
      }
    });

    $("password-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!me) return;
      const pw = $("new-password").value;
      if (!pw) { setAccountStatus("Type a password."); $("new-password").focus(); return; }
      if (pw !== $("repeat-password").value) {
        setAccountStatus("The two passwords differ.");
        $("repeat-password").focus();
        return;
      }
      const current = $("current-password").value;
      const button = $("password-button");
      button.disabled = true;
      setAccountStatus("Saving your password…");
      try {
        await withUIA("POST", `${API}/account/password`, { new_password: pw, logout_devices: false }, me, (flows, session) => {
          if (flows.some((s) => s.length === 1 && s[0] === "m.login.password") && current) {
            return { type: "m.login.password", session, identifier: { type: "m.id.user", user: me.user_id }, password: current };
          }
          return dummyOnly(flows, session);
        });
        me = { ...me, kind: "user" };
        store.saveAccount(me);
        for (const id of ["current-password", "new-password", "repeat-password"]) $(id).value = "";
        renderAccount();
        setAccountStatus(`Password saved. Sign in anywhere with ${me.user_id} and your password.`);
      } catch (err) {
        setAccountStatus("Could not save the password: " + err.message, "error");
      } finally {
        button.disabled = false;
      }
    });
  }

  // keepGuest is the guest upgrade: the same user ID, no password (a
  // named guest).
  // The upgrade revokes the guest token the sync loop uses, so the loop
  // stops first and follows the room again with the token it returns.
  async function keepGuest() {
    setAccountStatus("Keeping your account…");
    const wasMember = mode === "member";
    stopLoops();
    try {
      const res = await withUIA("POST", `${API}/register`, {
        username: localpart(me.user_id),
        guest_access_token: me.access_token,
        initial_device_display_name: "Foyer web",
      }, null, dummyOnly);
      me = { ...me, access_token: res.access_token || me.access_token, device_id: res.device_id || me.device_id, kind: "named_guest" };
      store.saveAccount(me);
      if (wasMember) await enterMember(me).catch(() => {});
      renderAccount();
      setAccountStatus(`Kept. ${me.user_id} is yours now; add a password to use it elsewhere too.`);
      $("new-password").focus();
    } catch (err) {
      // Nothing changed: carry on as the guest.
      if (wasMember) await enterMember(me).catch(() => {});
      setAccountStatus("Could not keep the account: " + err.message, "error");
    }
  }

  // continueAs is the rename upgrade (a Foyer extension): a new account
  // @name takes the guest's place in its rooms, and the guest goes. The
  // page then follows the room as the new account.
  async function continueAs(name) {
    const guest = me;
    const newId = `@${name.toLowerCase()}:${serverName}`;
    setAccountStatus(`Moving to ${newId}…`);
    // The guest's own sync would report its leave as losing the room.
    stopLoops();
    let res;
    try {
      res = await withUIA("POST", `${API}/register`, {
        username: name,
        guest_access_token: guest.access_token,
        initial_device_display_name: "Foyer web",
      }, null, dummyOnly);
    } catch (err) {
      let text = "Could not keep the account: " + err.message;
      if (err.errcode === "M_USER_IN_USE") text = `The name ${newId} is taken. Choose another one.`;
      else if (err.errcode === "M_INVALID_USERNAME") text = `That name cannot be used: ${err.message}.`;
      // Nothing changed: carry on as the guest.
      if (mode === "member" && (await usable(guest).catch(() => null))) await enterMember(guest).catch(() => {});
      setAccountStatus(text, "error");
      if (err.errcode === "M_USER_IN_USE" || err.errcode === "M_INVALID_USERNAME") {
        $("keep-username").setAttribute("aria-invalid", "true");
      }
      return;
    }
    const acct = {
      user_id: res.user_id, access_token: res.access_token, device_id: res.device_id, kind: "named_guest",
      displayname: guest.displayname, named_by_visitor: guest.named_by_visitor,
    };
    const moved = Array.isArray(res.rooms_moved) ? res.rooms_moved : [];
    store.replaceAccount(guest.user_id, acct, moved);
    me = acct;
    $("keep-username").value = "";
    if (moved.includes(room.id) && (await enterMember(acct).catch(() => false))) {
      setAccountStatus(`You are ${acct.user_id} now; add a password to use it elsewhere too.`);
      $("new-password").focus();
      return;
    }
    const why = (res.rooms_not_moved || []).find((r) => r && r.room_id === room.id);
    renderAccount();
    showNotice(`You are ${acct.user_id} now, but not in this room`,
      (why && typeof why.error === "string" ? why.error + " " : "") + `Ask a member of the room to invite ${acct.user_id}.`, "error");
    $("composer").hidden = true;
    $("name-form").hidden = true;
    setAccountStatus(`You are ${acct.user_id} now.`);
  }

  // ---- Human checks: the captcha and the proof of work a server may ask
  // of new guests, as user-interactive auth on guest registration and link
  // redemption. The page does them by itself: the proof of work in a Web
  // Worker with a progress bar, the captcha with the provider's widget. ----

  const STAGE_CAPTCHA = "m.login.recaptcha";
  const STAGE_POW = "foyer.login.proof_of_work";
  // The widget API each provider's script defines.
  const captchaGlobals = { recaptcha: "grecaptcha", hcaptcha: "hcaptcha", turnstile: "turnstile" };

  function showCheck(title, text) {
    $("check-title").textContent = title;
    $("check-text").textContent = text;
    $("check").hidden = false;
  }
  function hideCheck() {
    $("check").hidden = true;
    $("check-progress").hidden = true;
    $("captcha-box").hidden = true;
    $("captcha-box").replaceChildren();
  }

  // solveProofOfWork finds the nonce in a worker; the bar shows the chance
  // that it would have been found by now.
  function solveProofOfWork(params, session) {
    if (!params || typeof params.challenge !== "string" || !(params.bits > 0)) {
      return Promise.reject(new Error("the server's proof-of-work challenge is malformed"));
    }
    showCheck("Getting you in…", "Your browser is doing a short calculation that keeps automated sign-ups out. It takes a moment.");
    const bar = $("check-progress");
    bar.value = 0;
    bar.hidden = false;
    const expected = 2 ** params.bits;
    return new Promise((resolve, reject) => {
      let worker;
      try {
        worker = new Worker(powWorkerURL);
      } catch {
        reject(new Error("this browser cannot run the check (Web Workers are off)"));
        return;
      }
      worker.onmessage = (e) => {
        if (typeof e.data.nonce === "string") {
          worker.terminate();
          bar.value = 1;
          resolve({ type: STAGE_POW, session, challenge: params.challenge, nonce: e.data.nonce });
        } else {
          bar.value = Math.min(0.99, 1 - Math.exp(-e.data.tries / expected));
        }
      };
      worker.onerror = () => {
        worker.terminate();
        reject(new Error("the check could not run in this browser"));
      };
      worker.postMessage({ challenge: params.challenge, bits: params.bits });
    });
  }

  let captchaLoaded = null;
  // loadCaptcha adds the provider's script once and waits for its API.
  function loadCaptcha() {
    const name = captchaGlobals[captchaProvider];
    if (!captchaLoaded) {
      captchaLoaded = new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = captchaScript;
        script.async = true;
        script.onerror = () => { captchaLoaded = null; reject(new Error("the captcha could not be loaded")); };
        script.onload = async () => {
          for (let i = 0; i < 100; i++) {
            const widget = window[name];
            if (widget && typeof widget.render === "function") {
              if (typeof widget.ready === "function") widget.ready(() => resolve(widget));
              else resolve(widget);
              return;
            }
            await sleep(100);
          }
          captchaLoaded = null;
          reject(new Error("the captcha did not start"));
        };
        document.head.appendChild(script);
      });
    }
    return captchaLoaded;
  }

  // solveCaptcha shows the widget and waits for the person to solve it.
  async function solveCaptcha(params, session) {
    if (!captchaProvider || !params || !params.public_key) throw new Error("the server's captcha is not set up for this page");
    showCheck("One more step", "Show that you are a person, and you are in.");
    const widget = await loadCaptcha();
    const box = $("captcha-box");
    box.replaceChildren();
    const holder = el("div");
    box.append(holder);
    box.hidden = false;
    return new Promise((resolve) => {
      widget.render(holder, {
        sitekey: params.public_key,
        callback: (response) => resolve({ type: STAGE_CAPTCHA, session, response }),
        "expired-callback": () => $("check-text").textContent = "The check expired; solve it again.",
        "error-callback": () => $("check-text").textContent = "The check could not load; reload the page to try again.",
      });
    });
  }

  // withHumanCheck posts body to path; when the server answers with
  // user-interactive auth, it completes a flow made of stages this page can
  // do (proof of work first: it needs no one) and posts again. A refused
  // answer comes back with a fresh challenge, tried a few times.
  async function withHumanCheck(path, { query, body }) {
    let res = await api("POST", path, { query, body, uia: true });
    if (!res.uia) return res;
    let challenge = res.uia;
    const doable = (s) => s === STAGE_POW || s === "m.login.dummy" || (s === STAGE_CAPTCHA && captchaProvider !== "");
    const flow = (challenge.flows || []).map((f) => f.stages || []).find((stages) => stages.every(doable));
    if (!flow) throw new MatrixError(401, { error: "This server asks for a step this page cannot do; use a Matrix app." });
    const order = [STAGE_POW, "m.login.dummy", STAGE_CAPTCHA];
    try {
      for (let round = 0; round < 6; round++) {
        const done = challenge.completed || [];
        const stage = [...flow].sort((a, b) => order.indexOf(a) - order.indexOf(b)).find((s) => !done.includes(s));
        if (!stage) break;
        const params = (challenge.params || {})[stage];
        let auth;
        if (stage === STAGE_POW) auth = await solveProofOfWork(params, challenge.session);
        else if (stage === STAGE_CAPTCHA) auth = await solveCaptcha(params, challenge.session);
        else auth = { type: stage, session: challenge.session };
        res = await api("POST", path, { query, body: { ...body, auth }, uia: true });
        if (!res.uia) return res;
        challenge = res.uia;
      }
    } finally {
      hideCheck();
    }
    throw new MatrixError(401, challenge);
  }

  // ---- Getting an account for previews and joining. ----

  async function registerGuest() {
    const res = await withHumanCheck(`${API}/register`, { query: { kind: "guest" }, body: { initial_device_display_name: "Foyer web" } });
    const acct = { user_id: res.user_id, access_token: res.access_token, device_id: res.device_id, kind: "guest" };
    store.saveAccount(acct);
    return acct;
  }

  // usable checks a stored account's token; a dead one is forgotten.
  async function usable(acct) {
    if (!acct) return null;
    try {
      const who = await api("GET", `${API}/account/whoami`, { acct });
      if (who.is_guest) acct.kind = "guest";
      else if (acct.kind === "guest") acct.kind = "named_guest";
      return acct;
    } catch (err) {
      if (err instanceof MatrixError && err.errcode === "M_UNKNOWN_TOKEN") {
        store.dropAccount(acct.user_id);
        return null;
      }
      throw err;
    }
  }

  // ---- Entry: a guest link. ----

  async function linkHash(token) {
    if (!(window.crypto && crypto.subtle)) return "";
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode("foyer-link:" + token));
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  function leaveLinkURL() {
    // The link token is spent: keep it out of history and of bookmarks.
    history.replaceState(null, "", "/_foyer/room/" + enc(room.id));
  }

  async function openLink(token) {
    showNotice("Opening your invitation…", "");
    const hash = await linkHash(token);
    const knownRoom = store.linkRoom(hash);
    if (knownRoom) {
      // This browser redeemed the link before: come back as the same guest.
      const acct = await usable(store.roomAccount(knownRoom));
      room.id = knownRoom;
      room.address = knownRoom;
      if (acct && (await enterMember(acct))) {
        leaveLinkURL();
        return;
      }
    }
    let res;
    try {
      res = await withHumanCheck(`/_foyer/client/v1/guest_links/${enc(token)}/redeem`, {
        body: { initial_device_display_name: "Foyer web" },
      });
    } catch (err) {
      linkFailed(err);
      return;
    }
    const acct = { user_id: res.user_id, access_token: res.access_token, device_id: res.device_id, kind: "guest" };
    store.saveAccount(acct);
    room.id = res.room_id;
    room.address = res.room_id;
    store.setRoomAccount(room.id, acct.user_id);
    store.setLinkRoom(hash, room.id);
    leaveLinkURL();
    if (!(await enterMember(acct))) {
      showNotice("Something went wrong", "The invitation worked, but the room did not open. Reload the page to try again.", "error");
    }
  }

  function linkFailed(err) {
    const msg = err instanceof MatrixError ? err.message : "";
    if (!(err instanceof MatrixError)) {
      showNotice("Cannot reach the server", "Check your connection and reload the page.", "error");
    } else if (err.status === 404) {
      showNotice("This invitation link does not exist",
        "Check that you copied the whole link, or ask the person who sent it for a new one.", "error");
    } else if (err.errcode === "M_GUEST_ACCESS_FORBIDDEN") {
      showNotice("This room no longer admits guests", msg + " Ask someone in the room to invite you another way.", "error");
    } else if (err.status === 403) {
      showNotice("This invitation link no longer works",
        "It has been revoked, has expired or has been used up. Ask the person who sent it for a new link.", "error");
    } else if (err.status === 429) {
      showNotice("Too many people are joining right now", "Wait a minute, then reload the page.", "error");
    } else {
      showNotice("The invitation could not be opened", msg, "error");
    }
  }

  // ---- Entry: a room address. ----

  async function openRoom(address) {
    room.address = address;
    showNotice("Opening the room…", "");
    if (address.startsWith("#")) {
      try {
        const res = await api("GET", `${API}/directory/room/${enc(address)}`);
        room.id = res.room_id;
      } catch (err) {
        showNotice("There is no such room", `No room has the address ${address} on this server.`, "error");
        return;
      }
    } else {
      room.id = address;
    }

    // A member of the room in this browser goes straight in.
    const mine = await usable(store.roomAccount(room.id));
    if (mine && (await enterMember(mine))) return;

    let sum = null;
    try {
      sum = await api("GET", `${API.replace("/v3", "/v1")}/room_summary/${enc(room.id)}`);
      applySummary(sum);
    } catch (err) {
      showNotice("This room cannot be previewed",
        "It does not exist, or only its members can see it. Ask a member for an invitation link.", "error");
      return;
    }
    const acct = mine || (await usable(store.current()));
    // The visitor may join as a guest when the room lets guests in and is
    // public, and either has an account here or may register a guest.
    const canJoin = sum.guest_can_join && sum.join_rule === "public" && (acct || guestRegistrationOpen);
    setUpJoin(canJoin);

    if (!sum.world_readable) {
      previewUnavailable(canJoin, "Only members can read this room.");
      return;
    }
    let viewer = acct;
    // A captcha is asked only of a visitor who joins, not to look.
    if (!viewer && guestRegistrationOpen && !guestChecks.includes("captcha")) {
      try {
        viewer = await registerGuest();
      } catch (err) {
        previewUnavailable(canJoin, "The preview could not start: " + err.message);
        return;
      }
    }
    if (!viewer && canJoin) {
      previewUnavailable(true, "Join to read and write here.");
      return;
    }
    if (!viewer) {
      previewUnavailable(false, "This server does not let visitors without an account read rooms here. Open the room in a Matrix app.");
      return;
    }
    me = viewer;
    try {
      await enterPreview(viewer);
    } catch (err) {
      previewUnavailable(canJoin, "The preview could not start: " + err.message);
    }
  }

  function previewUnavailable(canJoin, text) {
    mode = "preview";
    showRoom();
    $("timeline").hidden = true;
    $("preview-text").textContent = text;
    $("join-button").hidden = !canJoin;
  }

  function setUpJoin(canJoin) {
    const button = $("join-button");
    button.hidden = !canJoin;
    $("preview-text").textContent = canJoin
      ? "This is a live preview. Join to write here."
      : "This is a live preview: read only.";
    button.onclick = async () => {
      button.disabled = true;
      $("preview-text").textContent = "Joining…";
      try {
        let acct = me || (await usable(store.current()));
        if (!acct) acct = await registerGuest();
        await api("POST", `${API}/rooms/${enc(room.id)}/join`, { acct, body: {} });
        store.setRoomAccount(room.id, acct.user_id);
        $("timeline").hidden = false;
        if (!(await enterMember(acct))) throw new Error("the room did not open after joining");
      } catch (err) {
        $("preview-text").textContent = "Could not join: " + err.message;
      } finally {
        button.disabled = false;
      }
    };
  }

  // ---- Start. ----

  function start() {
    setUpComposer();
    setUpAccount();
    const path = location.pathname;
    const seg = (prefix) => {
      if (!path.startsWith(prefix)) return null;
      try { return decodeURIComponent(path.slice(prefix.length).split("/")[0]); } catch { return ""; }
    };
    const token = seg("/_foyer/join/");
    let address = seg("/_foyer/room/");
    if (address === "" && location.hash.length > 1) {
      // /_foyer/room/#alias:server, with the alias left unescaped.
      try { address = decodeURIComponent(location.hash.slice(1)); } catch { address = location.hash.slice(1); }
    }
    const run = token ? openLink(token) : address ? openRoom(address) : null;
    if (!run) {
      showNotice("Nothing to open here", "Open a guest link, or a room address like /_foyer/room/%23room:" + serverName + ".", "error");
      return;
    }
    run.catch((err) => showNotice("Something went wrong", err && err.message ? err.message : String(err), "error"));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
