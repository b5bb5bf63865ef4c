// Drives the gateway's dashboard in headless Chromium and saves a screenshot.
//
//   node tests/browser/dashboard.mjs <gateway base URL> [screenshot path]
//
// Opens <base>/dashboard/?product=NIFTY, waits until window.__ds (the page's test
// hooks, see gateway/assets/dashboard/test-hooks.js) shows a connected socket, a
// price and option-chain rows, then until prices and chain rows update live; drops
// one delta chain frame and waits for the gap → resync → deltas again, and checks the
// chains the page rebuilt against a whole-frame subscriber's; saves the screenshot
// (default tests/artifacts/dashboard.png) and prints the hooks as JSON.
// Exits non-zero on a timeout, a page error or a server `error` event.

import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const base = (process.argv[2] || '').replace(/\/+$/, '');
const shot = process.argv[3] || 'tests/artifacts/dashboard.png';
if (!base) {
  console.error('usage: node dashboard.mjs <gateway base URL> [screenshot path]');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT_MS = Number(process.env.DS_BROWSER_TIMEOUT_MS || 90_000);

const userDataDir = mkdtempSync(join(tmpdir(), 'ds-chromium-'));
const problems = [];
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    viewport: { width: 1600, height: 1000 },
    deviceScaleFactor: 1,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on('console', (m) => {
    const line = `[console.${m.type()}] ${m.text()}`;
    console.log(line);
    if (m.type() === 'error') problems.push(line);
  });
  page.on('pageerror', (e) => {
    console.log(`[pageerror] ${e.message}`);
    problems.push(`page error: ${e.message}`);
  });
  page.on('requestfailed', (r) => console.log(`[requestfailed] ${r.url()} ${r.failure()?.errorText || ''}`));

  const t0 = Date.now();
  const step = (what) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}`);
  await page.goto(`${base}/dashboard/?product=NIFTY`, { waitUntil: 'load', timeout: TIMEOUT_MS });
  step('page loaded');
  await page.waitForFunction(
    () => window.__ds && __ds.connected && __ds.chainRows > 0 && __ds.lastPrice > 0,
    null,
    { timeout: TIMEOUT_MS, polling: 100 },
  );
  step('connected, price and chain shown');
  const first = await page.evaluate(() => ({
    ...__ds,
    lastSeq: { ...__ds.lastSeq },
    recentChains: __ds.recentChains.length,
    dropDeltas: null,
  }));
  // Live: more data frames, a newer price tick and more chain updates arrive.
  await page.waitForFunction(
    (f) =>
      __ds.messages > f.messages + 5 &&
      __ds.chainUpdates > f.chainUpdates &&
      (__ds.lastSeq[`product:${__ds.product}`] || 0) > (f.lastSeq[`product:${f.product}`] || 0),
    first,
    { timeout: TIMEOUT_MS, polling: 100 },
  );
  step('prices and chain update live');
  // The chain room is delta-encoded: deltas apply; a lost one is a gap the page
  // resyncs, after which deltas apply again.
  await page.waitForFunction(() => __ds.deltas > 0, null, { timeout: TIMEOUT_MS, polling: 100 });
  const beforeGap = await page.evaluate(() => ({ gaps: __ds.gaps, resyncs: __ds.resyncs }));
  await page.evaluate(() => __ds.dropDeltas(1));
  await page.waitForFunction((b) => __ds.gaps > b.gaps && __ds.resyncs > b.resyncs, beforeGap, {
    timeout: TIMEOUT_MS,
    polling: 50,
  });
  const afterGap = await page.evaluate(() => __ds.deltas);
  step(`delta dropped: gap detected, resync asked (${afterGap} deltas so far)`);
  await page.waitForFunction((n) => __ds.deltas > n + 2, afterGap, { timeout: TIMEOUT_MS, polling: 100 });
  step('deltas apply again after the resync');
  // What the page rebuilt from deltas is what a whole-frame subscriber gets, seq by seq.
  const same = await page.evaluate(async (ms) => {
    const full = new Map();
    await new Promise((resolve) => {
      const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/ws`);
      ws.onopen = () => ws.send(JSON.stringify({ op: 'subscribe', type: 'chain', symbol: __ds.product }));
      ws.onmessage = (ev) => {
        const m = JSON.parse(ev.data);
        if (m.event === 'chain_update') full.set(m.seq, m.data);
      };
      setTimeout(() => {
        ws.close();
        resolve();
      }, ms);
    });
    const sorted = (_, v) =>
      v && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]))
        : v;
    const canon = (v) => JSON.stringify(v, sorted);
    const out = { compared: 0, differ: [] };
    for (const { seq, chain } of __ds.recentChains) {
      if (!full.has(seq)) continue;
      out.compared += 1;
      if (canon(full.get(seq)) !== canon(chain)) out.differ.push(seq);
    }
    return out;
  }, 8000);
  step(`rebuilt chains compared with whole frames: ${JSON.stringify(same)}`);
  if (same.compared < 2) problems.push(`only ${same.compared} rebuilt chains could be compared`);
  if (same.differ.length) problems.push(`rebuilt chains differ from whole frames at seq ${same.differ}`);
  // The product picker: "/" opens it, typing filters, Enter picks the first match.
  await page.keyboard.press('/');
  await page.waitForFunction(() => __ds.pickerOpen, null, { timeout: TIMEOUT_MS });
  await page.keyboard.type('bank');
  await page.keyboard.press('Enter');
  await page.waitForFunction(
    () => __ds.product === 'BANKNIFTY' && __ds.chainRows > 0 && __ds.lastPrice > 0 && !__ds.pickerOpen,
    null,
    { timeout: TIMEOUT_MS, polling: 100 },
  );
  step('picked BANKNIFTY with the search');
  const status = await page.evaluate(() => ({
    products: __ds.products,
    marketOpen: __ds.marketOpen,
    market: document.getElementById('market').textContent,
  }));
  if (status.products < 4) problems.push(`the picker lists ${status.products} products`);
  if (typeof status.marketOpen !== 'boolean' || !/^(Open|Closed)/.test(status.market)) {
    problems.push(`no market status shown: ${JSON.stringify(status)}`);
  }
  step(`market status: ${status.market}`);
  // Let the charts and the table settle on a few more frames before the picture.
  await page.waitForFunction((n) => __ds.renders > n + 3, first.renders, { timeout: TIMEOUT_MS });
  await page.waitForTimeout(1500);
  const hooks = await page.evaluate(() => ({
    ...__ds,
    lastSeq: { ...__ds.lastSeq },
    recentChains: __ds.recentChains.length,
    dropDeltas: null,
  }));
  mkdirSync(dirname(shot), { recursive: true });
  await page.screenshot({ path: shot });
  step(`screenshot saved to ${shot}`);
  console.log(`DS_HOOKS ${JSON.stringify(hooks)}`);
  if (hooks.status !== 'connected') problems.push(`status is ${hooks.status}`);
  if (hooks.errors > 0) problems.push(`${hooks.errors} error events from the server`);
} catch (e) {
  problems.push(String(e && e.stack ? e.stack : e));
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
if (problems.length) {
  console.error(`FAILED:\n${problems.join('\n')}`);
  process.exit(1);
}
console.log('OK');
