// WebSocket client for the gateway bridge (SPEC §8): rooms, resume with since_seq,
// delta-encoded chains with resync on a gap, auto-reconnect with exponential backoff +
// jitter, heartbeat with ping/pong.
//
// Invariant: for every room the client remembers the highest `seq` it has applied;
// on reconnect it re-subscribes with `since_seq` = that value, and drops any frame
// whose seq is not above it, so a reconnect never leaves a gap or a duplicate.
// A delta chain_update is applied only on top of the chain it was made from
// (`base_seq`); otherwise the room is resynced and its whole chains come again.

import { ChainDeltas } from './delta.js';

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15_000;
const OFFLINE_AFTER_ATTEMPTS = 5; // consecutive failed attempts before "offline"
const PING_IDLE_MS = 15_000; // send a ping after this long without any frame
const PONG_TIMEOUT_MS = 10_000; // declare the socket dead if nothing comes back
const STABLE_MS = 5_000; // an open socket this old resets the backoff

export const DATA_EVENTS = new Set(['underlying_update', 'chain_summary', 'chain_update', 'bar_update']);

export class Feed {
  /**
   * @param {object} o
   * @param {() => string} o.url         builds the ws:// URL (called per attempt, so a new token is used)
   * @param {(msg: object) => void} o.onMessage  data and control events, after de-duplication
   * @param {(s: object) => void} o.onStatus     status changes
   * @param {boolean} [o.resume]  re-subscribe with since_seq after a reconnect (default true);
   *   false for replay sessions, whose seq is a per-session counter with no resume: positions
   *   are forgotten on every (re)connect instead
   */
  constructor({ url, onMessage, onStatus, resume = true }) {
    this.urlFn = url;
    this.resume = resume;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.rooms = new Map(); // room -> {type, symbol, confirmed}
    this.lastSeq = Object.create(null); // room -> highest applied seq (exposed to tests)
    this.ws = null;
    this.state = 'connecting';
    this.attempt = 0;
    this.retryAt = 0;
    this.retryTimer = 0;
    this.lastFrameAt = 0;
    this.lastDataAt = 0;
    this.openedAt = 0;
    this.pingSentAt = 0;
    this.messages = 0; // data frames applied
    this.duplicates = 0; // data frames dropped as already seen
    this.deltas = new ChainDeltas();
    this.resyncs = 0; // resyncs asked for after a gap
    this.dropDeltas = 0; // test hook: delta frames to discard, as if lost
    this.reconnects = 0;
    this.lastError = '';
    this.closeInfo = '';
    this.stopped = false;
    this.hbTimer = setInterval(() => this.heartbeat(), 1000);
    window.addEventListener('online', () => this.kick());
    window.addEventListener('offline', () => this.setState(this.ws ? this.state : 'offline'));
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.kick();
    });
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  /** Reconnect now if we are waiting for a retry (browser back online, tab visible, new token). */
  kick() {
    if (this.stopped) return;
    if (!this.ws || this.ws.readyState > 1) {
      clearTimeout(this.retryTimer);
      this.connect();
    }
  }

  /** Drop the socket and reconnect immediately (e.g. after the token changed). */
  restart() {
    this.stopped = false;
    this.teardown();
    clearTimeout(this.retryTimer);
    this.attempt = 0;
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    this.teardown();
    let ws;
    try {
      ws = new WebSocket(this.urlFn());
    } catch (e) {
      this.lastError = String(e && e.message ? e.message : e);
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    this.setState(this.attempt === 0 && !this.openedAt ? 'connecting' : 'reconnecting');
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.openedAt = performance.now();
      this.lastFrameAt = this.openedAt;
      this.pingSentAt = 0;
      this.closeInfo = '';
      // Cleared in place: tests hold a reference to this object.
      if (!this.resume) for (const room of Object.keys(this.lastSeq)) delete this.lastSeq[room];
      // A resync asked on the old socket is lost with it; without resume, so are the chains.
      for (const room of this.rooms.keys()) {
        if (this.resume) this.deltas.waiting.delete(room);
        else this.deltas.forget(room);
      }
      for (const [room, r] of this.rooms) {
        r.confirmed = false;
        this.sendSubscribe(room, r);
      }
      this.setState('connected');
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      this.lastFrameAt = performance.now();
      this.pingSentAt = 0;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg && typeof msg === 'object') this.handle(msg);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.ws = null;
      const stable = this.openedAt && performance.now() - this.openedAt > STABLE_MS;
      if (stable) this.attempt = 0;
      this.openedAt = 0;
      this.closeInfo = ev.code ? `closed ${ev.code}${ev.reason ? `: ${ev.reason}` : ''}` : 'closed';
      if (ev.code === 4401 || ev.code === 4403) {
        // Not authenticated: retrying with the same token cannot help.
        this.stopped = true;
        this.setState('unauthorized');
        return;
      }
      if (ev.code === 4400) {
        // Bad request (e.g. an invalid ?replay= prefix): retrying cannot help.
        this.stopped = true;
        this.setState('refused');
        return;
      }
      this.scheduleRetry();
    };
    ws.onerror = () => {
      /* always followed by close */
    };
  }

  teardown() {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(1000, 'client reconnect');
      } catch {
        /* ignore */
      }
    }
  }

  scheduleRetry() {
    clearTimeout(this.retryTimer);
    if (this.stopped) return;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt += 1;
    this.reconnects += 1;
    this.retryAt = Date.now() + delay;
    const offline = navigator.onLine === false || this.attempt > OFFLINE_AFTER_ATTEMPTS;
    this.setState(offline ? 'offline' : 'reconnecting');
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  heartbeat() {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) {
      this.emitStatus(); // refresh the countdown
      return;
    }
    const now = performance.now();
    if (this.pingSentAt && now - this.pingSentAt > PONG_TIMEOUT_MS && this.lastFrameAt < this.pingSentAt) {
      // Half-open socket: the close handshake could take minutes, so do not wait for it.
      this.closeInfo = 'heartbeat timeout';
      this.teardown();
      this.scheduleRetry();
      return;
    }
    if (!this.pingSentAt && now - this.lastFrameAt > PING_IDLE_MS) {
      this.pingSentAt = now;
      this.send({ op: 'ping' });
    }
    this.emitStatus();
  }

  handle(msg) {
    const ev = msg.event;
    if (DATA_EVENTS.has(ev)) {
      const room = msg.room || 'general';
      if (room !== 'general' && !this.rooms.has(room)) return; // late frame of a room we left
      if (typeof msg.seq === 'number') {
        const last = this.lastSeq[room] || 0;
        if (msg.seq <= last) {
          this.duplicates += 1;
          return;
        }
      }
      if (ev === 'chain_update' && (msg.encoding === 'delta' || this.rooms.get(room)?.encoding === 'delta')) {
        if (msg.encoding === 'delta' && this.dropDeltas > 0) {
          this.dropDeltas -= 1;
          return;
        }
        const chain = this.deltas.resolve(msg);
        if (chain === null) {
          const r = this.rooms.get(room);
          if (r && this.deltas.needsResync(room)) {
            this.resyncs += 1;
            this.send({ op: 'resync', type: r.type, symbol: r.symbol });
          }
          return;
        }
        msg = { ...msg, data: chain };
      }
      if (typeof msg.seq === 'number') this.lastSeq[room] = msg.seq;
      this.messages += 1;
      this.lastDataAt = Date.now();
      this.onMessage(msg);
      return;
    }
    if (ev === 'subscribed') {
      const r = this.rooms.get(msg.room);
      if (r) r.confirmed = true;
      this.deltas.subscribed(msg.room, msg.quote_fields);
    } else if (ev === 'resync') {
      // The resume point is older than the stream keeps, or we asked after a gap: the
      // server follows with the latest snapshot, whole. Forget our position so that
      // snapshot is accepted even if the stream was recreated with lower sequence numbers.
      if (msg.room) {
        delete this.lastSeq[msg.room];
        this.deltas.forget(msg.room);
      }
    } else if (ev === 'error') {
      this.lastError = String(msg.message || 'error');
    }
    this.onMessage(msg);
  }

  send(obj) {
    const ws = this.ws;
    if (ws && ws.readyState === 1) {
      ws.send(JSON.stringify(obj));
      return true;
    }
    return false;
  }

  sendSubscribe(room, r) {
    const m = { op: 'subscribe', type: r.type, symbol: r.symbol };
    if (r.encoding) m.encoding = r.encoding;
    const s = this.lastSeq[room];
    if (this.resume && typeof s === 'number' && s > 0) m.since_seq = s;
    this.send(m);
  }

  /** Join a room; `{ encoding: 'delta' }` asks for delta-encoded chain_update frames. */
  subscribe(type, symbol, { encoding } = {}) {
    const room = `${type}:${symbol}`;
    if (this.rooms.has(room)) return room;
    const r = { type, symbol, encoding, confirmed: false };
    this.rooms.set(room, r);
    this.sendSubscribe(room, r);
    return room;
  }

  /** Leave a room and forget its position (coming back later starts from the latest snapshot). */
  unsubscribe(type, symbol) {
    const room = `${type}:${symbol}`;
    if (!this.rooms.delete(room)) return;
    delete this.lastSeq[room];
    this.deltas.forget(room);
    this.send({ op: 'unsubscribe', type, symbol });
  }

  setState(s) {
    if (this.state !== s) this.state = s;
    this.emitStatus();
  }

  emitStatus() {
    this.onStatus({
      state: this.state,
      retryInMs: this.state === 'reconnecting' || this.state === 'offline' ? Math.max(0, this.retryAt - Date.now()) : 0,
      attempt: this.attempt,
      lastDataAt: this.lastDataAt,
      closeInfo: this.closeInfo,
      lastError: this.lastError,
    });
  }
}
