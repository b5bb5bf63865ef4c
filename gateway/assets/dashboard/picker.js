// Product picker for a whole universe (hundreds of products): the selected
// product as a button that opens a searchable list (name filter, exchange and
// open-market filters, keyboard navigation), and a row of quick chips: every
// product when the universe is small (up to MAX_CHIPS, like tabs), else the
// recently picked ones. Each entry shows its market status (dot: open/closed)
// and last price.

import * as F from './format.js';
import { statusOf } from './market.js';

const MAX_CHIPS = 6;
const RECENT_KEY = 'ds_recent';

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function setText(e, t) {
  if (e._t !== t) {
    e._t = t;
    e.textContent = t;
  }
}

function setClass(e, c) {
  if (e.className !== c) e.className = c;
}

function readRecent() {
  try {
    const v = JSON.parse(localStorage.getItem(RECENT_KEY) || '[]');
    return Array.isArray(v) ? v.filter((x) => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

export class ProductPicker {
  /**
   * @param {HTMLElement} root       container (the header's product area)
   * @param {(name: string) => void} onSelect
   */
  constructor(root, onSelect) {
    this.onSelect = onSelect;
    this.products = [];
    this.byName = new Map();
    this.current = null;
    this.query = '';
    this.exchange = '';
    this.openOnly = false;
    this.active = 0; // index in `this.shown`
    this.shown = [];
    this.rows = new Map(); // name -> row elements
    this.recent = readRecent();

    root.textContent = '';
    this.btn = el('button', 'pk-current');
    this.btn.type = 'button';
    this.btn.setAttribute('aria-haspopup', 'listbox');
    this.btn.title = 'Pick a product (/)';
    this.btnDot = el('i', 'pk-dot');
    this.btnName = el('span', 'pn', '–');
    this.btnEx = el('small', '', '');
    this.btnName.appendChild(this.btnEx);
    this.btnVal = el('span', 'pv', '–');
    this.btn.append(this.btnDot, this.btnName, this.btnVal, el('span', 'caret', '▾'));

    this.panel = el('div', 'pk-panel');
    this.panel.hidden = true;
    this.search = el('input', 'pk-search');
    this.search.type = 'search';
    this.search.autocomplete = 'off';
    this.search.spellcheck = false;
    this.search.setAttribute('aria-label', 'Search products');
    this.filters = el('div', 'seg pk-filters');
    this.list = el('div', 'pk-list');
    this.list.setAttribute('role', 'listbox');
    this.foot = el('div', 'pk-foot muted');
    this.panel.append(this.search, this.filters, this.list, this.foot);

    this.chips = el('div', 'pk-chips');
    const wrap = el('div', 'picker');
    wrap.append(this.btn, this.panel);
    root.append(wrap, this.chips);

    this.btn.addEventListener('click', () => (this.panel.hidden ? this.open() : this.close()));
    this.search.addEventListener('input', () => {
      this.query = this.search.value.trim().toUpperCase();
      this.active = 0;
      this.renderList();
    });
    this.search.addEventListener('keydown', (ev) => this.onKey(ev));
    this.list.addEventListener('click', (ev) => {
      const r = ev.target.closest('[data-name]');
      if (r) this.pick(r.dataset.name);
    });
    this.filters.addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-f]');
      if (!b) return;
      if (b.dataset.f === 'open') this.openOnly = !this.openOnly;
      else this.exchange = b.dataset.f;
      this.active = 0;
      this.renderFilters();
      this.renderList();
    });
    this.chips.addEventListener('click', (ev) => {
      const b = ev.target.closest('[data-name]');
      if (b) this.onSelect(b.dataset.name);
    });
    document.addEventListener('mousedown', (ev) => {
      if (!this.panel.hidden && !wrap.contains(ev.target)) this.close();
    });
  }

  /** The universe (items of /api/v1/products, each with `profile`). */
  setProducts(products) {
    const names = products.map((p) => p.name).join(',');
    this.products = products;
    this.byName = new Map(products.map((p) => [p.name, p]));
    if (names !== this.names) {
      this.names = names;
      this.rows.clear();
      this.list.textContent = '';
      this.renderFilters();
    }
    this.search.placeholder = `Search ${products.length} products…`;
    if (!this.panel.hidden) this.renderList();
  }

  setCurrent(name) {
    this.current = name;
    // A product already among the chips keeps its place (chips do not jump about).
    if (!this.recent.includes(name)) this.recent = [name, ...this.recent].slice(0, MAX_CHIPS);
    try {
      localStorage.setItem(RECENT_KEY, JSON.stringify(this.recent));
    } catch {
      /* storage disabled */
    }
  }

  open() {
    this.panel.hidden = false;
    this.btn.classList.add('on');
    this.search.value = '';
    this.query = '';
    this.active = 0;
    this.renderList();
    this.search.focus();
  }

  close() {
    this.panel.hidden = true;
    this.btn.classList.remove('on');
  }

  pick(name) {
    this.close();
    if (name) this.onSelect(name);
  }

  onKey(ev) {
    if (ev.key === 'Escape') {
      this.close();
      this.btn.focus();
    } else if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      const n = this.shown.length;
      if (!n) return;
      this.active = (this.active + (ev.key === 'ArrowDown' ? 1 : n - 1)) % n;
      this.renderActive();
    } else if (ev.key === 'Enter') {
      ev.preventDefault();
      this.pick(this.shown[this.active]);
    }
  }

  renderFilters() {
    const exchanges = [...new Set(this.products.map((p) => p.exchange || p.profile.exchange))];
    this.filters.textContent = '';
    const add = (f, label, on) => {
      const b = el('button', on ? 'on' : '', label);
      b.type = 'button';
      b.dataset.f = f;
      this.filters.appendChild(b);
    };
    add('', 'All', !this.exchange);
    if (exchanges.length > 1) for (const e of exchanges) add(e, e, this.exchange === e);
    add('open', 'Open now', this.openOnly);
  }

  /** Names matching the search and filters: name prefix matches first, then the others, each in universe order. */
  matches() {
    const q = this.query;
    const now = Date.now();
    const first = [];
    const rest = [];
    for (const p of this.products) {
      if (this.exchange && (p.exchange || p.profile.exchange) !== this.exchange) continue;
      if (this.openOnly && !statusOf(p, now).open) continue;
      const i = q ? p.name.indexOf(q) : 0;
      if (i < 0) continue;
      (i === 0 ? first : rest).push(p.name);
    }
    return first.concat(rest);
  }

  row(name) {
    let r = this.rows.get(name);
    if (r) return r;
    const p = this.byName.get(name);
    const tr = el('div', 'pk-row');
    tr.dataset.name = name;
    tr.setAttribute('role', 'option');
    const dot = el('i', 'pk-dot');
    const n = el('span', 'pk-name', name);
    const ex = el('small', 'pk-ex', p.exchange || p.profile.exchange);
    const st = el('span', 'pk-st');
    const v = el('span', 'pk-val');
    const c = el('span', 'pk-chg');
    tr.append(dot, n, ex, st, v, c);
    r = { tr, dot, st, v, c };
    this.rows.set(name, r);
    return r;
  }

  renderList() {
    this.shown = this.matches();
    if (this.active >= this.shown.length) this.active = 0;
    const frag = document.createDocumentFragment();
    for (const name of this.shown) frag.appendChild(this.row(name).tr);
    this.list.textContent = '';
    this.list.appendChild(frag);
    this.foot.textContent = `${this.shown.length} of ${this.products.length} · ↑↓ Enter · Esc`;
    this.renderValues(this.lastQuotes || new Map());
    this.renderActive();
  }

  renderActive() {
    this.shown.forEach((name, i) => {
      const r = this.rows.get(name);
      if (r) r.tr.classList.toggle('active', i === this.active);
    });
    const r = this.rows.get(this.shown[this.active]);
    if (r) r.tr.scrollIntoView({ block: 'nearest' });
  }

  /**
   * Updates the button, the chips and the open list.
   * @param {Map<string, {price:number, chg:number}>} quotes live quotes by product
   */
  render(quotes) {
    this.lastQuotes = quotes;
    const now = Date.now();
    const cur = this.byName.get(this.current);
    if (cur) {
      const st = statusOf(cur, now);
      setClass(this.btnDot, `pk-dot ${st.known ? (st.open ? 'open' : 'closed') : ''}`);
      this.btnDot.title = st.label;
      if (this.btnName.firstChild.nodeValue !== cur.name) this.btnName.firstChild.nodeValue = cur.name;
      setText(this.btnEx, cur.exchange || cur.profile.exchange);
      const [txt, cls] = this.value(cur, quotes);
      setText(this.btnVal, txt);
      setClass(this.btnVal, cls);
    }
    this.renderChips(quotes, now);
    if (!this.panel.hidden) this.renderValues(quotes);
  }

  value(p, quotes) {
    const q = quotes.get(p.name);
    const price = q && Number.isFinite(q.price) ? q.price : p.last ? p.last.price : NaN;
    // Other products' live values come from chain summaries (spot only): their
    // change is the one of the product list's last tick.
    const chg = q && Number.isFinite(q.chg) ? q.chg : p.last ? p.last.change_pct : NaN;
    if (!Number.isFinite(price)) return ['–', 'pv'];
    let txt = F.price(price, p.profile);
    let cls = 'pv';
    if (Number.isFinite(chg)) {
      txt += `  ${F.pct(chg)}`;
      cls += chg >= 0 ? ' pos' : ' neg';
    }
    return [txt, cls];
  }

  renderValues(quotes) {
    const now = Date.now();
    for (const name of this.shown) {
      const p = this.byName.get(name);
      const r = this.rows.get(name);
      if (!p || !r) continue;
      const st = statusOf(p, now);
      setClass(r.dot, `pk-dot ${st.known ? (st.open ? 'open' : 'closed') : ''}`);
      setText(r.st, st.label);
      r.tr.title = st.title;
      const [txt, cls] = this.value(p, quotes);
      const [v, c] = txt.split('  ');
      setText(r.v, v);
      setText(r.c, c || '');
      setClass(r.c, `pk-chg ${cls.replace('pv', '').trim()}`);
      r.tr.classList.toggle('on', name === this.current);
    }
  }

  /** The products of the quick chips, in order (keys 1–9). */
  chipNames() {
    return (this.chipEls || []).map((c) => c.name);
  }

  /** Whether the list is open. */
  isOpen() {
    return !this.panel.hidden;
  }

  renderChips(quotes, now) {
    const names =
      this.products.length <= MAX_CHIPS
        ? this.products.map((p) => p.name)
        : this.recent.filter((n) => this.byName.has(n));
    const key = names.join(',');
    if (key !== this.chipKey) {
      this.chipKey = key;
      this.chips.textContent = '';
      this.chipEls = names.map((name) => {
        const p = this.byName.get(name);
        const b = el('button', 'prod');
        b.type = 'button';
        b.dataset.name = name;
        const dot = el('i', 'pk-dot');
        const n = el('span', 'pn', name);
        n.appendChild(el('small', '', p.exchange || p.profile.exchange));
        const v = el('span', 'pv', '–');
        b.append(n, v);
        n.prepend(dot);
        this.chips.appendChild(b);
        return { name, b, v, dot };
      });
    }
    for (const c of this.chipEls || []) {
      const p = this.byName.get(c.name);
      c.b.classList.toggle('on', c.name === this.current);
      const st = statusOf(p, now);
      setClass(c.dot, `pk-dot ${st.known ? (st.open ? 'open' : 'closed') : ''}`);
      c.b.title = `${c.name} · ${p.exchange || p.profile.exchange}${st.label ? ` · ${st.label}` : ''}`;
      const [txt, cls] = this.value(p, quotes);
      setText(c.v, txt);
      setClass(c.v, cls);
    }
  }
}
