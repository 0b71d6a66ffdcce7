// pushpoll chat page: the browser page of the notes (an input, a send button,
// a results box, `new WebSocket(...)`), grown into a message list on four
// transports with counters of what each one costs. Plain JS, no build step,
// served by `pushpoll serve` at `/chat.js`; docs/protocol.md is the contract.
//
// Every message is shown with `textContent`: nothing a peer sends is ever
// parsed as HTML.
'use strict';

(() => {
  /** Longest message this page sends (the server itself takes up to 64 KiB). */
  const MAX_CHARS = 4000;
  /** List items kept; older ones are dropped from the page (not from the server). */
  const LIST_MAX = 1000;
  /** Long-poll hold asked for, seconds (the server clamps to 30 s). */
  const LONG_POLL_WAIT_S = 30;
  /** Reconnect backoff: base doubles per failed attempt up to the cap; "equal jitter". */
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_CAP_MS = 10000;
  /** Own messages whose echo has not come back by then are forgotten. */
  const PENDING_TTL_MS = 60000;
  /** Latency samples kept per transport. */
  const LATENCY_SAMPLES = 1000;

  const NAMES = { ws: 'WebSocket', sse: 'SSE', long: 'long polling', short: 'short polling' };
  const KEYS = Object.keys(NAMES);

  const $ = (id) => document.getElementById(id);
  const ui = {
    transport: $('transport'),
    interval: $('interval'),
    status: $('status'),
    list: $('messages'),
    compose: $('compose'),
    input: $('input'),
    send: $('send'),
    limit: $('limit'),
    count: $('count'),
    statsBody: $('stats-body'),
    reset: $('reset'),
  };

  const encoder = new TextEncoder();
  const decoder = new TextDecoder('utf-8');
  const utf8Len = (s) => encoder.encode(s).length;

  // ---------------------------------------------------------------- counters

  const freshStats = () => ({ requests: 0, empty: 0, sent: 0, received: 0, messages: 0, lat: [] });
  const stats = Object.fromEntries(KEYS.map((k) => [k, freshStats()]));

  const median = (xs) => {
    if (xs.length === 0) return null;
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor((s.length - 1) / 2)];
  };
  const ms = (v) => (v === null || v === undefined ? '–' : `${v.toFixed(1)} ms`);
  const ROWS = [
    ['requests', 'requests sent', (s) => s.requests, String],
    ['empty', 'of which empty polls', (s) => s.empty, String],
    ['sent', 'bytes sent', (s) => s.sent, (v) => v.toLocaleString('en')],
    ['received', 'bytes received', (s) => s.received, (v) => v.toLocaleString('en')],
    ['messages', 'messages received', (s) => s.messages, String],
    ['req-per-msg', 'requests per message', (s) => (s.messages ? s.requests / s.messages : null),
      (v) => (v === null ? '–' : v.toFixed(2))],
    ['bytes-per-msg', 'bytes per message (sent + received)',
      (s) => (s.messages ? (s.sent + s.received) / s.messages : null),
      (v) => (v === null ? '–' : Math.round(v).toLocaleString('en'))],
    ['lat-n', 'own messages timed', (s) => s.lat.length, String],
    ['lat-last', 'latency, last', (s) => (s.lat.length ? s.lat[s.lat.length - 1] : null), ms],
    ['lat-median', 'latency, median', (s) => median(s.lat), ms],
    ['lat-max', 'latency, max', (s) => (s.lat.length ? Math.max(...s.lat) : null), ms],
  ];

  const cells = {};
  for (const [key, label] of ROWS) {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = label;
    tr.append(th);
    for (const t of KEYS) {
      const td = document.createElement('td');
      td.id = `st-${t}-${key}`;
      td.dataset.col = t;
      cells[td.id] = td;
      tr.append(td);
    }
    ui.statsBody.append(tr);
  }

  let renderTimer = 0;
  function render() {
    renderTimer = 0;
    for (const [key, , get, fmt] of ROWS) {
      for (const t of KEYS) {
        const v = get(stats[t]);
        const td = cells[`st-${t}-${key}`];
        td.textContent = fmt(v);
        td.dataset.value = v === null ? '' : String(v);
      }
    }
    for (const c of document.querySelectorAll('#stats [data-col]')) {
      c.classList.toggle('active', c.dataset.col === state.transport);
    }
  }
  /** Counters change per frame; the table is redrawn at most ten times a second. */
  function scheduleRender() {
    if (!renderTimer) renderTimer = setTimeout(render, 100);
  }

  function recordLatency(value) {
    const lat = stats[state.transport].lat;
    lat.push(value);
    if (lat.length > LATENCY_SAMPLES) lat.shift();
  }

  /** RFC 6455 frame header size for a payload of `n` bytes; client frames carry a 4-byte mask. */
  function wsHeaderBytes(n, masked) {
    return (n <= 125 ? 2 : n <= 0xffff ? 4 : 10) + (masked ? 4 : 0);
  }

  /** Request line, Host, the headers this page sets, and the body: what a page can see. */
  function requestBytes(method, url, headers, bodyLen) {
    let head = `${method} ${url} HTTP/1.1\r\nHost: ${location.host}\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    return utf8Len(`${head}\r\n`) + bodyLen;
  }

  /** Status line, every header `fetch` exposes, and the body, as on the wire. */
  function responseBytes(resp, bodyLen) {
    let head = `HTTP/1.1 ${resp.status} ${resp.statusText}\r\n`;
    for (const [k, v] of resp.headers) head += `${k}: ${v}\r\n`;
    return utf8Len(`${head}\r\n`) + bodyLen;
  }

  // ------------------------------------------------------------ message list

  const clock = (d) => d.toTimeString().slice(0, 8);

  function atBottom() {
    const l = ui.list;
    return l.scrollHeight - l.scrollTop - l.clientHeight < 40;
  }

  function append(li) {
    const stick = atBottom();
    ui.list.append(li);
    while (ui.list.childElementCount > LIST_MAX) ui.list.firstElementChild.remove();
    if (stick) ui.list.scrollTop = ui.list.scrollHeight;
  }

  function span(cls, text) {
    const s = document.createElement('span');
    s.className = cls;
    s.textContent = text;
    return s;
  }

  function describeBinary(bytes) {
    const hex = Array.from(bytes.subarray(0, 24), (b) => b.toString(16).padStart(2, '0')).join(' ');
    return `[binary, ${bytes.length} bytes] ${hex}${bytes.length > 24 ? ' …' : ''}`;
  }

  function addMessage(seq, kind, payload) {
    const li = document.createElement('li');
    li.className = 'msg';
    li.dataset.seq = String(seq);
    li.dataset.kind = kind;
    const text = kind === 'text' ? payload : describeBinary(payload);
    li.append(
      span('seq', `#${seq}`),
      span('time', clock(new Date())),
      span('text', text),
      span('via', NAMES[state.transport]),
    );
    append(li);
    return li;
  }

  /** A line in the list about the connection itself: gaps, restarts, switches, errors. */
  function addNotice(text, kind) {
    const li = document.createElement('li');
    li.className = 'notice';
    li.dataset.kind = kind;
    li.append(span('time', clock(new Date())), span('text', text));
    append(li);
  }

  function markOwn(li, latency) {
    li.classList.add('own');
    li.querySelector('.via').textContent += ` · you · ${latency.toFixed(1)} ms`;
  }

  // ------------------------------------------------- delivery, resume, gaps

  const state = {
    transport: 'ws',
    intervalMs: 1000,
    /** Resume point: the newest seq seen (`since` of the next connection); null until known. */
    since: null,
    /** The running transport: `{ publish(text): Promise, stop() }`, null while backing off. */
    conn: null,
    /** Bumped on every (re)connect and failure; callbacks of older sessions do nothing. */
    gen: 0,
    /** Failed connection attempts in a row. */
    attempt: 0,
    retryTimer: 0,
  };

  /** Own HTTP publishes by the seq the server answered, waiting for their echo. */
  const ownBySeq = new Map();
  /** Own WebSocket sends (no answer carries a seq), matched by exact text. */
  const ownByText = [];
  /** Recent arrivals, for an echo that beats the answer to its own POST. */
  const arrivals = new Map();

  function expirePending(now) {
    for (const [seq, t0] of ownBySeq) if (now - t0 > PENDING_TTL_MS) ownBySeq.delete(seq);
    while (ownByText.length && now - ownByText[0].t0 > PENDING_TTL_MS) ownByText.shift();
  }

  /** One message arrived with `seq`: show it once, move the resume point, time own echoes. */
  function deliver(seq, kind, payload) {
    if (!Number.isSafeInteger(seq)) {
      addNotice(`ignored a message without a valid seq (${seq})`, 'error');
      return;
    }
    if (state.since !== null && seq <= state.since) return; // already shown
    if (state.since !== null && seq > state.since + 1) {
      // Never expected: the server announces every gap. Said anyway, never hidden.
      addNotice(`messages #${state.since + 1}–#${seq - 1} never arrived`, 'loss');
    }
    state.since = seq;
    const now = performance.now();
    stats[state.transport].messages += 1;
    const li = addMessage(seq, kind, payload);

    const t0 = ownBySeq.get(seq);
    if (t0 !== undefined) {
      ownBySeq.delete(seq);
      recordLatency(now - t0);
      markOwn(li, now - t0);
    } else if (kind === 'text') {
      const i = ownByText.findIndex((p) => p.text === payload);
      if (i >= 0) {
        const [p] = ownByText.splice(i, 1);
        recordLatency(now - p.t0);
        markOwn(li, now - p.t0);
      }
    }
    if (!li.classList.contains('own')) {
      arrivals.set(seq, { t: now, li });
      if (arrivals.size > 256) arrivals.delete(arrivals.keys().next().value);
    }
    scheduleRender();
  }

  /** The server answered an own HTTP publish with its seq. */
  function publishedAs(seq, t0) {
    const a = arrivals.get(seq);
    if (a) {
      arrivals.delete(seq);
      recordLatency(a.t - t0);
      markOwn(a.li, a.t - t0);
      scheduleRender();
    } else {
      ownBySeq.set(seq, t0);
    }
  }

  /**
   * The server cannot resume from `requested`: it was evicted (too old) or the
   * server's numbering began again (ahead). Either way the next since is
   * `oldest - 1`, and the list says which it was.
   */
  function gap(requested, oldest) {
    if (requested + 1 < oldest) {
      addNotice(
        `gap: messages #${requested + 1}–#${oldest - 1} are no longer held by the server and were missed`,
        'gap',
      );
    } else {
      addNotice(
        `the server restarted: it is at #${oldest - 1}, this page had seen #${requested}; numbering starts again`,
        'restart',
      );
      ownBySeq.clear();
      arrivals.clear();
    }
    state.since = oldest - 1;
  }

  // ------------------------------------------------------ connection status

  function setStatus(kind, text) {
    ui.status.dataset.state = kind;
    ui.status.textContent = text;
  }

  function backoffMs(attempt) {
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  /** What a transport gets: its counters and the calls that report how it went. */
  function session(transport) {
    const gen = state.gen;
    return {
      stats: stats[transport],
      live: () => gen === state.gen,
      opened() {
        if (gen !== state.gen) return;
        state.attempt = 0;
        setStatus('connected', `connected · ${NAMES[transport]}`);
      },
      /** The connection is gone or could not be made: back off, then try again. */
      failed(reason) {
        if (gen !== state.gen) return;
        state.gen += 1;
        if (state.conn) state.conn.stop();
        state.conn = null;
        state.attempt += 1;
        const wait = backoffMs(state.attempt);
        setStatus('reconnecting',
          `reconnecting · ${reason}; try ${state.attempt + 1} in ${(wait / 1000).toFixed(1)} s`);
        clearTimeout(state.retryTimer);
        state.retryTimer = setTimeout(connect, wait);
      },
    };
  }

  function connect() {
    clearTimeout(state.retryTimer);
    if (state.conn) state.conn.stop();
    state.gen += 1;
    const t = state.transport;
    if (state.attempt === 0) setStatus('connecting', `connecting · ${NAMES[t]}`);
    else setStatus('reconnecting', `reconnecting · ${NAMES[t]} (try ${state.attempt + 1})`);
    state.conn = TRANSPORTS[t](session(t));
    scheduleRender();
  }

  // ---------------------------------------------------------------- HTTP

  const ABORTED = Symbol('aborted');

  /**
   * One counted request. Resolves to `{ status, json }`, to null when the
   * server could not be reached, or to ABORTED when the page stopped it.
   */
  async function request(s, method, url, { body, signal } = {}) {
    const headers = body === undefined ? {} : { 'Content-Type': 'text/plain;charset=UTF-8' };
    const bodyBytes = body === undefined ? null : encoder.encode(body);
    const visible = { ...headers };
    if (bodyBytes) visible['Content-Length'] = String(bodyBytes.length);
    s.stats.requests += 1;
    s.stats.sent += requestBytes(method, url, visible, bodyBytes ? bodyBytes.length : 0);
    scheduleRender();
    let resp;
    let buf;
    try {
      resp = await fetch(url, { method, headers, body: bodyBytes ?? undefined, signal, cache: 'no-store' });
      buf = await resp.arrayBuffer();
    } catch (e) {
      return e && e.name === 'AbortError' ? ABORTED : null;
    }
    s.stats.received += responseBytes(resp, buf.byteLength);
    scheduleRender();
    let json = null;
    try {
      json = JSON.parse(decoder.decode(buf));
    } catch {
      json = null;
    }
    return { status: resp.status, json };
  }

  /** Publishing on the HTTP transports: `POST /messages`, answered with the seq. */
  async function httpPublish(s, text) {
    const t0 = performance.now();
    const r = await request(s, 'POST', '/messages', { body: text });
    if (r === null || r === ABORTED) throw new Error('the server could not be reached');
    if (r.status !== 201 || !r.json || !Number.isSafeInteger(r.json.seq)) {
      throw new Error((r.json && r.json.error) || `HTTP ${r.status}`);
    }
    publishedAs(r.json.seq, t0);
  }

  const fromBase64 = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));

  /** Handles a poll answer other than 200: resume after a gap, or give up with the reason. */
  function pollRefusal(s, r) {
    const body = r.json || {};
    if (r.status === 409 && Number.isSafeInteger(body.last_seq) && state.since !== null) {
      gap(state.since, body.last_seq + 1);
      return true;
    }
    if (r.status === 410 && Number.isSafeInteger(body.oldest_seq) && state.since !== null) {
      gap(state.since, body.oldest_seq);
      return true;
    }
    s.failed(`HTTP ${r.status}${body.error ? `: ${body.error}` : ''}`);
    return false;
  }

  /** Applies a 200 poll answer; returns whether the server said there is more. */
  function pollAnswer(s, body, isPoll) {
    const msgs = Array.isArray(body.messages) ? body.messages : [];
    if (isPoll && msgs.length === 0) s.stats.empty += 1;
    for (const m of msgs) {
      if (typeof m.text === 'string') deliver(m.seq, 'text', m.text);
      else if (typeof m.binary === 'string') deliver(m.seq, 'binary', fromBase64(m.binary));
    }
    // Protocol: the next since is the last message's seq, or last_seq when empty.
    if (msgs.length === 0 && Number.isSafeInteger(body.last_seq)) state.since = body.last_seq;
    return body.more === true;
  }

  const sleep = (msDelay, signal) => new Promise((resolve) => {
    const t = setTimeout(resolve, msDelay);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });

  /**
   * Short polling (`long` false): `GET /messages?since=S` every interval.
   * Long polling: `GET /messages?since=S&wait=30`, the next one as soon as the
   * answer is in (RFC 6202). The first request of a connection is answered at
   * once either way, so the page knows at once that the server is there.
   */
  function startPoll(s, long) {
    const ac = new AbortController();
    (async () => {
      let first = true;
      while (s.live()) {
        const params = [];
        if (state.since !== null) params.push(`since=${state.since}`);
        if (long && !first) params.push(`wait=${LONG_POLL_WAIT_S}`);
        const url = `/messages${params.length ? `?${params.join('&')}` : ''}`;
        const isPoll = state.since !== null;
        const r = await request(s, 'GET', url, { signal: ac.signal });
        if (r === ABORTED || !s.live()) return;
        if (r === null) {
          s.failed(first ? 'the server cannot be reached' : 'the connection was lost');
          return;
        }
        if (r.status === 200 && r.json) {
          if (first) s.opened();
          first = false;
          const more = pollAnswer(s, r.json, isPoll);
          if (!more && !long) await sleep(state.intervalMs, ac.signal);
        } else if (!pollRefusal(s, r)) {
          return;
        }
      }
    })();
    return { publish: (text) => httpPublish(s, text), stop: () => ac.abort() };
  }

  // ---------------------------------------------------------------- SSE

  /** An event's bytes exactly as the server writes it (docs/protocol.md, pushpoll-wire's sse.rs). */
  function sseEventBytes(ev, name) {
    if (name === 'gap') return utf8Len(`event: gap\ndata: ${ev.data}\n\n`);
    let n = utf8Len(`id: ${ev.lastEventId}\n`);
    if (name) return n + utf8Len(`event: ${name}\ndata: ${ev.data}\n\n`);
    for (const line of ev.data.split('\n')) n += utf8Len(`data: ${line}\n`);
    return n + 1;
  }

  /** Learns where "now" is (`last_seq`) with one poll answered at once. */
  async function learnSince(s, signal) {
    const r = await request(s, 'GET', '/messages', { signal });
    if (r === ABORTED || !s.live()) return false;
    if (r === null) {
      s.failed('the server cannot be reached');
      return false;
    }
    if (r.status !== 200 || !r.json || !Number.isSafeInteger(r.json.last_seq)) {
      s.failed(`HTTP ${r.status}`);
      return false;
    }
    state.since = r.json.last_seq;
    return true;
  }

  /**
   * `EventSource('/events?since=S')`. Its own reconnection (with
   * `Last-Event-ID`) is not used: on error the page closes it and reconnects
   * with backoff like every other transport.
   */
  function startSse(s) {
    const ac = new AbortController();
    let es = null;
    (async () => {
      if (state.since === null && !(await learnSince(s, ac.signal))) return;
      if (!s.live()) return;
      es = new EventSource(`/events?since=${state.since}`);
      s.stats.requests += 1;
      scheduleRender();
      let open = false;
      const on = (name, handle) => es.addEventListener(name, (ev) => {
        if (!s.live()) return;
        s.stats.received += sseEventBytes(ev, name === 'message' ? null : name);
        handle(ev);
        scheduleRender();
      });
      es.onopen = () => { open = true; s.opened(); };
      on('message', (ev) => deliver(Number(ev.lastEventId), 'text', ev.data));
      on('text-base64', (ev) => deliver(Number(ev.lastEventId), 'text', decoder.decode(fromBase64(ev.data))));
      on('binary', (ev) => deliver(Number(ev.lastEventId), 'binary', fromBase64(ev.data)));
      on('gap', (ev) => {
        const g = JSON.parse(ev.data);
        gap(g.requested_since, g.oldest_seq);
      });
      es.onerror = () => {
        if (!s.live()) return;
        es.close();
        s.failed(open ? 'the event stream ended' : 'the server cannot be reached');
      };
    })();
    return {
      publish: (text) => httpPublish(s, text),
      stop() {
        ac.abort();
        if (es) es.close();
      },
    };
  }

  // ------------------------------------------------------------ WebSocket

  /**
   * `new WebSocket(url, 'pushpoll.v1')`: every server frame is binary with a
   * 9-byte header (type, then a big-endian u64), parsed with a DataView.
   * Publishing is a text frame on the same socket.
   */
  function startWs(s) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const query = state.since === null ? '' : `?since=${state.since}`;
    const ws = new WebSocket(`${scheme}//${location.host}/ws${query}`, 'pushpoll.v1');
    ws.binaryType = 'arraybuffer';
    s.stats.requests += 1;
    let open = false;

    const broken = (why) => {
      addNotice(`WebSocket protocol error: ${why}`, 'error');
      s.failed(why);
    };

    ws.onopen = () => {
      if (!s.live()) return;
      if (ws.protocol !== 'pushpoll.v1') {
        broken(`the server chose subprotocol "${ws.protocol}", not pushpoll.v1`);
        return;
      }
      open = true;
      s.opened();
    };
    ws.onmessage = (ev) => {
      if (!s.live()) return;
      if (!(ev.data instanceof ArrayBuffer)) {
        const n = utf8Len(ev.data);
        s.stats.received += wsHeaderBytes(n, false) + n;
        broken('a text frame arrived; pushpoll.v1 frames are binary');
        return;
      }
      const buf = ev.data;
      s.stats.received += wsHeaderBytes(buf.byteLength, false) + buf.byteLength;
      scheduleRender();
      if (buf.byteLength < 9) {
        broken(`a ${buf.byteLength}-byte frame is shorter than the 9-byte header`);
        return;
      }
      const view = new DataView(buf);
      const type = view.getUint8(0);
      const n = Number(view.getBigUint64(1, false));
      switch (type) {
        case 0x00: // hello: last_seq, before anything else
          if (state.since === null) state.since = n;
          break;
        case 0x01:
          deliver(n, 'text', decoder.decode(new Uint8Array(buf, 9)));
          break;
        case 0x02:
          deliver(n, 'binary', new Uint8Array(buf, 9));
          break;
        case 0x03:
          if (buf.byteLength < 17) {
            broken('a gap frame without oldest_seq');
            return;
          }
          gap(n, Number(view.getBigUint64(9, false)));
          break;
        default:
          broken(`unknown frame type 0x${type.toString(16)}`);
      }
    };
    ws.onclose = (ev) => {
      if (!s.live()) return;
      const reason = ev.reason ? `: ${ev.reason}` : '';
      s.failed(open ? `the socket closed (${ev.code}${reason})` : 'the server cannot be reached');
    };

    return {
      publish(text) {
        if (ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error('the socket is not open'));
        const n = utf8Len(text);
        ownByText.push({ text, t0: performance.now() });
        ws.send(text);
        s.stats.sent += wsHeaderBytes(n, true) + n;
        scheduleRender();
        return Promise.resolve();
      },
      stop() {
        ws.onopen = null;
        ws.onmessage = null;
        ws.onclose = null;
        ws.close(1000);
      },
    };
  }

  const TRANSPORTS = {
    ws: startWs,
    sse: startSse,
    long: (s) => startPoll(s, true),
    short: (s) => startPoll(s, false),
  };

  // ------------------------------------------------------------------- UI

  function updateCount() {
    const n = ui.input.value.length;
    ui.count.textContent = n.toLocaleString('en');
    const full = n >= MAX_CHARS;
    ui.limit.classList.toggle('warn', full);
    ui.limit.lastChild.textContent = full
      ? ' / 4,000 characters: the limit of this page (the server takes up to 64 KiB); the rest is cut'
      : ' / 4,000 characters';
  }

  ui.input.maxLength = MAX_CHARS;
  ui.input.addEventListener('input', updateCount);

  ui.compose.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = ui.input.value;
    if (text.length === 0) return;
    if (text.length > MAX_CHARS) {
      updateCount();
      return;
    }
    if (!state.conn) {
      addNotice('not connected: the message is still in the box; send again once connected', 'error');
      return;
    }
    expirePending(performance.now());
    ui.input.value = '';
    updateCount();
    try {
      await state.conn.publish(text);
    } catch (e) {
      if (ui.input.value === '') {
        ui.input.value = text;
        updateCount();
      }
      addNotice(`not sent (${e.message}): the message is back in the box`, 'error');
    }
  });

  function syncUrl() {
    const q = new URLSearchParams(location.search);
    q.set('transport', state.transport);
    if (state.transport === 'short') q.set('interval', String(state.intervalMs));
    else q.delete('interval');
    history.replaceState(null, '', `${location.pathname}?${q}`);
  }

  ui.transport.addEventListener('change', () => {
    const t = ui.transport.value;
    if (!(t in NAMES) || t === state.transport) return;
    state.transport = t;
    ui.interval.disabled = t !== 'short';
    const from = state.since === null ? '' : `, resuming after #${state.since}`;
    addNotice(`switched to ${NAMES[t]}${from}`, 'switch');
    state.attempt = 0;
    syncUrl();
    connect();
  });

  ui.interval.addEventListener('change', () => {
    state.intervalMs = Number(ui.interval.value);
    syncUrl();
  });

  ui.reset.addEventListener('click', () => {
    for (const t of KEYS) stats[t] = freshStats();
    render();
  });

  // `?transport=sse&interval=500` picks the starting transport.
  const params = new URLSearchParams(location.search);
  if (params.get('transport') in NAMES) state.transport = params.get('transport');
  if ([...ui.interval.options].some((o) => o.value === params.get('interval'))) {
    state.intervalMs = Number(params.get('interval'));
  }
  ui.transport.value = state.transport;
  ui.interval.value = String(state.intervalMs);
  ui.interval.disabled = state.transport !== 'short';
  updateCount();
  render();
  connect();
})();
