// The dashboard's main loop: polls the server's JSON APIs, charts what changes client-side, and keeps
// every panel current. No framework, no build step: the browser loads these modules as they are.
import { api, isMissingRoute } from './api.js';
import { LiveChart } from './charts.js';
import { ViewExplorer } from './explorer.js';
import { esc, fmtCount, fmtMs, fmtRate, fmtTime } from './format.js';
import { kindClass, PipelineGraph } from './graph.js';
import { parsePrometheus } from './prom.js';

/** Poll intervals (ms). Pipelines every second: the charts' resolution. */
export const POLL_MS = { pipelines: 1000, alerts: 2000, deadLetters: 3000, views: 3000, metrics: 5000 };
/** Latencies below this chart as this (the latency chart's scale is logarithmic). */
const MIN_CHARTED_LATENCY_MS = 1;
/** Dead letters listed under "Latest". */
const RECENT_DEAD_LETTERS = 8;

const $ = (id) => document.getElementById(id);

const state = {
  pipeline: null,
  polls: 0,
  failures: 0,
  missing: new Set(),
  dlqHistory: [],
  dlqCounts: new Map(),
  lastPipelines: null,
  pipelineSamples: 0,
};
// For tests and for poking around in the console.
window.freshetDashboard = state;

const graph = new PipelineGraph($('graph'));
const charts = {
  throughput: new LiveChart($('chart-throughput'), { series: [{ label: 'in', fmt: fmtRate }, { label: 'out', fmt: fmtRate }, { label: 'dead letters', stroke: '#ff5c5c', fmt: fmtRate }] }),
  latency: new LiveChart($('chart-latency'), { yFmt: fmtMs, log: true, series: [{ label: 'p50', fmt: fmtMs }, { label: 'p99', stroke: '#f5b942', fmt: fmtMs }] }),
  lag: new LiveChart($('chart-lag'), {
    scales: { s: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
    y2Fmt: (v) => `${fmtCount(v)} s`,
    series: [{ label: 'records' }, { label: 'seconds', scale: 's', stroke: '#a78bfa', fmt: (v) => `${fmtCount(v)} s` }],
  }),
};
const explorer = new ViewExplorer();
state.explorer = explorer;

function setConnection(ok, text) {
  const badge = $('connection');
  badge.className = `badge ${ok ? 'badge-ok' : 'badge-bad'}`;
  badge.textContent = text;
}

/** Runs `fn` now and every `ms`, never two at once. */
function every(ms, fn) {
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      await fn();
    } finally {
      running = false;
    }
  };
  void tick();
  setInterval(tick, ms);
}

/** A route this server lacks is asked for again only this often (each miss is a 404 in the console). */
const MISSING_RETRY_MS = 30_000;
const missingSince = new Map();

/** Calls an endpoint; notes a missing route once instead of failing every poll. */
async function poll(name, path, render, onMissing) {
  const missedAt = missingSince.get(name);
  if (missedAt !== undefined && Date.now() - missedAt < MISSING_RETRY_MS) return;
  try {
    const data = await api(path);
    state.missing.delete(name);
    missingSince.delete(name);
    state.polls++;
    setConnection(true, 'live');
    render(data);
  } catch (error) {
    if (isMissingRoute(error)) {
      state.missing.add(name);
      missingSince.set(name, Date.now());
      onMissing?.();
      return;
    }
    state.failures++;
    setConnection(false, error.name === 'AbortError' ? 'slow' : 'offline');
  }
}

// --- pipelines: graph, KPIs, charts ---

function sum(values) {
  let s = 0;
  for (const v of values) if (Number.isFinite(v)) s += v;
  return s;
}

function maxOf(values) {
  let m = null;
  for (const v of values) if (Number.isFinite(v) && (m === null || v > m)) m = v;
  return m;
}

/** Names of the nodes matching `seed` and of everything downstream of them. */
function downstreamOf(nodes, seed) {
  const out = new Set(nodes.filter(seed).map((n) => n.name));
  for (let grew = true; grew; ) {
    grew = false;
    for (const n of nodes) {
      if (!out.has(n.name) && (n.inputs ?? []).some((i) => out.has(i))) {
        out.add(n.name);
        grew = true;
      }
    }
  }
  return out;
}

function renderPipelines(data) {
  const pipelines = data?.pipelines ?? [];
  state.lastPipelines = pipelines;
  const select = $('pipeline-select');
  select.hidden = pipelines.length < 2;
  const names = pipelines.map((p) => p.name).join('|');
  if (select.dataset.names !== names) {
    select.dataset.names = names;
    select.innerHTML = pipelines.map((p) => `<option>${esc(p.name)}</option>`).join('');
    select.onchange = () => (state.pipeline = select.value);
  }
  const p = pipelines.find((x) => x.name === state.pipeline) ?? pipelines[0];
  if (!p) {
    $('pipeline-title').textContent = 'no pipeline runs in this server';
    $('graph').innerHTML = '<p class="empty">no pipelines (start one with <code>freshet demo</code> or <code>freshet run</code>)</p>';
    return;
  }
  state.pipeline = p.name;
  select.value = p.name;
  const statusClass = p.status === 'running' || p.status === 'caught-up' ? 'badge-ok' : p.status === 'failed' ? 'badge-bad' : 'badge-wait';
  $('pipeline-title').innerHTML =
    `pipeline <b>${esc(p.name)}</b> · <span class="badge ${statusClass}" data-testid="pipeline-status">${esc(p.status ?? '?')}</span>` +
    (p.failure ? ` <span class="small">${esc(p.failure.code)}: ${esc(p.failure.message)}</span>` : '');
  graph.update(p);

  const nodes = p.nodes ?? [];
  const sources = nodes.filter((n) => kindClass(n) === 'source');
  const sinks = nodes.filter((n) => kindClass(n) === 'sink');
  const inRate = sum(sources.map((n) => n.recordsPerS));
  const outRate = sum(sinks.map((n) => n.recordsPerS));
  // End-to-end latency is measured where results become visible: the sinks, but not those of late
  // records (late by definition). A window's early result is stamped with its end, which lies ahead of
  // the clock: such latencies count as the chart's minimum.
  const late = downstreamOf(nodes, (n) => String(n.kind).toLowerCase().includes('late'));
  const measured = sinks.filter((n) => !late.has(n.name) && Number.isFinite(n.latencyMs?.p99));
  const clamp = (v) => (Number.isFinite(v) ? Math.max(MIN_CHARTED_LATENCY_MS, v) : null);
  const p50 = maxOf(measured.map((n) => clamp(n.latencyMs?.p50)));
  const p99 = maxOf(measured.map((n) => clamp(n.latencyMs?.p99)));
  const lagRecords = sum((p.lag ?? []).map((l) => l.records));
  const lagSeconds = maxOf((p.lag ?? []).map((l) => l.seconds)) ?? 0;
  const dlqTotal = sum((p.deadLetters ?? []).map((d) => d.count));

  const now = Date.now();
  state.dlqHistory.push({ t: now, total: dlqTotal });
  while (state.dlqHistory.length > 2 && now - state.dlqHistory[0].t > 60_000) state.dlqHistory.shift();
  const prev = state.dlqHistory.length >= 2 ? state.dlqHistory[state.dlqHistory.length - 2] : null;
  const dlqRate = prev && now > prev.t ? Math.max(0, ((dlqTotal - prev.total) * 1000) / (now - prev.t)) : null;

  $('kpi-in').textContent = fmtRate(inRate);
  $('kpi-out').textContent = fmtRate(outRate);
  // The headline: ingest (HTTP) → results written, when the pipeline's input came through ingest; else
  // event time → result at the sinks (which late and early window results stretch both ways).
  const ingestP99 = p.ingestLatencyMs?.p99;
  $('kpi-p99-label').textContent = Number.isFinite(ingestP99) ? 'ingest → output p99' : 'latency p99';
  $('kpi-p99').textContent = fmtMs(Number.isFinite(ingestP99) ? Math.max(0, ingestP99) : p99);
  $('kpi-lag').textContent = fmtCount(lagRecords);
  $('kpi-lag').className = `kpi-value${lagRecords > 10_000 ? ' warn' : ''}`;
  $('kpi-dlq').textContent = fmtCount(dlqTotal);

  // The server's first answer has no rates yet (they are measured between two polls).
  if (state.pipelineSamples++ > 0) {
    charts.throughput.push(now, [inRate, outRate, dlqRate]);
    charts.latency.push(now, [p50, p99]);
    charts.lag.push(now, [lagRecords, lagSeconds]);
  }
  renderDeadLetterSummary(p.deadLetters ?? [], now);
}

function renderDeadLetterSummary(rows, now) {
  // Per (topic, reason): count now and a minute ago, for a per-minute rate.
  const body = $('dlq-summary').querySelector('tbody');
  if (rows.length === 0) {
    body.innerHTML = '<tr><td colspan="4" class="empty">no dead letters</td></tr>';
    return;
  }
  const sorted = [...rows].sort((a, b) => b.count - a.count);
  let html = '';
  for (const r of sorted) {
    const id = `${r.topic}\u0000${r.reason}`;
    const hist = state.dlqCounts.get(id) ?? [];
    hist.push({ t: now, count: r.count });
    while (hist.length > 2 && now - hist[0].t > 60_000) hist.shift();
    state.dlqCounts.set(id, hist);
    const first = hist[0];
    const perMin = now > first.t ? ((r.count - first.count) * 60_000) / (now - first.t) : null;
    html += `<tr><td>${esc(r.topic)}</td><td class="reason">${esc(r.reason)}</td><td class="num">${fmtCount(r.count)}</td><td class="num">${perMin === null ? '–' : fmtCount(perMin)}</td></tr>`;
  }
  body.innerHTML = html;
}

function pipelinesMissing() {
  $('pipeline-title').textContent = 'no pipeline in this server';
  $('graph').innerHTML = '<p class="empty">this server runs no pipeline (no <code>/v1/pipelines</code>): metrics and views only</p>';
}

// --- dead letters ---

function renderDeadLetters(data) {
  const items = data?.items ?? [];
  const list = $('dlq-recent');
  if (items.length === 0) {
    list.innerHTML = '<li class="empty">none</li>';
    return;
  }
  list.innerHTML = items
    .slice(0, RECENT_DEAD_LETTERS)
    .map((d) => {
      const where = `${d.topic}@${d.offset}${d.stage ? ` · ${d.stage}` : ''}${d.check ? ` · ${d.check}` : ''}`;
      const payload = typeof d.payload === 'string' ? d.payload : JSON.stringify(d.payload);
      return `<li><span>${esc(where)}<br><span class="small">${esc(d.code ?? '')}</span></span><span><span class="reason">${esc(d.reason ?? '')}</span><code title="${esc(payload ?? '')}">${esc(payload ?? '')}</code></span></li>`;
    })
    .join('');
}

// --- data-quality checks (from the Prometheus metrics: `warn` checks never reach a dead-letter topic) ---

const QUALITY_FAMILY = 'freshet_quality_checks_total';

async function pollChecks() {
  const missedAt = missingSince.get('metrics');
  if (missedAt !== undefined && Date.now() - missedAt < MISSING_RETRY_MS) return;
  let text;
  try {
    const res = await fetch('/metrics');
    if (res.status === 404) {
      missingSince.set('metrics', Date.now());
      return;
    }
    text = await res.text();
  } catch {
    return;
  }
  const rows = new Map();
  for (const s of parsePrometheus(text, new Set([QUALITY_FAMILY]))) {
    if (state.pipeline && s.labels.pipeline && s.labels.pipeline !== state.pipeline) continue;
    const id = `${s.labels.check}\u0000${s.labels.stage}`;
    const r = rows.get(id) ?? { check: s.labels.check, stage: s.labels.stage, passed: 0, failed: 0 };
    if (s.labels.outcome === 'pass' || s.labels.outcome === 'passed') r.passed += s.value;
    else r.failed += s.value;
    rows.set(id, r);
  }
  $('checks-block').hidden = rows.size === 0;
  $('checks').querySelector('tbody').innerHTML = [...rows.values()]
    .sort((a, b) => b.failed - a.failed || a.check.localeCompare(b.check))
    .map((r) => {
      const share = r.passed + r.failed > 0 ? (100 * r.failed) / (r.passed + r.failed) : 0;
      return `<tr><td>${esc(r.check)}</td><td>${esc(r.stage)}</td><td class="num">${fmtCount(r.passed)}</td><td class="num">${fmtCount(r.failed)}</td><td class="num${share > 0 ? ' reason' : ''}">${share.toFixed(share < 10 ? 2 : 1)}</td></tr>`;
    })
    .join('');
}

// --- alerts ---

function renderAlerts(data) {
  const rules = data?.rules ?? [];
  const shown = [];
  for (const rule of rules) {
    for (const inst of rule.instances ?? []) {
      if (inst.state === 'inactive') continue;
      shown.push({ rule, inst });
    }
  }
  const rank = { firing: 0, pending: 1, resolved: 2 };
  shown.sort((a, b) => rank[a.inst.state] - rank[b.inst.state] || a.rule.name.localeCompare(b.rule.name));
  const firing = shown.filter((s) => s.inst.state === 'firing').length;
  $('kpi-alerts').textContent = String(firing);
  $('kpi-alerts').className = `kpi-value${firing > 0 ? ' bad' : ''}`;
  $('alerts-summary').textContent = `${rules.length} rules · ${firing} firing`;
  const list = $('alerts');
  if (shown.length === 0) {
    list.innerHTML = `<li class="empty">${rules.length === 0 ? 'no alert rules configured' : 'all clear'}</li>`;
    return;
  }
  list.innerHTML = shown
    .map(({ rule, inst }) => {
      const summary = inst.annotations?.summary ?? rule.annotations?.summary ?? rule.expr ?? '';
      const since = inst.state === 'firing' ? inst.firedAtMs : inst.state === 'resolved' ? inst.resolvedAtMs : inst.activeAtMs;
      return `<li class="${esc(inst.state)}" data-alert="${esc(rule.name)}"><span class="state">${esc(inst.state)} · ${esc(rule.severity)}${since ? ` · ${fmtTime(since)}` : ''}</span><div class="name">${esc(rule.name)}</div><div class="summary">${esc(summary)}</div></li>`;
    })
    .join('');
}

// --- start ---

every(POLL_MS.pipelines, () => poll('pipelines', '/v1/pipelines', renderPipelines, pipelinesMissing));
every(POLL_MS.alerts, () =>
  poll('alerts', '/v1/alerts', renderAlerts, () => {
    $('alerts').innerHTML = '<li class="empty">alerts are not enabled on this server</li>';
  }),
);
every(POLL_MS.deadLetters, () => poll('deadLetters', `/v1/dead-letters?limit=${RECENT_DEAD_LETTERS}`, renderDeadLetters));
every(POLL_MS.views, () =>
  poll('views', '/v1/views', (d) => explorer.setViews(d?.views ?? []), () => {
    $('explorer-empty').textContent = 'this server serves no views';
  }),
);
every(POLL_MS.metrics, pollChecks);
setInterval(() => ($('clock').textContent = fmtTime(Date.now())), 1000);
