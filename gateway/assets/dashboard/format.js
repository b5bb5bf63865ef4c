// Number, time and product formatting. Intl formatters are cached: creating one
// per call would dominate the cost of a chain redraw.

const EXCHANGES = {
  NSE: { locale: 'en-IN', tz: 'Asia/Kolkata', dp: 2, currency: '₹', compact: 'lakh' },
  BSE: { locale: 'en-IN', tz: 'Asia/Kolkata', dp: 2, currency: '₹', compact: 'lakh' },
  US: { locale: 'en-US', tz: 'America/New_York', dp: 2, currency: '$', compact: 'west' },
  CRYPTO: { locale: 'en-US', tz: 'UTC', dp: 2, currency: '$', compact: 'west' },
};

const KNOWN_PRODUCTS = {
  NIFTY: 'NSE',
  BANKNIFTY: 'NSE',
  FINNIFTY: 'NSE',
  AAPL: 'NASDAQ',
  TSLA: 'NASDAQ',
};

/** Exchange profile (locale, time zone, decimals) for a product description. */
export function profileFor(product) {
  const exch = String(product?.exchange || KNOWN_PRODUCTS[product?.name] || 'US').toUpperCase();
  const base = EXCHANGES[exch] || EXCHANGES.US;
  let tz = product?.timezone || product?.tz || product?.time_zone || base.tz;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    tz = base.tz; // not an IANA zone name
  }
  return { ...base, exchange: exch, tz };
}

const nfCache = new Map();
function nf(locale, min, max, extra) {
  const key = `${locale}|${min}|${max}|${extra || ''}`;
  let f = nfCache.get(key);
  if (!f) {
    const opts = { minimumFractionDigits: min, maximumFractionDigits: max };
    if (extra === 'nogroup') opts.useGrouping = false;
    if (extra === 'sign') opts.signDisplay = 'exceptZero';
    f = new Intl.NumberFormat(locale, opts);
    nfCache.set(key, f);
  }
  return f;
}

const DASH = '–';
const ok = (v) => typeof v === 'number' && Number.isFinite(v);

/** Price with grouping, e.g. 22,413.25. */
export function price(v, p, dp = p.dp) {
  return ok(v) ? nf(p.locale, dp, dp).format(v) : DASH;
}

/** Option premium: fixed decimals, no grouping (keeps chain columns narrow). */
export function premium(v, p) {
  return ok(v) ? nf('en-US', p.dp, p.dp, 'nogroup').format(v) : DASH;
}

/** Strike: no decimals for whole strikes, otherwise up to 2. */
export function strike(v, p) {
  return ok(v) ? nf(p.locale, 0, 2).format(v) : DASH;
}

export function signed(v, dp, p) {
  return ok(v) ? nf(p ? p.locale : 'en-US', dp, dp, 'sign').format(v) : DASH;
}

export function pct(v, dp = 2) {
  return ok(v) ? `${nf('en-US', dp, dp, 'sign').format(v)}%` : DASH;
}

/** IV given as a fraction (0.143) shown as percent points (14.3). */
export function ivPct(v, dp = 1) {
  return ok(v) ? nf('en-US', dp, dp).format(v * 100) : DASH;
}

export function fixed(v, dp) {
  return ok(v) ? nf('en-US', dp, dp, 'nogroup').format(v) : DASH;
}

/**
 * Quantity (OI, volume). NSE: grouped up to 99,999, then lakh (L) / crore (Cr);
 * elsewhere grouped up to 9,999, then K / M / B.
 */
export function qty(v, p, sign = false) {
  if (!ok(v)) return DASH;
  const a = Math.abs(v);
  const s = v < 0 ? '-' : sign && v > 0 ? '+' : '';
  let out;
  if (p.compact === 'lakh') {
    if (a < 1e5) out = nf(p.locale, 0, 0).format(a);
    else if (a < 1e7) out = `${nf('en-US', 2, 2).format(a / 1e5)}L`;
    else out = `${nf('en-US', 2, 2).format(a / 1e7)}Cr`;
  } else {
    if (a < 1e4) out = nf(p.locale, 0, 0).format(a);
    else if (a < 1e6) out = `${nf('en-US', 1, 1).format(a / 1e3)}K`;
    else if (a < 1e9) out = `${nf('en-US', 2, 2).format(a / 1e6)}M`;
    else out = `${nf('en-US', 2, 2).format(a / 1e9)}B`;
  }
  return s + out;
}

const dtfCache = new Map();
function dtf(tz, kind) {
  const key = `${tz}|${kind}`;
  let f = dtfCache.get(key);
  if (!f) {
    const opts = { timeZone: tz, hourCycle: 'h23' };
    if (kind === 'time') Object.assign(opts, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    else if (kind === 'hm') Object.assign(opts, { hour: '2-digit', minute: '2-digit' });
    else if (kind === 'date') Object.assign(opts, { day: '2-digit', month: 'short' });
    else if (kind === 'datey') Object.assign(opts, { day: '2-digit', month: 'short', year: 'numeric' });
    else if (kind === 'tzname') Object.assign(opts, { timeZoneName: 'short', hour: '2-digit' });
    else if (kind === 'weekday') Object.assign(opts, { weekday: 'short' });
    else if (kind === 'ymd') Object.assign(opts, { year: 'numeric', month: '2-digit', day: '2-digit' });
    try {
      f = new Intl.DateTimeFormat('en-GB', opts);
    } catch {
      f = new Intl.DateTimeFormat('en-GB', { ...opts, timeZone: 'UTC' });
    }
    dtfCache.set(key, f);
  }
  return f;
}

/** HH:MM:SS of a millisecond timestamp in a time zone (default: browser's). */
export function time(ms, tz) {
  return ok(ms) ? dtf(tz || undefined, 'time').format(ms) : DASH;
}

export function hm(ms, tz) {
  return ok(ms) ? dtf(tz || undefined, 'hm').format(ms) : DASH;
}

/** Short weekday of a millisecond timestamp in a time zone, e.g. "Mon". */
export function weekday(ms, tz) {
  return ok(ms) ? dtf(tz || undefined, 'weekday').format(ms) : DASH;
}

/** The calendar date of a millisecond timestamp in a time zone, as a comparable key. */
export function dateKey(ms, tz) {
  return ok(ms) ? dtf(tz || undefined, 'ymd').format(ms) : '';
}

/** Short zone name, e.g. "IST" / "EST" / "GMT+5:30". */
export function tzName(tz, locale = 'en-US') {
  try {
    const key = `${tz}|tzname|${locale}`;
    let f = dtfCache.get(key);
    if (!f) {
      f = new Intl.DateTimeFormat(locale, { timeZone: tz, timeZoneName: 'short', hour: '2-digit' });
      dtfCache.set(key, f);
    }
    const parts = f.formatToParts(Date.now());
    const z = parts.find((x) => x.type === 'timeZoneName');
    return z ? z.value : tz;
  } catch {
    return tz;
  }
}

/** "30 Jan" for an ISO date (YYYY-MM-DD), read as a calendar date. */
export function expiryLabel(iso, withYear = false) {
  const ms = Date.parse(`${iso}T00:00:00Z`);
  if (!ok(ms)) return iso;
  return dtf('UTC', withYear ? 'datey' : 'date').format(ms);
}

/** Time to expiry in years → "3d 4h" / "5h 12m" / "expired". */
export function tte(years) {
  if (!ok(years)) return DASH;
  if (years <= 0) return 'expired';
  const mins = years * 365 * 24 * 60;
  const d = Math.floor(mins / 1440);
  const h = Math.floor((mins % 1440) / 60);
  const m = Math.floor(mins % 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  return `${m}m`;
}

/** Age in a compact form: "0.4s", "12s", "3m 05s", "2h 01m". */
export function age(ms) {
  if (!ok(ms) || ms < 0) return DASH;
  if (ms < 1000) return '<1s';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * Milliseconds since the epoch from a payload: prefers `<base>_unix_ns` (number or
 * string; a JSON number above 2^53 loses sub-microsecond precision only), then
 * the RFC 3339 `<alias>` string.
 */
export function msOf(obj, nsField, strField) {
  const ns = obj?.[nsField];
  if (typeof ns === 'number' && Number.isFinite(ns)) return ns / 1e6;
  if (typeof ns === 'string' && ns !== '') {
    const n = Number(ns);
    if (Number.isFinite(n)) return n / 1e6;
  }
  const s = obj?.[strField];
  if (typeof s === 'string') {
    const t = Date.parse(s);
    if (Number.isFinite(t)) return t;
  }
  return NaN;
}
