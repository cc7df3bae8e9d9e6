// Live line charts on uPlot (served from node_modules/uplot/dist by the server).
import uPlot from '/vendor/uplot/uPlot.esm.js';
import { fmtCount } from './format.js';

/** Points a live chart keeps (one a second: ten minutes). */
export const MAX_LIVE_POINTS = 600;

/** Series colours, in order. */
export const PALETTE = ['#4fb3ff', '#3ecf8e', '#f5b942', '#ff8ad8', '#a78bfa', '#ff5c5c', '#5eead4', '#fb923c'];

const AXIS = { stroke: '#8496a8', grid: { stroke: '#2a3541', width: 1 }, ticks: { stroke: '#2a3541', width: 1 } };

/**
 * A uPlot line chart that fills its container and keeps a bounded window of points.
 * `series`: [{ label, stroke?, scale?, fmt? }]; `scales`: extra y scales besides 'y' (e.g. { s: {} }).
 */
export class LiveChart {
  constructor(el, { series, scales = {}, yFmt = fmtCount, y2Fmt = fmtCount, maxPoints = MAX_LIVE_POINTS, height, log = false } = {}) {
    this.el = el;
    this.maxPoints = maxPoints;
    this.points = 0;
    this.xs = [];
    this.ys = series.map(() => []);
    const hasY2 = Object.keys(scales).length > 0;
    const axes = [
      { ...AXIS, values: (u, ticks) => ticks.map((t) => new Date(t * 1000).toLocaleTimeString([], { hour12: false })) },
      // On a log scale only powers of ten are labelled (the other ticks are grid lines).
      { ...AXIS, size: 70, values: (u, ticks) => ticks.map((t) => (!log || Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9 ? yFmt(t) : '')) },
    ];
    if (hasY2) axes.push({ ...AXIS, side: 1, size: 60, scale: Object.keys(scales)[0], grid: { show: false }, values: (u, ticks) => ticks.map(y2Fmt) });
    const opts = {
      width: Math.max(200, el.clientWidth),
      height: height ?? Math.max(160, el.clientHeight - 40 || 200),
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      // A log scale (for latencies, which span milliseconds to minutes) needs values > 0.
      scales: { x: { time: true }, y: log ? { distr: 3, log: 10 } : { range: (u, min, max) => [Math.min(0, min ?? 0), max > 0 ? max * 1.1 : 1] }, ...scales },
      axes,
      series: [
        { value: (u, v) => (v === null ? '–' : new Date(v * 1000).toLocaleTimeString([], { hour12: false })) },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: s.stroke ?? PALETTE[i % PALETTE.length],
          width: 2,
          scale: s.scale ?? 'y',
          spanGaps: true,
          points: { show: false },
          value: (u, v) => (v === null || v === undefined ? '–' : (s.fmt ?? fmtCount)(v)),
        })),
      ],
    };
    this.plot = new uPlot(opts, [this.xs, ...this.ys], el);
    this.observer = new ResizeObserver(() => this.fit());
    this.observer.observe(el);
  }

  /** Appends one point at `tMs` (values: one per series, null for a gap). */
  push(tMs, values) {
    this.xs.push(tMs / 1000);
    for (let i = 0; i < this.ys.length; i++) this.ys[i].push(values[i] ?? null);
    if (this.xs.length > this.maxPoints) {
      this.xs.shift();
      for (const y of this.ys) y.shift();
    }
    this.points++;
    this.redraw();
  }

  /** Replaces all points: xsMs ascending, ys[i] per series. */
  setData(xsMs, ys) {
    this.xs = xsMs.map((t) => t / 1000);
    this.ys = ys.map((y) => y.slice());
    this.points = this.xs.length;
    this.redraw();
  }

  /** Inserts or replaces the point at `tMs` (time-series views update the current window in place). */
  upsert(tMs, values) {
    const t = tMs / 1000;
    let i = this.xs.length;
    while (i > 0 && this.xs[i - 1] > t) i--;
    if (i > 0 && this.xs[i - 1] === t) {
      for (let s = 0; s < this.ys.length; s++) this.ys[s][i - 1] = values[s] ?? null;
    } else {
      this.xs.splice(i, 0, t);
      for (let s = 0; s < this.ys.length; s++) this.ys[s].splice(i, 0, values[s] ?? null);
      if (this.xs.length > this.maxPoints) {
        this.xs.shift();
        for (const y of this.ys) y.shift();
      }
    }
    this.points++;
    this.redraw();
  }

  redraw() {
    this.plot.setData([this.xs, ...this.ys]);
    // Tests and curious humans: how many points this chart has received.
    this.el.dataset.points = String(this.points);
  }

  fit() {
    const w = Math.max(200, this.el.clientWidth);
    if (Math.abs(w - this.plot.width) > 2) this.plot.setSize({ width: w, height: this.plot.height });
  }

  destroy() {
    this.observer.disconnect();
    this.plot.destroy();
  }
}
