// Charts drawn with the vendored uPlot (global `uPlot`, vendor/uPlot.iife.min.js):
// a candlestick chart with volume, EMA/Bollinger overlays and a live last-price line,
// and an IV smile (IV vs strike, calls and puts) with spot / ATM markers.

import * as F from './format.js';

const C = {
  up: '#26a69a',
  down: '#ef5350',
  upVol: 'rgba(38,166,154,0.28)',
  downVol: 'rgba(239,83,80,0.28)',
  grid: 'rgba(148,163,184,0.07)',
  axis: '#7d8799',
  ema9: '#f5c451',
  ema21: '#b18cf6',
  bb: 'rgba(96,165,250,0.55)',
  bbFill: 'rgba(96,165,250,0.05)',
  call: '#34d399',
  put: '#f87171',
  spot: '#f0b429',
  crosshair: 'rgba(200,210,225,0.35)',
};
const FONT = '11px "DejaVu Sans", "Segoe UI", Roboto, system-ui, sans-serif';

function axis(extra) {
  return {
    stroke: C.axis,
    font: FONT,
    grid: { stroke: C.grid, width: 1 },
    ticks: { stroke: C.grid, width: 1, size: 4 },
    ...extra,
  };
}

function sizeOf(el) {
  const r = el.getBoundingClientRect();
  return { width: Math.max(50, Math.floor(r.width)), height: Math.max(50, Math.floor(r.height)) };
}

function observe(el, fn) {
  let raf = 0;
  const ro = new ResizeObserver(() => {
    cancelAnimationFrame(raf);
    raf = requestAnimationFrame(fn);
  });
  ro.observe(el);
  return ro;
}

const INTERVAL_S = { '1m': 60, '5m': 300, '15m': 900 };

export class PriceChart {
  /**
   * @param {HTMLElement} el container (sized by CSS)
   * @param {(info: object|null) => void} onHover  called with the bar under the cursor (null = none)
   */
  constructor(el, onHover) {
    this.el = el;
    this.onHover = onHover;
    this.tz = 'UTC';
    this.p = null;
    this.interval = '1m';
    this.bars = []; // [{t (s), o, h, l, c, v, ema_9, ema_21, bb_upper, bb_middle, bb_lower, rsi_14, live}]
    this.last = NaN;
    this.prevClose = NaN;
    this.overlays = { ema: true, bb: false };
    this.zoomed = false;
    this.u = null;
    this.create();
    observe(el, () => {
      if (!this.u) return;
      this.u.setSize(sizeOf(this.el));
      this.applyWindow();
    });
  }

  create() {
    if (this.u) this.u.destroy();
    const self = this;
    const { width, height } = sizeOf(this.el);
    const opts = {
      width,
      height,
      pxAlign: 0,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), self.tz),
      legend: { show: false },
      padding: [34, 0, 0, 4],
      cursor: {
        drag: { x: true, y: false, setScale: true },
        points: { show: false },
        y: true,
      },
      select: { show: true },
      scales: {
        x: { time: true },
        y: {
          auto: true,
          range: (u, min, max) => {
            if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
            const pad = Math.max((max - min) * 0.08, Math.abs(max) * 0.0005);
            return [min - pad, max + pad];
          },
        },
        vol: { auto: true, range: (u, min, max) => [0, Math.max(1, max) * 6] },
      },
      axes: [
        axis({
          space: 64,
          values: (u, splits, ai, space, incr) =>
            splits.map((s) => (incr >= 86400 ? F.expiryLabel(new Date(s * 1000).toISOString().slice(0, 10)) : F.hm(s * 1000, self.tz))),
        }),
        axis({
          side: 1,
          size: 68,
          values: (u, vals) => vals.map((v) => (self.p ? F.price(v, self.p) : v)),
        }),
      ],
      series: [
        {},
        { label: 'High', scale: 'y', paths: () => null, points: { show: false } },
        { label: 'Low', scale: 'y', paths: () => null, points: { show: false } },
        { label: 'EMA 9', scale: 'y', stroke: C.ema9, width: 1.2, points: { show: false } },
        { label: 'EMA 21', scale: 'y', stroke: C.ema21, width: 1.2, points: { show: false } },
        { label: 'BB up', scale: 'y', stroke: C.bb, width: 1, dash: [4, 3], points: { show: false } },
        { label: 'BB mid', scale: 'y', stroke: C.bb, width: 1, points: { show: false } },
        { label: 'BB low', scale: 'y', stroke: C.bb, width: 1, dash: [4, 3], points: { show: false } },
        { label: 'Vol', scale: 'vol', paths: () => null, points: { show: false } },
      ],
      bands: [{ series: [5, 7], fill: C.bbFill }],
      hooks: {
        drawSeries: [],
        draw: [(u) => self.drawCandles(u), (u) => self.drawLastPrice(u)],
        setCursor: [(u) => self.hover(u)],
        setSelect: [
          (u) => {
            if (u.select.width > 0) self.zoomed = true;
          },
        ],
      },
    };
    this.u = new uPlot(opts, [[], [], [], [], [], [], [], [], []], this.el);
    this.u.over.addEventListener('dblclick', () => {
      this.zoomed = false;
      this.applyWindow();
    });
    this.u.over.addEventListener('mouseleave', () => this.onHover(null));
    this.setOverlays({});
  }

  setProduct(p) {
    this.p = p;
    this.tz = p.tz;
    this.zoomed = false;
  }

  setOverlays(o) {
    Object.assign(this.overlays, o);
    this.u.setSeries(3, { show: this.overlays.ema });
    this.u.setSeries(4, { show: this.overlays.ema });
    for (const i of [5, 6, 7]) this.u.setSeries(i, { show: this.overlays.bb });
  }

  /**
   * @param {Array} bars bars sorted by start, the last one possibly the live (forming) bar
   * @param {number} last latest traded price
   */
  update(bars, last, interval) {
    this.bars = bars;
    this.last = last;
    this.interval = interval;
    const n = bars.length;
    const xs = new Array(n);
    const hi = new Array(n);
    const lo = new Array(n);
    const e9 = new Array(n);
    const e21 = new Array(n);
    const bu = new Array(n);
    const bm = new Array(n);
    const bl = new Array(n);
    const v = new Array(n);
    for (let i = 0; i < n; i++) {
      const b = bars[i];
      xs[i] = b.t;
      hi[i] = b.h;
      lo[i] = b.l;
      e9[i] = b.ema_9 ?? null;
      e21[i] = b.ema_21 ?? null;
      bu[i] = b.bb_upper ?? null;
      bm[i] = b.bb_middle ?? null;
      bl[i] = b.bb_lower ?? null;
      v[i] = b.v;
    }
    this.prevClose = n > 1 ? bars[n - 2].c : NaN;
    this.u.setData([xs, hi, lo, e9, e21, bu, bm, bl, v], false);
    this.applyWindow();
  }

  /** Show the latest bars at a readable candle width unless the user zoomed in. */
  applyWindow() {
    const n = this.bars.length;
    const step = INTERVAL_S[this.interval] || 60;
    if (!n) {
      const now = Date.now() / 1000;
      this.u.setScale('x', { min: now - step * 60, max: now + step * 3 });
      return;
    }
    if (this.zoomed) {
      this.u.redraw(false, true);
      return;
    }
    const plotW = Math.max(100, this.u.bbox.width / (devicePixelRatio || 1));
    const count = Math.max(20, Math.floor(plotW / 7));
    const lastT = this.bars[n - 1].t;
    const firstT = this.bars[Math.max(0, n - count)].t;
    const min = Math.min(firstT, lastT - step * (count - 1));
    this.u.setScale('x', { min: min - step * 0.6, max: lastT + step * 3.5 });
  }

  drawCandles(u) {
    const bars = this.bars;
    if (!bars.length) return;
    const ctx = u.ctx;
    const step = INTERVAL_S[this.interval] || 60;
    const [i0, i1] = u.series[0].idxs || [0, bars.length - 1];
    const x0 = u.valToPos(bars[0].t, 'x', true);
    const x1 = u.valToPos(bars[0].t + step, 'x', true);
    const slot = Math.abs(x1 - x0);
    const bodyW = Math.max(1, Math.round(slot * 0.68));
    const wickW = Math.max(1, Math.round(devicePixelRatio || 1));
    ctx.save();
    const { left, top, width, height } = u.bbox;
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    // Volume first, so candles draw over it.
    const volBase = u.valToPos(0, 'vol', true);
    for (let i = Math.max(0, i0 - 1); i <= Math.min(bars.length - 1, i1 + 1); i++) {
      const b = bars[i];
      const cx = Math.round(u.valToPos(b.t, 'x', true));
      if (b.v > 0) {
        const vy = u.valToPos(b.v, 'vol', true);
        ctx.fillStyle = b.c >= b.o ? C.upVol : C.downVol;
        ctx.fillRect(cx - bodyW / 2, vy, bodyW, volBase - vy);
      }
    }
    for (let i = Math.max(0, i0 - 1); i <= Math.min(bars.length - 1, i1 + 1); i++) {
      const b = bars[i];
      const cx = Math.round(u.valToPos(b.t, 'x', true));
      const up = b.c >= b.o;
      const col = up ? C.up : C.down;
      const yH = Math.round(u.valToPos(b.h, 'y', true));
      const yL = Math.round(u.valToPos(b.l, 'y', true));
      const yO = Math.round(u.valToPos(b.o, 'y', true));
      const yC = Math.round(u.valToPos(b.c, 'y', true));
      ctx.fillStyle = col;
      ctx.globalAlpha = b.live ? 0.85 : 1;
      ctx.fillRect(cx - Math.floor(wickW / 2), yH, wickW, Math.max(1, yL - yH));
      const yTop = Math.min(yO, yC);
      const h = Math.max(1, Math.abs(yC - yO));
      if (b.live) {
        ctx.strokeStyle = col;
        ctx.lineWidth = wickW;
        ctx.fillStyle = '#0f131a';
        ctx.fillRect(cx - bodyW / 2, yTop, bodyW, h);
        ctx.strokeRect(cx - bodyW / 2 + 0.5, yTop + 0.5, bodyW - 1, Math.max(1, h - 1));
      } else {
        ctx.fillRect(cx - bodyW / 2, yTop, bodyW, h);
      }
    }
    ctx.globalAlpha = 1;
    ctx.restore();
  }

  drawLastPrice(u) {
    const last = this.last;
    if (!Number.isFinite(last) || !this.p) return;
    const ctx = u.ctx;
    const dpr = devicePixelRatio || 1;
    const { left, top, width, height } = u.bbox;
    const y = Math.round(u.valToPos(last, 'y', true)) + 0.5;
    if (y < top || y > top + height) return;
    const ref = this.bars.length ? this.bars[this.bars.length - 1].o : NaN;
    const col = Number.isFinite(ref) && last < ref ? C.down : C.up;
    ctx.save();
    ctx.strokeStyle = col;
    ctx.lineWidth = dpr;
    ctx.setLineDash([3 * dpr, 3 * dpr]);
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + width, y);
    ctx.stroke();
    ctx.setLineDash([]);
    const label = F.price(last, this.p);
    ctx.font = `${11 * dpr}px "DejaVu Sans Mono", monospace`;
    const tw = ctx.measureText(label).width;
    const padX = 4 * dpr;
    const h = 16 * dpr;
    const x = left + width + 1 * dpr;
    ctx.fillStyle = col;
    ctx.fillRect(x, y - h / 2, tw + padX * 2, h);
    ctx.fillStyle = '#0b0e14';
    ctx.textBaseline = 'middle';
    ctx.fillText(label, x + padX, y + 0.5);
    ctx.restore();
  }

  hover(u) {
    const i = u.cursor.idx;
    if (i == null || !this.bars[i] || u.cursor.left < 0) {
      this.onHover(null);
      return;
    }
    this.onHover(this.bars[i]);
  }
}

export class SmileChart {
  constructor(el) {
    this.el = el;
    this.p = null;
    this.spot = NaN;
    this.atm = NaN;
    this.u = null;
    this.create();
    observe(el, () => this.u && this.u.setSize(sizeOf(this.el)));
  }

  create() {
    const self = this;
    const { width, height } = sizeOf(this.el);
    const pts = (stroke) => ({ show: true, size: 4, stroke, fill: stroke, width: 1 });
    this.u = new uPlot(
      {
        width,
        height,
        legend: { show: false },
        padding: [10, 8, 0, 18],
        cursor: { points: { size: 6 }, drag: { x: false, y: false } },
        scales: {
          x: { time: false },
          y: {
            range: (u, min, max) => {
              if (!Number.isFinite(min)) return [0, 50];
              const pad = Math.max((max - min) * 0.12, 0.5);
              return [Math.max(0, min - pad), max + pad];
            },
          },
        },
        axes: [
          axis({ space: 60, values: (u, vals) => vals.map((v) => (self.p ? F.strike(v, self.p) : v)) }),
          axis({ side: 1, size: 48, values: (u, vals) => vals.map((v) => `${v.toFixed(v % 1 ? 1 : 0)}%`) }),
        ],
        series: [
          {},
          { label: 'Call IV', stroke: C.call, width: 1.5, points: pts(C.call), spanGaps: true },
          { label: 'Put IV', stroke: C.put, width: 1.5, points: pts(C.put), spanGaps: true },
        ],
        hooks: {
          drawAxes: [(u) => self.drawMarkers(u)],
          setCursor: [(u) => self.hover(u)],
        },
      },
      [[], [], []],
      this.el,
    );
    this.u.over.addEventListener('mouseleave', () => this.onHover && this.onHover(null));
  }

  /** @param {object} chain EnrichedChain JSON */
  update(chain, p, spot) {
    this.p = p;
    this.spot = Number.isFinite(spot) ? spot : chain.spot;
    this.atm = chain.atm_strike;
    const ks = chain.strikes || [];
    const calls = chain.calls || [];
    const puts = chain.puts || [];
    const cx = new Array(ks.length);
    const px = new Array(ks.length);
    for (let i = 0; i < ks.length; i++) {
      // Illiquid quotes (zero bid, min-tick price) stay out of the smile.
      const c = calls[i]?.illiquid ? null : calls[i]?.iv;
      const q = puts[i]?.illiquid ? null : puts[i]?.iv;
      cx[i] = Number.isFinite(c) ? c * 100 : null;
      px[i] = Number.isFinite(q) ? q * 100 : null;
    }
    this.data = [ks.slice(), cx, px];
    this.u.setData(this.data, true);
  }

  clear() {
    this.data = [[], [], []];
    this.u.setData(this.data, true);
  }

  drawMarkers(u) {
    const ctx = u.ctx;
    const dpr = devicePixelRatio || 1;
    const { left, top, width, height } = u.bbox;
    const line = (v, col, dash, label) => {
      if (!Number.isFinite(v)) return;
      const x = Math.round(u.valToPos(v, 'x', true)) + 0.5;
      if (x < left || x > left + width) return;
      ctx.save();
      ctx.strokeStyle = col;
      ctx.lineWidth = dpr;
      ctx.setLineDash(dash.map((d) => d * dpr));
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      if (label) {
        ctx.setLineDash([]);
        ctx.font = `${10 * dpr}px "DejaVu Sans", sans-serif`;
        ctx.fillStyle = col;
        ctx.textBaseline = 'top';
        ctx.fillText(label, x + 3 * dpr, top + 2 * dpr);
      }
      ctx.restore();
    };
    // Shade the OTM halves: puts left of spot, calls right.
    if (Number.isFinite(this.spot)) {
      const xs = Math.round(u.valToPos(this.spot, 'x', true));
      if (xs > left && xs < left + width) {
        ctx.save();
        ctx.fillStyle = 'rgba(248,113,113,0.035)';
        ctx.fillRect(left, top, xs - left, height);
        ctx.fillStyle = 'rgba(52,211,153,0.035)';
        ctx.fillRect(xs, top, left + width - xs, height);
        ctx.restore();
      }
    }
    line(this.atm, 'rgba(240,180,41,0.35)', [2, 3], '');
    line(this.spot, C.spot, [4, 3], this.p ? `spot ${F.price(this.spot, this.p)}` : 'spot');
  }

  hover(u) {
    if (!this.onHover) return;
    const i = u.cursor.idx;
    if (i == null || !this.data || this.data[0][i] === undefined) {
      this.onHover(null);
      return;
    }
    this.onHover({ strike: this.data[0][i], call: this.data[1][i], put: this.data[2][i] });
  }
}
