// The pipeline graph: operators as boxes in layers (sources on the left, sinks on the right), edges
// from each input, live figures in every box. Plain SVG, laid out here (longest-path layering plus a
// barycentre pass to cut crossings), rebuilt only when the topology changes.
import { esc, fmtCount, fmtMs, fmtRate } from './format.js';

const NODE_W = 160;
const NODE_H = 76;
const GAP_X = 32;
const GAP_Y = 14;
const PAD = 10;
const SVG_NS = 'http://www.w3.org/2000/svg';

/** The colour family of an operator kind. */
export function kindClass(node) {
  const k = String(node.kind ?? '').toLowerCase();
  // Table sources: a kind of their own, a `role`, or the DSL's default name `table-<topic>`.
  if ((k.includes('table') && !k.includes('join')) || node.role === 'table' || (k === 'source' && /^table-/.test(node.name))) return 'table';
  if (k.includes('source')) return 'source';
  if (k === 'expect' || k.includes('check') || k.includes('quality')) return 'check';
  if (k.includes('join')) return 'join';
  if (k.includes('window') || k.includes('aggregate')) return 'window';
  if (k.includes('sink') || k.includes('view') || k.includes('topic') || k.includes('collect')) return 'sink';
  return 'op';
}

/** Layers (columns) and order within each: a pure function of the nodes, exported for tests. */
export function layout(nodes) {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const layer = new Map();
  const visiting = new Set();
  const layerOf = (name) => {
    if (layer.has(name)) return layer.get(name);
    const n = byName.get(name);
    if (!n || visiting.has(name)) return 0;
    visiting.add(name);
    const inputs = (n.inputs ?? []).filter((i) => byName.has(i));
    const l = inputs.length === 0 ? 0 : 1 + Math.max(...inputs.map(layerOf));
    visiting.delete(name);
    layer.set(name, l);
    return l;
  };
  for (const n of nodes) layerOf(n.name);
  const columns = [];
  for (const n of nodes) (columns[layer.get(n.name)] ??= []).push(n.name);
  for (let c = 0; c < columns.length; c++) columns[c] ??= [];
  // Barycentre ordering, left to right, twice: a node sits near the average row of its inputs.
  const row = new Map();
  columns[0].forEach((name, i) => row.set(name, i));
  for (let pass = 0; pass < 2; pass++) {
    for (let c = 1; c < columns.length; c++) {
      const score = (name) => {
        const ins = (byName.get(name).inputs ?? []).filter((i) => row.has(i));
        return ins.length === 0 ? (row.get(name) ?? 0) : ins.reduce((s, i) => s + row.get(i), 0) / ins.length;
      };
      const scored = columns[c].map((name, i) => ({ name, s: score(name), i }));
      scored.sort((a, b) => a.s - b.s || a.i - b.i);
      columns[c] = scored.map((x) => x.name);
      columns[c].forEach((name, i) => row.set(name, i));
    }
  }
  return columns;
}

function el(name, attrs = {}, text) {
  const e = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function clip(s, n) {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** Renders and updates one pipeline's graph in a container. */
export class PipelineGraph {
  constructor(container) {
    this.container = container;
    this.signature = '';
    this.boxes = new Map();
  }

  /** Draws `pipeline` ({ nodes: [{ name, kind, inputs, recordsPerS, ... }], lag }). */
  update(pipeline) {
    const nodes = pipeline.nodes ?? [];
    const signature = nodes.map((n) => `${n.name}<${(n.inputs ?? []).join(',')}`).join('|');
    if (signature !== this.signature) this.build(nodes, signature);
    const lagByTopic = new Map();
    for (const l of pipeline.lag ?? []) {
      const t = lagByTopic.get(l.topic) ?? { records: 0, seconds: 0 };
      t.records += l.records ?? 0;
      t.seconds = Math.max(t.seconds, l.seconds ?? 0);
      lagByTopic.set(l.topic, t);
    }
    for (const n of nodes) {
      const box = this.boxes.get(n.name);
      if (!box) continue;
      const p99 = n.latencyMs?.p99;
      box.rate.textContent = `${fmtRate(n.recordsPerS)}${Number.isFinite(p99) ? ` · p99 ${fmtMs(p99)}` : ''}`;
      const parts = [];
      // Sources show their consumer lag (by `topic`, or the DSL's default names `source-<topic>`, `table-<topic>`).
      const topicLag = lagByTopic.get(n.topic) ?? lagByTopic.get(n.name) ?? lagByTopic.get(String(n.name).replace(/^(source|table)-/, ''));
      const kc = kindClass(n);
      if (topicLag && (kc === 'source' || kc === 'table')) parts.push(`lag ${fmtCount(topicLag.records)}${topicLag.seconds > 0 ? ` · ${fmtMs(topicLag.seconds * 1000)}` : ''}`);
      else if (Number.isFinite(n.watermarkLagMs)) parts.push(`wm −${fmtMs(n.watermarkLagMs)}`);
      if (n.lateRecords > 0) parts.push(`late ${fmtCount(n.lateRecords)}`);
      box.extra.textContent = parts.join(' · ');
      box.errors.textContent = n.errors > 0 ? `⚠ ${fmtCount(n.errors)} err` : '';
      box.g.classList.toggle('has-errors', n.errors > 0);
      box.g.querySelector('title').textContent =
        `${n.name} (${n.kind})\nin ${fmtCount(n.recordsIn)} · out ${fmtCount(n.recordsOut)} · ${fmtRate(n.recordsPerS)}\n` +
        `latency p50 ${fmtMs(n.latencyMs?.p50)} · p99 ${fmtMs(p99)}\nerrors ${fmtCount(n.errors)} · late ${fmtCount(n.lateRecords)}` +
        `${Number.isFinite(n.watermarkLagMs) ? ` · watermark lag ${fmtMs(n.watermarkLagMs)}` : ''}`;
      for (const edge of box.inEdges) edge.classList.toggle('hot', n.recordsPerS > 0);
    }
  }

  build(nodes, signature) {
    this.signature = signature;
    this.boxes.clear();
    const columns = layout(nodes);
    const tallest = Math.max(1, ...columns.map((c) => c.length));
    const width = columns.length * (NODE_W + GAP_X) - GAP_X + 2 * PAD;
    const height = tallest * (NODE_H + GAP_Y) - GAP_Y + 2 * PAD;
    const pos = new Map();
    columns.forEach((names, c) => {
      const offset = ((tallest - names.length) * (NODE_H + GAP_Y)) / 2;
      names.forEach((name, r) => pos.set(name, { x: PAD + c * (NODE_W + GAP_X), y: PAD + offset + r * (NODE_H + GAP_Y) }));
    });
    const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': 'pipeline graph' });
    const edges = el('g');
    svg.append(edges);
    const inEdges = new Map();
    for (const n of nodes) {
      const to = pos.get(n.name);
      for (const input of n.inputs ?? []) {
        const from = pos.get(input);
        if (!from || !to) continue;
        const x1 = from.x + NODE_W;
        const y1 = from.y + NODE_H / 2;
        const x2 = to.x;
        const y2 = to.y + NODE_H / 2;
        const mx = (x1 + x2) / 2;
        const path = el('path', { class: 'edge', d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}` });
        edges.append(path);
        (inEdges.get(n.name) ?? inEdges.set(n.name, []).get(n.name)).push(path);
      }
    }
    for (const n of nodes) {
      const p = pos.get(n.name);
      const g = el('g', { class: `node k-${kindClass(n)}`, transform: `translate(${p.x},${p.y})`, 'data-node': n.name, 'data-kind': n.kind });
      g.append(el('title', {}, n.name));
      g.append(el('rect', { width: NODE_W, height: NODE_H, rx: 6 }));
      g.append(el('text', { x: 8, y: 17, class: 'name' }, clip(n.name, 23)));
      g.append(el('text', { x: 8, y: 31, class: 'kind' }, clip(String(n.kind), 24)));
      const rate = el('text', { x: 8, y: 50, class: 'stats' }, '–');
      const extra = el('text', { x: 8, y: 67, class: 'stats warn' }, '');
      const errors = el('text', { x: NODE_W - 8, y: 31, class: 'err', 'text-anchor': 'end' }, '');
      g.append(rate, extra, errors);
      svg.append(g);
      this.boxes.set(n.name, { g, rate, extra, errors, inEdges: inEdges.get(n.name) ?? [] });
    }
    this.container.replaceChildren(svg);
    if (nodes.length === 0) this.container.innerHTML = `<p class="empty">${esc('this pipeline has no operators')}</p>`;
  }
}
