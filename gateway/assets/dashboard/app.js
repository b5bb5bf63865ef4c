// DeltaStream live dashboard. Plain ES modules, no build step.
//
// Data flow: WebSocket frames (ws.js) update an in-memory state that keeps only the
// latest value of everything (latest chain per expiry, latest tick, bars by start);
// the DOM is redrawn at most once per animation frame from that state, so a burst of
// frames (several chains a second, or a resume backlog) costs one redraw.

import * as F from './format.js';
import { Feed } from './ws.js';
import { ChainTable, BUILDUP_LEGEND } from './chain.js';
import { ProductPicker } from './picker.js';
import { statusOf } from './market.js';
import { PriceChart, SmileChart } from './charts.js';
import { hooks } from './test-hooks.js';

const FALLBACK_PRODUCTS = [
  { name: 'NIFTY', exchange: 'NSE' },
  { name: 'BANKNIFTY', exchange: 'NSE' },
  { name: 'AAPL', exchange: 'US' },
  { name: 'TSLA', exchange: 'US' },
];
// The product list (market status, last values) is refreshed this often, and at
// once when a market opens or closes.
const PRODUCTS_REFRESH_MS = 60_000;
// Strikes shown around the ATM strike: `auto` shows every strike of a chain of
// up to AUTO_ALL_STRIKES, else ±AUTO_WINDOW.
const AUTO_ALL_STRIKES = 41;
const AUTO_WINDOW = 20;
const INTERVALS = ['1m', '5m', '15m'];
const STEP_S = { '1m': 60, '5m': 300, '15m': 900 };
const HISTORY_BARS = 300;
const MAX_BARS = 3000;
const IDLE_MS = 60_000; // connected but no data for this long: shown as "idle"

// The page may sit behind a path prefix (ingress): derive it from our own URL so the
// API and WebSocket are requested next to wherever /dashboard/ is served.
const BASE = (() => {
  const p = location.pathname;
  const i = p.lastIndexOf('/dashboard');
  return i > 0 ? p.slice(0, i) : '';
})();

const $ = (id) => document.getElementById(id);

// `?replay=<prefix>`: follow the replay session `deltastream replay --publish-prefix
// <prefix>` publishes instead of live (same rooms and frames; no resume, and bar
// history / expiries come from the replayed frames, not from REST, which is live).
const REPLAY = (new URLSearchParams(location.search).get('replay') || '').trim();

// ---------------------------------------------------------------- state

const S = {
  token: readToken(),
  products: [],
  product: null,
  p: F.profileFor(null),
  interval: '1m',
  userExpiry: null,
  expiry: null,
  expiriesKey: '',
  chains: new Map(), // expiry -> EnrichedChain (selected product)
  restExpiries: [],
  summaries: new Map(), // product -> Map(expiry -> ChainSummary)  (room general)
  und: null, // latest EnrichedUnderlying of the selected product
  quotes: new Map(), // product -> {price, chg}  for the product picker
  strikeWin: 'auto', // 'auto' | '10' | '20' | 'all': strikes shown each side of ATM
  productsAt: 0, // Date.now() of the last product list
  bars: {}, // interval -> Map(start seconds -> bar)
  sorted: {}, // interval -> sorted closed bars (cache)
  forming: {}, // interval -> live bar built from ticks
  histLoading: new Set(),
  hover: null,
  smileHover: null,
  status: { state: 'connecting' },
  notice: '',
  rate: 0,
  lastRateCount: 0,
  prevSpot: NaN,
};
resetProductState();

function resetProductState() {
  S.chains = new Map();
  S.restExpiries = [];
  S.userExpiry = null;
  S.expiry = null;
  S.expiriesKey = '';
  S.und = null;
  S.prevSpot = NaN;
  for (const iv of INTERVALS) {
    S.bars[iv] = new Map();
    S.sorted[iv] = null;
    S.forming[iv] = null;
  }
}

function readToken() {
  let t = '';
  try {
    const q = new URLSearchParams(location.search);
    const fromUrl = q.get('token');
    if (fromUrl) {
      t = fromUrl;
      try {
        localStorage.setItem('ds_token', fromUrl);
      } catch {
        /* storage disabled */
      }
    } else {
      t = localStorage.getItem('ds_token') || '';
    }
  } catch {
    /* ignore */
  }
  return t;
}

function saveToken(t) {
  S.token = t;
  try {
    if (t) localStorage.setItem('ds_token', t);
    else localStorage.removeItem('ds_token');
  } catch {
    /* ignore */
  }
  // Keep the token out of the address bar once it is stored.
  const q = new URLSearchParams(location.search);
  if (q.has('token')) {
    q.delete('token');
    const qs = q.toString();
    history.replaceState(null, '', `${location.pathname}${qs ? `?${qs}` : ''}${location.hash}`);
  }
}

// ---------------------------------------------------------------- REST

async function api(path) {
  const headers = { Accept: 'application/json' };
  if (S.token) {
    headers.Authorization = `Bearer ${S.token}`;
    // API keys (not JWT-shaped) are also offered in the header REST documents for them.
    if (S.token.split('.').length !== 3) headers['X-Api-Key'] = S.token;
  }
  const r = await fetch(`${BASE}${path}`, { headers, cache: 'no-store' });
  if (r.status === 401 || r.status === 403) {
    S.notice = `REST ${r.status} on ${path.split('?')[0]}: set a token`;
    mark('status');
  }
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  return r.json();
}

/** The universe, every page of it, with each product's market status and last tick. */
async function loadProducts() {
  let items = [];
  try {
    let path = '/api/v1/products';
    for (let page = 0; page < 20 && path; page++) {
      const r = await api(path);
      items.push(
        ...(Array.isArray(r) ? r : r.items || [])
          .map((x) => (typeof x === 'string' ? { name: x } : x))
          .filter((x) => x && typeof x.name === 'string'),
      );
      path = r && r.next_cursor ? `/api/v1/products?cursor=${encodeURIComponent(r.next_cursor)}` : '';
    }
  } catch (e) {
    S.notice = `products: ${e.message}; using defaults`;
  }
  if (!items.length) items = S.products.length ? S.products : FALLBACK_PRODUCTS;
  S.products = items.map((x) => ({ ...x, profile: F.profileFor(x) }));
  S.productsAt = Date.now();
  hooks.products = S.products.length;
  picker.setProducts(S.products);
  mark('tabs', 'status');
}

async function loadExpiries(product) {
  if (REPLAY) return;
  try {
    const r = await api(`/api/v1/products/${encodeURIComponent(product)}/expiries`);
    const items = Array.isArray(r) ? r : r.items || r.expiries || [];
    if (product !== S.product) return;
    S.restExpiries = items.map((x) => (typeof x === 'string' ? x : x && x.expiry)).filter(Boolean);
    mark('expiries', 'tiles', 'chain');
  } catch {
    /* optional: expiries also come from the chain room */
  }
}

async function loadHistory(product, interval) {
  if (REPLAY) return; // bars come from the replayed day's bar_update frames
  const key = `${product}|${interval}`;
  if (S.histLoading.has(key)) return;
  S.histLoading.add(key);
  const stepMs = STEP_S[interval] * 1000;
  try {
    // Anchor the window on the product's latest tick, not the wall clock, so a
    // replayed or back-filled day shows its own bars.
    let anchor = NaN;
    try {
      const l = await api(`/api/v1/underlying/${encodeURIComponent(product)}/latest`);
      anchor = F.msOf(l && (l.item || l.data || l), 'ts_unix_ns', 'ts');
    } catch {
      /* fall back below */
    }
    if (!Number.isFinite(anchor) && S.und && S.product === product) anchor = F.msOf(S.und, 'ts_unix_ns', 'ts');
    let items = await fetchBars(product, interval, anchor, stepMs);
    if (!items.length && Number.isFinite(anchor)) items = await fetchBars(product, interval, NaN, stepMs);
    if (product !== S.product) return;
    const map = S.bars[interval];
    for (const b of items) {
      if (b.interval && b.interval !== interval) continue;
      const bar = toBar(b);
      if (Number.isFinite(bar.t) && !map.has(bar.t)) map.set(bar.t, bar);
    }
    closedChanged(interval);
    mark('price');
  } catch (e) {
    S.notice = `bar history (${interval}): ${e.message}`;
    mark('status');
  } finally {
    S.histLoading.delete(key);
  }
}

async function fetchBars(product, interval, anchor, stepMs) {
  const q = new URLSearchParams({ interval, limit: String(HISTORY_BARS) });
  if (Number.isFinite(anchor)) {
    q.set('from', String(Math.floor(anchor - HISTORY_BARS * stepMs)));
    q.set('to', String(Math.ceil(anchor + stepMs)));
  }
  const out = [];
  for (let page = 0; page < 5; page++) {
    const r = await api(`/api/v1/underlying/${encodeURIComponent(product)}/bars?${q}`);
    const items = Array.isArray(r) ? r : r.items || [];
    out.push(...items);
    if (!r.next_cursor || out.length >= MAX_BARS) break;
    q.set('cursor', r.next_cursor);
  }
  return out;
}

// ---------------------------------------------------------------- bars

function toBar(b) {
  return {
    ...b,
    t: F.msOf(b, 'start_unix_ns', 'start') / 1000,
    o: b.open,
    h: b.high,
    l: b.low,
    c: b.close,
    v: b.volume || 0,
  };
}

function closedChanged(iv) {
  const map = S.bars[iv];
  if (map.size > MAX_BARS) {
    const keys = [...map.keys()].sort((a, b) => a - b);
    for (let i = 0; i < keys.length - MAX_BARS; i++) map.delete(keys[i]);
  }
  S.sorted[iv] = null;
  const f = S.forming[iv];
  if (f && map.size) {
    const last = lastClosed(iv);
    if (last && f.t <= last.t) S.forming[iv] = null;
  }
}

function sortedBars(iv) {
  if (!S.sorted[iv]) S.sorted[iv] = [...S.bars[iv].values()].sort((a, b) => a.t - b.t);
  return S.sorted[iv];
}

function lastClosed(iv) {
  const s = sortedBars(iv);
  return s.length ? s[s.length - 1] : null;
}

/** Extend the live (not yet closed) bar of every interval with a tick. */
function tickIntoForming(d) {
  const ms = F.msOf(d, 'ts_unix_ns', 'ts');
  const px = d.price;
  if (!Number.isFinite(ms) || !Number.isFinite(px)) return;
  for (const iv of INTERVALS) {
    const step = STEP_S[iv];
    const t = Math.floor(ms / 1000 / step) * step;
    const lc = lastClosed(iv);
    if (lc && t <= lc.t) continue; // that bar is already closed
    const f = S.forming[iv];
    if (!f || t > f.t) {
      S.forming[iv] = { t, o: px, h: px, l: px, c: px, v: d.volume || 0, live: true };
    } else if (t === f.t) {
      if (px > f.h) f.h = px;
      if (px < f.l) f.l = px;
      f.c = px;
      f.v += d.volume || 0;
    }
  }
}

function displayBars(iv) {
  const closed = sortedBars(iv);
  const f = S.forming[iv];
  if (!f) return closed;
  const lc = closed.length ? closed[closed.length - 1] : null;
  return lc && f.t <= lc.t ? closed : closed.concat([f]);
}

// ---------------------------------------------------------------- expiries

function expiryList() {
  const set = new Set(S.chains.keys());
  const sm = S.summaries.get(S.product);
  if (sm) for (const e of sm.keys()) set.add(e);
  for (const e of S.restExpiries) set.add(e);
  return [...set].sort();
}

function pickExpiry(list) {
  if (S.userExpiry && list.includes(S.userExpiry)) return S.userExpiry;
  const today = new Date().toISOString().slice(0, 10);
  for (const e of list) {
    const c = S.chains.get(e);
    if (c && Number.isFinite(c.time_to_expiry_years)) {
      if (c.time_to_expiry_years > 0) return e;
    } else if (e >= today) {
      return e;
    }
  }
  return list[0] || null;
}

// ---------------------------------------------------------------- messages

function onMessage(msg) {
  hooks.messages = feed.messages;
  hooks.duplicates = feed.duplicates;
  hooks.deltas = feed.deltas.applied;
  hooks.gaps = feed.deltas.gaps;
  hooks.resyncs = feed.resyncs;
  hooks.lastMessageAt = feed.lastDataAt;
  const d = msg.data;
  switch (msg.event) {
    case 'underlying_update': {
      if (!d || d.product !== S.product) return;
      S.und = d;
      hooks.lastPrice = d.price;
      S.quotes.set(d.product, { price: d.price, chg: d.change_pct });
      tickIntoForming(d);
      mark('tiles', 'price', 'tabs');
      break;
    }
    case 'bar_update': {
      if (!d || d.product !== S.product || !S.bars[d.interval]) return;
      const bar = toBar(d);
      if (!Number.isFinite(bar.t)) return;
      S.bars[d.interval].set(bar.t, bar);
      closedChanged(d.interval);
      if (d.interval === S.interval) mark('price');
      break;
    }
    case 'chain_update': {
      if (!d || d.product !== S.product || !d.expiry) return;
      const isNew = !S.chains.has(d.expiry);
      S.chains.set(d.expiry, d);
      hooks.chainUpdates += 1;
      hooks.recentChains.push({ seq: msg.seq, chain: d });
      if (hooks.recentChains.length > 50) hooks.recentChains.shift();
      if (isNew) mark('expiries');
      if (isNew || d.expiry === S.expiry) mark('chain', 'tiles');
      break;
    }
    case 'chain_summary': {
      if (!d || !d.product) return;
      let m = S.summaries.get(d.product);
      if (!m) S.summaries.set(d.product, (m = new Map()));
      const isNew = !m.has(d.expiry);
      m.set(d.expiry, d);
      // Other products only get summaries (no session change): show their spot alone.
      if (d.product !== S.product || !S.und) S.quotes.set(d.product, { price: d.spot, chg: NaN });
      mark('tabs');
      if (d.product === S.product) {
        if (isNew) mark('expiries');
        if (d.expiry === S.expiry && !S.chains.has(d.expiry)) mark('tiles');
      }
      break;
    }
    case 'resync': {
      S.notice = `${msg.room}: ${msg.reason || 'resync'}; resynced from the latest snapshot`;
      if (msg.room === `bars:${S.product}`) {
        for (const iv of INTERVALS) {
          S.bars[iv] = new Map();
          S.sorted[iv] = null;
        }
        loadHistory(S.product, S.interval);
      }
      mark('status', 'price');
      break;
    }
    case 'error': {
      hooks.errors += 1;
      S.notice = `server: ${msg.message || 'error'}`;
      mark('status');
      break;
    }
    default:
      break;
  }
}

function onStatus(st) {
  const wasConnected = S.status.state === 'connected';
  S.status = st;
  if (st.state === 'connected' && !wasConnected && feed && feed.reconnects > 0 && S.product) {
    // Bars closed while we were away are replayed by the resume, unless we had no
    // position in the bars room yet (then only the latest bar comes): refill from REST.
    if (!feed.lastSeq[`bars:${S.product}`]) loadHistory(S.product, S.interval);
  }
  hooks.status = st.state;
  hooks.connected = st.state === 'connected';
  hooks.reconnects = feed ? feed.reconnects : 0;
  mark('status');
}

// ---------------------------------------------------------------- rendering

const dirty = new Set();
let raf = 0;

function mark(...keys) {
  for (const k of keys) dirty.add(k);
  if (!raf) raf = requestAnimationFrame(frame);
}

function frame() {
  raf = 0;
  const d = new Set(dirty);
  dirty.clear();
  try {
    if (d.has('expiries')) renderExpiries();
    if (d.has('tabs')) renderTabs();
    if (d.has('chain')) renderChain();
    if (d.has('tiles')) renderTiles();
    if (d.has('price')) renderPrice();
    if (d.has('status')) renderStatus();
  } finally {
    hooks.renders += 1;
  }
}

// product picker (the `tabs` render key)
let picker;

function renderTabs() {
  picker.render(S.quotes);
  hooks.pickerOpen = picker.isOpen();
}

function renderExpiries() {
  const list = expiryList();
  const sel = pickExpiry(list);
  if (sel !== S.expiry) {
    S.expiry = sel;
    hooks.expiry = sel;
    mark('chain', 'tiles');
  }
  const key = `${S.product}|${list.map((e) => (S.chains.has(e) ? `${e}*` : e)).join(',')}|${sel}`;
  if (key === S.expiriesKey) return;
  S.expiriesKey = key;
  const box = $('expiries');
  box.textContent = '';
  for (const e of list) {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.expiry = e;
    b.textContent = F.expiryLabel(e);
    const c = S.chains.get(e);
    if (c && Number.isFinite(c.time_to_expiry_years)) {
      const s = document.createElement('small');
      s.textContent = F.tte(c.time_to_expiry_years).split(' ')[0];
      b.appendChild(s);
    }
    b.title = F.expiryLabel(e, true);
    if (e === sel) b.className = 'on';
    b.addEventListener('click', () => {
      S.userExpiry = e;
      S.smileHover = null;
      mark('expiries', 'chain', 'tiles');
    });
    box.appendChild(b);
  }
}

function currentChain() {
  return S.expiry ? S.chains.get(S.expiry) || null : null;
}

function currentSummary() {
  const m = S.summaries.get(S.product);
  return m && S.expiry ? m.get(S.expiry) || null : null;
}

let chainTable;
let priceChart;
let smileChart;

function renderChain() {
  const c = currentChain();
  const empty = $('chainEmpty');
  if (!c) {
    if (chainTable.rows.length) chainTable.reset();
    hooks.chainRows = 0;
    empty.hidden = false;
    empty.textContent = S.expiry ? `Waiting for the ${F.expiryLabel(S.expiry)} chain…` : 'Waiting for the option chain…';
    smileChart.clear();
    setText($('smileExp'), '');
    setText($('chainMeta'), '');
    return;
  }
  empty.hidden = true;
  hooks.chainRows = chainTable.render(c, S.p, c.spot, strikeWindow(c));
  smileChart.update(c, S.p, c.spot);
  setText($('smileExp'), `${F.expiryLabel(c.expiry, true)} · ${F.tte(c.time_to_expiry_years)}`);
  const ms = F.msOf(c, 'ts_unix_ns', 'ts');
  const total = c.strikes?.length || 0;
  const shown = hooks.chainRows < total ? `${hooks.chainRows} of ${total}` : `${total}`;
  const illq = (c.calls || []).concat(c.puts || []).filter((q) => q && q.illiquid).length;
  setText(
    $('chainMeta'),
    `${shown} strikes${illq ? ` · ${illq} illiquid` : ''} · ${F.time(ms, S.p.tz)} · seq ${c.seq ?? '–'}`,
  );
  renderSmileReadout();
}

/** Strikes each side of ATM the chain table shows (Infinity: all). */
function strikeWindow(c) {
  const n = (c.strikes || []).length;
  if (S.strikeWin === 'all') return Infinity;
  if (S.strikeWin === 'auto') return n <= AUTO_ALL_STRIKES ? Infinity : AUTO_WINDOW;
  return Number(S.strikeWin);
}

function renderSmileReadout() {
  const h = S.smileHover;
  const el = $('smileReadout');
  if (!h) {
    const c = currentChain();
    setHTML(el, c && Number.isFinite(c.atm_iv) ? `ATM <b>${F.strike(c.atm_strike, S.p)}</b> IV <b>${F.ivPct(c.atm_iv)}%</b>` : '');
    return;
  }
  const iv = (v) => (v == null ? '–' : `${v.toFixed(1)}%`);
  setHTML(el, `K <b>${F.strike(h.strike, S.p)}</b> · CE <b>${iv(h.call)}</b> · PE <b>${iv(h.put)}</b>`);
}

// A tile's parts; a figure tile (one with a data-label) is first filled from
// the page's figureTile template.
function tile(id) {
  const el = $(id);
  if (el.dataset.label) {
    el.append($('figureTile').content.cloneNode(true));
    el.querySelector('.t-label').textContent = el.dataset.label;
  }
  return { el, v: el.querySelector('.t-value'), c: el.querySelector('.t-chg'), s: el.querySelector('.t-sub') };
}
let T;

function renderTiles() {
  const p = S.p;
  const c = currentChain();
  const sm = currentSummary();
  const a = c || sm; // analytics source: full chain, else the summary from `general`
  const u = S.und;
  const spot = u ? u.price : a ? a.spot : NaN;

  // Spot
  setText(T.prod, S.product || '–');
  setText(T.spot.v, F.price(spot, p));
  // Last tick direction as a small arrow (a flashing big number is tiring all day).
  if (Number.isFinite(spot) && Number.isFinite(S.prevSpot) && spot !== S.prevSpot) {
    const up = spot > S.prevSpot;
    setText(T.tick, up ? '▲' : '▼');
    setClass(T.tick, `t-tick ${up ? 'pos' : 'neg'}`);
  } else if (!Number.isFinite(spot)) {
    setText(T.tick, '');
  }
  S.prevSpot = spot;
  if (u && Number.isFinite(u.change_pct)) {
    const abs = u.price - u.session_open;
    setText(T.spot.c, `${F.signed(abs, p.dp, p)}  ${F.pct(u.change_pct)}`);
    setClass(T.spot.c, `t-chg ${u.change_pct >= 0 ? 'pos' : 'neg'}`);
    const ms = F.msOf(u, 'ts_unix_ns', 'ts');
    setHTML(
      T.spot.s,
      `O <b>${F.price(u.session_open, p)}</b> H <b>${F.price(u.session_high, p)}</b> L <b>${F.price(u.session_low, p)}</b> · ${F.time(ms, p.tz)}`,
    );
  } else {
    setText(T.spot.c, '');
    setText(T.spot.s, a ? `chain spot · ${F.time(F.msOf(a, 'ts_unix_ns', 'ts'), p.tz)}` : 'waiting for ticks…');
  }

  if (!a) {
    for (const t of [T.pcr, T.mp, T.str, T.iv]) {
      setText(t.v, '–');
      setText(t.c, '');
      setText(t.s, S.expiry ? `waiting for ${F.expiryLabel(S.expiry)}…` : 'waiting for chain…');
    }
    return;
  }
  const expTxt = F.expiryLabel(a.expiry);

  // PCR (OI)
  setText(T.pcr.v, F.fixed(a.pcr_oi, 2));
  setText(T.pcr.c, Number.isFinite(a.pcr_volume) ? `vol ${F.fixed(a.pcr_volume, 2)}` : '');
  setClass(T.pcr.c, 't-chg muted');
  setHTML(
    T.pcr.s,
    c
      ? `OI PE <b>${F.qty(c.total_put_oi, p)}</b> / CE <b>${F.qty(c.total_call_oi, p)}</b> · ${expTxt}`
      : `${expTxt}`,
  );

  // Max pain
  setText(T.mp.v, F.strike(a.max_pain_strike, p));
  const dist = a.max_pain_strike - spot;
  setText(T.mp.c, Number.isFinite(dist) ? `${F.signed(dist, p.dp, p)}` : '');
  setClass(T.mp.c, 't-chg muted');
  setHTML(
    T.mp.s,
    Number.isFinite(dist) && spot ? `<b>${F.pct((dist / spot) * 100)}</b> from spot · ${expTxt}` : expTxt,
  );

  // ATM straddle
  setText(T.str.v, F.price(a.atm_straddle, p));
  const move = spot ? (a.atm_straddle / spot) * 100 : NaN;
  setText(T.str.c, Number.isFinite(move) ? `±${F.fixed(move, 2)}%` : '');
  setClass(T.str.c, 't-chg muted');
  let legs = '';
  if (c) {
    const i = (c.strikes || []).indexOf(c.atm_strike);
    if (i >= 0) legs = ` CE <b>${F.premium(c.calls?.[i]?.last, p)}</b> + PE <b>${F.premium(c.puts?.[i]?.last, p)}</b>`;
  }
  setHTML(T.str.s, `<b>${F.strike(a.atm_strike, p)}</b>${legs}`);

  // ATM IV
  setText(T.iv.v, Number.isFinite(a.atm_iv) ? `${F.ivPct(a.atm_iv, 2)}%` : '–');
  setText(T.iv.c, c ? F.tte(c.time_to_expiry_years) : '');
  setClass(T.iv.c, 't-chg muted');
  setHTML(
    T.iv.s,
    c
      ? `${F.expiryLabel(a.expiry, true)} · r <b>${F.fixed(c.rate * 100, 2)}%</b> q <b>${F.fixed(c.dividend_yield * 100, 2)}%</b>`
      : F.expiryLabel(a.expiry, true),
  );
}

function renderPrice() {
  const bars = displayBars(S.interval);
  const last = S.und ? S.und.price : NaN;
  priceChart.update(bars, last, S.interval);
  hooks.bars = bars.length;
  renderReadout();
}

function renderReadout() {
  const bars = displayBars(S.interval);
  const b = S.hover || bars[bars.length - 1];
  const el = $('ohlc');
  if (!b) {
    setHTML(el, '<span class="muted">waiting for bars…</span>');
    return;
  }
  const p = S.p;
  const chg = b.o ? ((b.c - b.o) / b.o) * 100 : NaN;
  const cls = chg >= 0 ? 'pos' : 'neg';
  let s = `${F.hm(b.t * 1000, p.tz)}  O <b>${F.price(b.o, p)}</b> H <b>${F.price(b.h, p)}</b> L <b>${F.price(b.l, p)}</b> C <b class="${cls}">${F.price(b.c, p)}</b>`;
  const ind = [`<span class="${cls}">${F.pct(chg)}</span>`];
  if (b.v) ind.push(`V <b>${F.qty(b.v, p)}</b>`);
  if (Number.isFinite(b.ema_9)) ind.push(`<span class="e9">EMA9</span> <b>${F.price(b.ema_9, p)}</b>`);
  if (Number.isFinite(b.ema_21)) ind.push(`<span class="e21">EMA21</span> <b>${F.price(b.ema_21, p)}</b>`);
  if (Number.isFinite(b.bb_upper)) ind.push(`<span class="bbc">BB</span> <b>${F.price(b.bb_lower, p)}</b>–<b>${F.price(b.bb_upper, p)}</b>`);
  if (Number.isFinite(b.rsi_14)) ind.push(`RSI <b>${F.fixed(b.rsi_14, 1)}</b>`);
  if (Number.isFinite(b.macd_hist)) ind.push(`MACD h <b>${F.fixed(b.macd_hist, 2)}</b>`);
  if (ind.length) s += `<div class="ind">${ind.join('  ')}</div>`;
  setHTML(el, s);
}

let rateTimer = 0;
function renderStatus() {
  const st = S.status;
  const conn = $('conn');
  let state = st.state;
  let label;
  let sub = '';
  const ageMs = st.lastDataAt ? Date.now() - st.lastDataAt : NaN;
  switch (state) {
    case 'connected':
      if (Number.isFinite(ageMs) && ageMs > IDLE_MS) {
        state = 'stale';
        label = 'Idle';
      } else {
        label = REPLAY ? 'Replay' : 'Live';
      }
      sub = st.lastDataAt ? `last msg ${F.time(st.lastDataAt, S.p.tz)} (${F.age(ageMs)})` : 'waiting for data';
      break;
    case 'connecting':
      label = 'Connecting';
      sub = '';
      break;
    case 'reconnecting':
      label = 'Reconnecting';
      sub = `retry in ${Math.ceil(st.retryInMs / 1000)}s (#${st.attempt})`;
      break;
    case 'offline':
      label = 'Offline';
      sub = `retry in ${Math.ceil(st.retryInMs / 1000)}s`;
      break;
    case 'unauthorized':
      label = 'Unauthorized';
      sub = 'click to set token';
      break;
    case 'refused':
      label = 'Refused';
      sub = st.closeInfo;
      break;
    default:
      label = state;
  }
  if (state !== 'connected' && state !== 'stale' && st.lastDataAt) sub += ` · last msg ${F.time(st.lastDataAt, S.p.tz)}`;
  setClass(conn, `conn s-${state}`);
  // Data on screen is not live while disconnected: dim it so nobody trades on it.
  document.body.classList.toggle('is-stale', st.state !== 'connected');
  setText(conn.querySelector('.conn-label'), label);
  setText(conn.querySelector('.conn-sub'), sub);
  conn.title = [st.closeInfo, st.lastError].filter(Boolean).join(' · ') || 'WebSocket status';

  // exchange clock and the selected product's market status
  setText($('clock'), `${F.time(Date.now(), S.p.tz)} ${F.tzName(S.p.tz, S.p.locale)}`);
  renderMarket();

  // status bar
  const rooms = ['general', ...feed.rooms.keys()]
    .map((r) => `${r} #${feed.lastSeq[r] ?? '–'}`)
    .join('  ');
  setText($('sbRooms'), rooms);
  setText(
    $('sbRate'),
    `msgs ${feed.messages.toLocaleString('en-US')} · ${S.rate}/s · dup ${feed.duplicates} · reconnects ${feed.reconnects}`,
  );
  setText($('sbError'), S.notice || st.closeInfo || '');
  hooks.reconnects = feed.reconnects;
  hooks.messages = feed.messages;
}

function renderMarket() {
  const pr = S.products.find((x) => x.name === S.product);
  const st = statusOf(pr, Date.now());
  const el = $('market');
  setText(el, st.label);
  setClass(el, `market ${st.known ? (st.open ? 'm-open' : 'm-closed') : 'm-unknown'}`);
  el.title = st.title;
  hooks.marketOpen = st.known ? st.open : null;
  // A market opened or closed since the list was read, or it is old: read it again.
  const due = Date.now() - S.productsAt > PRODUCTS_REFRESH_MS;
  if ((st.stale || due) && !loadingProducts) {
    loadingProducts = true;
    loadProducts().finally(() => {
      loadingProducts = false;
    });
  }
}
let loadingProducts = false;

// one-second housekeeping: message rate, clock, "x s ago"
function tickSecond() {
  S.rate = feed.messages - S.lastRateCount;
  S.lastRateCount = feed.messages;
  mark('status');
}

function setText(el, txt) {
  if (el && el._t !== txt) {
    el._t = txt;
    el.textContent = txt;
  }
}
function setHTML(el, html) {
  if (el && el._h !== html) {
    el._h = html;
    el.innerHTML = html;
  }
}
function setClass(el, cls) {
  if (el && el.className !== cls) el.className = cls;
}

// ---------------------------------------------------------------- actions

function selectProduct(name) {
  if (name === S.product) return;
  const old = S.product;
  if (old) {
    feed.unsubscribe('product', old);
    feed.unsubscribe('chain', old);
    feed.unsubscribe('bars', old);
  }
  S.product = name;
  picker.setCurrent(name);
  const pr = S.products.find((x) => x.name === name);
  S.p = pr ? pr.profile : F.profileFor({ name });
  hooks.product = name;
  hooks.lastPrice = null;
  hooks.chainRows = 0;
  hooks.chainUpdates = 0;
  resetProductState();
  S.hover = null;
  S.smileHover = null;
  chainTable.reset();
  smileChart.clear();
  priceChart.setProduct(S.p);
  try {
    localStorage.setItem('ds_product', name);
  } catch {
    /* ignore */
  }
  const q = new URLSearchParams(location.search);
  q.set('product', name);
  q.delete('token');
  history.replaceState(null, '', `${location.pathname}?${q}${location.hash}`);
  document.title = `${REPLAY ? 'REPLAY · ' : ''}${name} · DeltaStream`;
  setText($('priceTitle'), `${name} · ${S.p.exchange}`);

  feed.subscribe('product', name);
  feed.subscribe('chain', name, { encoding: 'delta' });
  feed.subscribe('bars', name);
  loadHistory(name, S.interval);
  loadExpiries(name);
  mark('tabs', 'expiries', 'chain', 'tiles', 'price', 'status');
}

function initialProduct() {
  const names = S.products.map((x) => x.name);
  const q = new URLSearchParams(location.search).get('product');
  if (q && names.includes(q.toUpperCase())) return q.toUpperCase();
  let saved = null;
  try {
    saved = localStorage.getItem('ds_product');
  } catch {
    /* ignore */
  }
  if (saved && names.includes(saved)) return saved;
  return names[0];
}

function wsUrl() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const q = new URLSearchParams();
  if (REPLAY) q.set('replay', REPLAY);
  if (S.token) q.set('token', S.token); // last: the status bar hides it
  const qs = q.toString();
  return `${proto}//${location.host}${BASE}/ws${qs ? `?${qs}` : ''}`;
}

function bindControls() {
  $('intervals').addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-iv]');
    if (!b || b.dataset.iv === S.interval) return;
    S.interval = b.dataset.iv;
    for (const x of $('intervals').querySelectorAll('button')) x.classList.toggle('on', x === b);
    priceChart.zoomed = false;
    S.hover = null;
    if (S.bars[S.interval].size < 2) loadHistory(S.product, S.interval);
    mark('price');
  });
  $('overlays').addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-ov]');
    if (!b) return;
    const on = !b.classList.contains('on');
    b.classList.toggle('on', on);
    priceChart.setOverlays({ [b.dataset.ov]: on });
  });
  $('atmBtn').addEventListener('click', () => chainTable.scrollToAtm());
  $('strikeWin').addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-w]');
    if (!b || b.dataset.w === S.strikeWin) return;
    S.strikeWin = b.dataset.w;
    for (const x of $('strikeWin').querySelectorAll('button')) x.classList.toggle('on', x === b);
    chainTable.reset();
    mark('chain');
  });

  const dlg = $('tokenDlg');
  const openDlg = () => {
    $('tokenInput').value = S.token;
    if (typeof dlg.showModal === 'function') dlg.showModal();
  };
  $('tokenBtn').addEventListener('click', openDlg);
  $('conn').addEventListener('click', () => {
    if (S.status.state === 'unauthorized') openDlg();
    else if (S.status.state !== 'connected') feed.kick();
  });
  dlg.addEventListener('close', () => {
    const v = dlg.returnValue;
    if (v === 'save' || v === 'clear') {
      saveToken(v === 'save' ? $('tokenInput').value.trim() : '');
      S.notice = '';
      feed.restart();
      loadProducts().then(() => {
        if (S.product) {
          loadHistory(S.product, S.interval);
          loadExpiries(S.product);
        }
        mark('tabs');
      });
    }
  });

  // Keyboard: / product picker, [ / ] previous/next expiry, 1..9 quick products, c centre ATM.
  document.addEventListener('keydown', (ev) => {
    if (ev.target instanceof HTMLInputElement || ev.metaKey || ev.ctrlKey || ev.altKey) return;
    if (ev.key === '/') {
      ev.preventDefault();
      picker.open();
      mark('tabs');
    } else if (ev.key === 'c') chainTable.scrollToAtm();
    else if (ev.key === '[' || ev.key === ']') {
      const list = expiryList();
      const i = list.indexOf(S.expiry);
      const j = Math.min(list.length - 1, Math.max(0, i + (ev.key === ']' ? 1 : -1)));
      if (list[j] && list[j] !== S.expiry) {
        S.userExpiry = list[j];
        mark('expiries', 'chain', 'tiles');
      }
    } else if (/^[1-9]$/.test(ev.key)) {
      const name = picker.chipNames()[Number(ev.key) - 1];
      if (name) selectProduct(name);
    }
  });
}

function buildLegend() {
  const box = $('buildupLegend');
  for (const b of BUILDUP_LEGEND) {
    const s = document.createElement('span');
    s.className = 'lg';
    const i = document.createElement('i');
    i.className = `sw ${b.cls}`;
    s.append(i, document.createTextNode(b.name));
    box.appendChild(s);
  }
}

// ---------------------------------------------------------------- start

const feed = new Feed({ url: wsUrl, onMessage, onStatus, resume: !REPLAY });
hooks.lastSeq = feed.lastSeq;
hooks.dropDeltas = (n) => {
  feed.dropDeltas = n;
};
hooks.replay = REPLAY || null;

async function main() {
  T = {
    prod: document.querySelector('#t-spot .t-prod'),
    tick: document.querySelector('#t-spot .t-tick'),
    spot: tile('t-spot'),
    pcr: tile('t-pcr'),
    mp: tile('t-maxpain'),
    str: tile('t-straddle'),
    iv: tile('t-atmiv'),
  };
  chainTable = new ChainTable($('chainTable'), $('chainScroll'));
  picker = new ProductPicker($('products'), (name) => selectProduct(name));
  priceChart = new PriceChart($('priceChart'), (bar) => {
    S.hover = bar;
    renderReadout();
  });
  smileChart = new SmileChart($('smileChart'));
  smileChart.onHover = (h) => {
    S.smileHover = h;
    renderSmileReadout();
  };
  buildLegend();
  bindControls();
  setText($('sbEndpoint'), wsUrl().replace(/([?&]token=).*/, '$1…'));
  if (REPLAY) {
    const badge = $('replayBadge');
    setText(badge, `REPLAY ${REPLAY}`);
    badge.title = `Replay session ${REPLAY}: frames published by deltastream replay --publish-prefix ${REPLAY}, not live data`;
    badge.hidden = false;
    document.body.classList.add('is-replay');
  }
  clearInterval(rateTimer);
  rateTimer = setInterval(tickSecond, 1000);

  // Connect first (the `general` room fills the product tabs), then load products.
  feed.start();
  await loadProducts();
  selectProduct(initialProduct());
}

main();
