// Market status of a product, from `GET /api/v1/products` (`market`: open, next
// open and close as of the request) and the browser's clock: a status fetched a
// while ago is rolled forward when its next open or close has passed (the page
// then refreshes the list for the session after that).

import * as F from './format.js';

const DAY_MS = 86_400_000;

function nsToMs(ns) {
  return typeof ns === 'number' && Number.isFinite(ns) ? ns / 1e6 : NaN;
}

/**
 * @param {object} product an item of /api/v1/products
 * @param {number} nowMs   Date.now()
 * @returns {{known: boolean, open: boolean, stale: boolean, label: string, title: string}}
 */
export function statusOf(product, nowMs) {
  const m = product && product.market;
  if (!m || typeof m.open !== 'boolean') {
    return { known: false, open: false, stale: false, label: '', title: 'market status unknown' };
  }
  const p = product.profile || F.profileFor(product);
  const nextOpen = nsToMs(m.next_open_unix_ns);
  const nextClose = nsToMs(m.next_close_unix_ns);
  let open = m.open;
  let stale = false;
  if (open && Number.isFinite(nextClose) && nowMs > nextClose) {
    open = false;
    stale = true;
  } else if (!open && Number.isFinite(nextOpen) && nowMs >= nextOpen) {
    open = true;
    stale = true;
  }
  const ex = product.exchange || p.exchange;
  if (open && !Number.isFinite(nextClose) && !stale) {
    return { known: true, open, stale, label: 'Open 24/7', title: `${ex} trades around the clock` };
  }
  const when = (ms) => {
    const sameDay = Math.abs(ms - nowMs) < DAY_MS && F.dateKey(ms, p.tz) === F.dateKey(nowMs, p.tz);
    return `${sameDay ? '' : `${F.weekday(ms, p.tz)} `}${F.hm(ms, p.tz)} ${F.tzName(p.tz, p.locale)}`;
  };
  if (open) {
    const label = Number.isFinite(nextClose) && !stale ? `Open · closes ${when(nextClose)}` : 'Open';
    return { known: true, open, stale, label, title: `${ex} is in session` };
  }
  const label = Number.isFinite(nextOpen) && !stale ? `Closed · opens ${when(nextOpen)}` : 'Closed';
  return {
    known: true,
    open,
    stale,
    label,
    title: `${ex} is closed: no ticks or chains until it opens (the values shown are the last ones)`,
  };
}
