// Option chain table: calls | strike | puts.
//
// Built from div rows rather than a <table>: every row is a CSS grid with the same
// column template and `contain: strict`, so changing a number re-lays out only its
// own row, not the whole table (chains arrive several times a second). Rows are
// built once per strike list and updated in place; a cell's text, class or bar width
// is written only when it changed.
//
// A chain of 100+ strikes (an index on a whole-market universe) is shown as a
// window of strikes centred on the money (the caller says how many each side of
// ATM; the window follows the ATM strike), scrolled so that ATM is in the middle.
// Illiquid quotes (a zero bid or a price at the minimum tick, `illiquid` in the
// chain) are dimmed: their IV is left out of the smile.

import * as F from './format.js';

const BUILDUP = {
  LONG_BUILDUP: { cls: 'b-lb', name: 'Long build-up' },
  SHORT_BUILDUP: { cls: 'b-sb', name: 'Short build-up' },
  SHORT_COVERING: { cls: 'b-sc', name: 'Short covering' },
  LONG_UNWINDING: { cls: 'b-lu', name: 'Long unwinding' },
  NEUTRAL: { cls: 'b-n', name: 'Neutral' },
};
const BUILDUP_BY_NUMBER = ['NEUTRAL', 'LONG_BUILDUP', 'SHORT_BUILDUP', 'SHORT_COVERING', 'LONG_UNWINDING'];
export const BUILDUP_LEGEND = ['LONG_BUILDUP', 'SHORT_BUILDUP', 'SHORT_COVERING', 'LONG_UNWINDING', 'NEUTRAL'].map(
  (k) => ({ key: k, ...BUILDUP[k] }),
);

function buildupOf(q) {
  const b = q && q.buildup;
  if (typeof b === 'number') return BUILDUP[BUILDUP_BY_NUMBER[b]] || BUILDUP.NEUTRAL;
  return BUILDUP[b] || BUILDUP.NEUTRAL;
}

// Column order: calls read outward-in toward the strike, puts mirror them.
const CALL_COLS = ['oi', 'oich', 'iv', 'delta', 'last', 'bid', 'ask'];
const PUT_COLS = ['bid', 'ask', 'last', 'delta', 'iv', 'oich', 'oi'];
const LABELS = { oi: 'OI', oich: 'Chg OI', iv: 'IV %', delta: 'Delta', last: 'LTP', bid: 'Bid', ask: 'Ask' };
const TITLES = {
  oi: 'Open interest (bar: share of the largest OI on this side)',
  oich: 'Change in open interest since the previous snapshot, coloured by build-up class',
  iv: 'Implied volatility, % (from mid, else last)',
  delta: 'Black–Scholes delta',
  last: 'Last traded price (green: uptick, red: downtick)',
  bid: 'Best bid',
  ask: 'Best ask',
};

function setText(el, text) {
  if (el._t !== text) {
    el._t = text;
    el.firstChild.nodeValue = text;
  }
}

function setClass(el, cls) {
  if (el._c !== cls) {
    el._c = cls;
    el.className = cls;
  }
}

function div(cls, text) {
  const e = document.createElement('div');
  e.className = cls;
  e._c = cls;
  e._base = cls;
  e.appendChild(document.createTextNode(text || ''));
  return e;
}

export class ChainTable {
  constructor(root, scroller) {
    this.root = root;
    this.scroller = scroller;
    this.head = document.createElement('div');
    this.head.className = 'ch-head';
    this.head.setAttribute('role', 'rowgroup');
    this.body = document.createElement('div');
    this.body.className = 'ch-body';
    this.body.setAttribute('role', 'rowgroup');
    root.append(this.head, this.body);
    this.rows = [];
    this.key = '';
    this.needScroll = true;
    this.atmRow = null;
    this.buildHead();
  }

  buildHead() {
    const g = div('ch-grp');
    g.firstChild.remove();
    g.append(div('side-c', 'CALLS'), div('k', ''), div('side-p', 'PUTS'));
    const r = div('ch-cols');
    r.firstChild.remove();
    r.setAttribute('role', 'row');
    const th = (label, cls, title) => {
      const e = div(cls, label);
      e.title = title;
      e.setAttribute('role', 'columnheader');
      return e;
    };
    for (const c of CALL_COLS) r.append(th(LABELS[c], `c ${c}`, `Call ${TITLES[c]}`));
    r.append(th('Strike', 'k', 'Strike price (ATM row outlined; MP = max pain strike)'));
    for (const c of PUT_COLS) r.append(th(LABELS[c], `p ${c}`, `Put ${TITLES[c]}`));
    this.head.append(g, r);
  }

  /** Forget the current strike list: the next render rebuilds rows and re-centres on ATM. */
  reset() {
    this.key = '';
    this.needScroll = true;
    this.rows = [];
    this.atmRow = null;
    this.body.textContent = '';
  }

  build(strikes, p) {
    const frag = document.createDocumentFragment();
    this.rows = strikes.map((k) => {
      const tr = document.createElement('div');
      tr.className = 'ch-row';
      tr.setAttribute('role', 'row');
      const row = { tr, c: {}, p: {}, tag: null, mp: null, strike: k };
      for (const c of CALL_COLS) tr.appendChild((row.c[c] = div(`c ${c}`)));
      const kc = div('k');
      kc.firstChild.remove();
      row.tag = div('tag');
      row.mp = div('tag mp');
      row.mp.title = 'Max pain strike';
      kc.append(row.tag, document.createTextNode(F.strike(k, p)), row.mp);
      tr.appendChild(kc);
      for (const c of PUT_COLS) tr.appendChild((row.p[c] = div(`p ${c}`)));
      frag.appendChild(tr);
      return row;
    });
    this.body.textContent = '';
    this.body.appendChild(frag);
  }

  /**
   * @param {object} chain EnrichedChain JSON
   * @param {object} p     product profile (format.js)
   * @param {number} spot  spot used for ITM shading and the spot line
   * @param {number} each  strikes shown each side of ATM (Infinity: all)
   * @returns {number} rows rendered
   */
  render(chain, p, spot, each = Infinity) {
    const all = Array.isArray(chain.strikes) ? chain.strikes : [];
    const [lo, hi] = windowAround(all, chain.atm_strike, each);
    const strikes = all.slice(lo, hi);
    const key = `${chain.product}|${chain.expiry}|${strikes.join(',')}`;
    if (key !== this.key) {
      const sameView = this.key.startsWith(`${chain.product}|${chain.expiry}|`);
      this.key = key;
      this.build(strikes, p);
      if (!sameView) this.needScroll = true;
    }
    const calls = (chain.calls || []).slice(lo, hi);
    const puts = (chain.puts || []).slice(lo, hi);
    let maxC = 0;
    let maxP = 0;
    for (let i = 0; i < strikes.length; i++) {
      maxC = Math.max(maxC, calls[i]?.open_interest || 0);
      maxP = Math.max(maxP, puts[i]?.open_interest || 0);
    }
    const atm = chain.atm_strike;
    const mp = chain.max_pain_strike;
    const s = Number.isFinite(spot) ? spot : chain.spot;
    let atmRow = null;
    for (let i = 0; i < this.rows.length; i++) {
      const row = this.rows[i];
      const k = strikes[i];
      const isAtm = k === atm;
      if (isAtm) atmRow = row;
      const next = strikes[i + 1];
      let cls = 'ch-row';
      if (k < s) cls += ' itm-c';
      if (k > s) cls += ' itm-p';
      if (isAtm) cls += ' atm';
      else if (k <= s && next !== undefined && next > s) cls += ' spot-after';
      if (calls[i]?.illiquid) cls += ' illq-c';
      if (puts[i]?.illiquid) cls += ' illq-p';
      setClass(row.tr, cls);
      setText(row.tag, isAtm ? 'ATM' : '');
      setText(row.mp, k === mp ? 'MP' : '');
      fillSide(row.c, calls[i], p, maxC);
      fillSide(row.p, puts[i], p, maxP);
    }
    this.atmRow = atmRow;
    if (this.needScroll && atmRow && this.scroller.clientHeight > 0) {
      this.needScroll = false;
      this.scrollToAtm();
    }
    return this.rows.length;
  }

  scrollToAtm() {
    const row = this.atmRow;
    if (!row) return;
    const head = this.head.offsetHeight || 0;
    const top = row.tr.offsetTop - head - (this.scroller.clientHeight - head) / 2 + row.tr.offsetHeight / 2;
    this.scroller.scrollTop = Math.max(0, top);
  }
}

/** `[lo, hi)`: the indices of `each` strikes either side of `atm` (all when Infinity). */
function windowAround(strikes, atm, each) {
  if (!Number.isFinite(each) || strikes.length <= 2 * each + 1) return [0, strikes.length];
  let i = strikes.indexOf(atm);
  if (i < 0) i = Math.floor(strikes.length / 2);
  const lo = Math.max(0, Math.min(i - each, strikes.length - (2 * each + 1)));
  return [lo, lo + 2 * each + 1];
}

function fillSide(cells, q, p, maxOi) {
  if (!q) {
    for (const k in cells) setText(cells[k], '');
    return;
  }
  const oi = q.open_interest || 0;
  const oiCell = cells.oi;
  setText(oiCell, F.qty(oi, p));
  const w = maxOi > 0 ? Math.round((oi / maxOi) * 100) : 0;
  if (oiCell._w !== w) {
    oiCell._w = w;
    oiCell.style.setProperty('--w', `${w}%`);
  }
  setClass(oiCell, w === 100 && oi > 0 ? `${oiCell._base} maxoi` : oiCell._base);

  const b = buildupOf(q);
  const ch = cells.oich;
  setText(ch, F.qty(q.oi_change || 0, p, true));
  setClass(ch, `${ch._base} ${b.cls}`);
  if (ch._bt !== b.name) {
    ch._bt = b.name;
    ch.title = b.name;
  }

  setText(cells.iv, F.ivPct(q.iv));
  setText(cells.delta, F.fixed(q.delta, 2));
  setText(cells.bid, F.premium(q.bid, p));
  setText(cells.ask, F.premium(q.ask, p));

  // Colour the LTP by the direction of its last change (uptick green, downtick red):
  // a persistent class rather than a flash animation, which would repaint hundreds
  // of cells every frame.
  const last = cells.last;
  const prev = last._v;
  const v = q.last;
  setText(last, F.premium(v, p));
  if (prev !== undefined && v !== prev && Number.isFinite(v) && Number.isFinite(prev)) {
    setClass(last, `${last._base} ${v > prev ? 'up' : 'dn'}`);
  }
  last._v = v;
}
