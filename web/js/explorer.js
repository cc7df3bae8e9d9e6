// The view explorer: pick a view; chart a time-series view per key (history from the series
// endpoint, live updates over SSE), look up keys of a key-value view, or run SQL on a table view.
import { api } from './api.js';
import { LiveChart } from './charts.js';
import { esc, fmtCount, fmtTime, numericFields, pathValue } from './format.js';

/** History loaded when a series is opened. */
export const SERIES_HISTORY_MS = 15 * 60_000;
/** Points the explorer's chart keeps (history plus live updates). */
const MAX_SERIES_POINTS = 2000;
/** Keys listed for a key-value view. */
const KV_LIST_LIMIT = 100;
/** How long a newly opened time-series view collects keys before it opens one. */
const KEY_PICK_DELAY_MS = 1500;
/** Keys offered for a time-series view (collected from its live stream). */
const MAX_SERIES_KEYS = 200;

const $ = (id) => document.getElementById(id);

export class ViewExplorer {
  constructor() {
    this.views = [];
    this.current = null;
    this.source = null;
    this.chart = null;
    this.seriesKey = null;
    this.fields = [];
    this.selectedFields = [];
    this.keys = new Set();
    this.live = 0;
    this.loadSeq = 0;
    this.pickTimer = null;
    const params = new URLSearchParams(location.search);
    /** `?view=<name>&key=<key>` opens that view (and key) first: a wall screen's bookmark. */
    this.wanted = { view: params.get('view'), key: params.get('key') };
    $('view-select').addEventListener('change', (e) => this.select(e.target.value));
    $('series-key').addEventListener('change', (e) => this.openSeries(e.target.value.trim()));
    $('kv-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.lookup($('kv-key').value.trim());
    });
    $('sql-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.runSql($('sql').value);
    });
  }

  /** The views as `GET /v1/views` lists them. */
  setViews(views) {
    this.views = views;
    const select = $('view-select');
    const names = views.map((v) => v.name);
    if (select.dataset.names !== names.join('|')) {
      select.dataset.names = names.join('|');
      select.innerHTML = views.map((v) => `<option value="${esc(v.name)}">${esc(v.name)} (${esc(v.kind)})</option>`).join('');
      if (this.current && names.includes(this.current.name)) select.value = this.current.name;
    }
    $('explorer-empty').hidden = views.length > 0;
    if (!this.current && views.length > 0) {
      // A time series first: it is what moves on a wall screen.
      const first = views.find((v) => v.name === this.wanted.view) ?? views.find((v) => v.kind === 'timeseries') ?? views[0];
      select.value = first.name;
      this.select(first.name);
    }
    const info = views.find((v) => v.name === this.current?.name);
    if (info) {
      const f = info.freshness ?? {};
      $('view-info').textContent =
        `${fmtCount(info.size)} ${info.kind === 'kv' ? 'keys' : info.kind === 'timeseries' ? 'points' : 'rows'}` +
        ` · ${fmtCount(f.appliedUpdates)} updates · lag ${fmtCount(f.lag)}` +
        (f.lastUpdateMs ? ` · updated ${fmtTime(f.lastUpdateMs)}` : '');
    }
  }

  select(name) {
    const view = this.views.find((v) => v.name === name);
    if (!view) return;
    this.close();
    this.current = view;
    $('explorer-series').hidden = view.kind !== 'timeseries';
    $('explorer-kv').hidden = view.kind !== 'kv';
    $('explorer-table').hidden = view.kind !== 'table';
    if (view.kind === 'timeseries') this.startSeries(view);
    else if (view.kind === 'kv') void this.listKeys(view);
    else if (view.kind === 'table') {
      $('sql').value = `SELECT * FROM "${view.name}" ORDER BY event_time DESC LIMIT 20`;
      void this.runSql($('sql').value);
    }
  }

  close() {
    clearTimeout(this.pickTimer);
    this.pickTimer = null;
    this.source?.close();
    this.source = null;
    this.chart?.destroy();
    this.chart = null;
    this.seriesKey = null;
    this.keys = new Set();
    this.fields = [];
    $('series-key-chips').innerHTML = '';
    $('series-keys').innerHTML = '';
    $('series-fields').innerHTML = '';
    $('series-key').value = '';
  }

  // --- time series ---

  startSeries(view) {
    // One stream for all keys: it tells which keys exist, and feeds the chart of the chosen one.
    const source = new EventSource(`/v1/views/${encodeURIComponent(view.name)}/stream`);
    this.source = source;
    source.addEventListener('update', (e) => {
      let u;
      try {
        u = JSON.parse(e.data);
      } catch {
        return;
      }
      this.noteKey(u.key);
      if (u.key === this.seriesKey && this.chart && Number.isFinite(u.windowStartMs) && !u.deleted) {
        this.chart.upsert(u.windowStartMs, this.selectedFields.map((f) => pathValue(u.value, f)));
        this.live++;
        $('chart-series').dataset.live = String(this.live);
      }
    });
  }

  noteKey(key) {
    if (typeof key !== 'string' || this.keys.has(key) || this.keys.size >= MAX_SERIES_KEYS) return;
    this.keys.add(key);
    const sorted = [...this.keys].sort((a, b) => (a === 'all' ? -1 : b === 'all' ? 1 : a.localeCompare(b)));
    $('series-keys').innerHTML = sorted.map((k) => `<option value="${esc(k)}">`).join('');
    $('series-key-chips').innerHTML = sorted
      .slice(0, 12)
      .map((k) => `<span class="chip${k === this.seriesKey ? ' on' : ''}" data-key="${esc(k)}">${esc(k)}</span>`)
      .join('');
    for (const chip of $('series-key-chips').querySelectorAll('.chip')) chip.onclick = () => this.openSeries(chip.dataset.key);
    // The first keys arrive within a window or two: then open `all` (the total) if the view has it,
    // else the first key seen.
    if (this.seriesKey === null && key === this.wanted.key) {
      void this.openSeries(key);
      return;
    }
    if (this.seriesKey === null && this.pickTimer === null) {
      const view = this.current;
      this.pickTimer = setTimeout(() => {
        this.pickTimer = null;
        if (this.current === view && this.seriesKey === null) void this.openSeries(this.keys.has('all') ? 'all' : [...this.keys][0]);
      }, KEY_PICK_DELAY_MS);
    }
  }

  async openSeries(key) {
    if (!key || !this.current) return;
    const view = this.current;
    this.seriesKey = key;
    $('series-key').value = key;
    for (const chip of $('series-key-chips').querySelectorAll('.chip')) chip.classList.toggle('on', chip.dataset.key === key);
    const seq = ++this.loadSeq;
    let points = [];
    try {
      const from = Date.now() - SERIES_HISTORY_MS;
      const r = await api(`/v1/views/${encodeURIComponent(view.name)}/series?key=${encodeURIComponent(key)}&from=${from}`);
      points = r.points ?? [];
    } catch (error) {
      $('view-info').textContent = `${error.code ?? ''} ${error.message}`;
    }
    if (seq !== this.loadSeq || this.current !== view) return;
    const last = points.at(-1)?.value;
    const fields = numericFields(last ?? {}).map(([f]) => f);
    if (fields.join('|') !== this.fields.join('|') || this.selectedFields.some((f) => !fields.includes(f))) {
      this.fields = fields;
      const quantiles = fields.filter((f) => /\.p\d/.test(f));
      this.selectedFields = quantiles.length > 0 ? quantiles.slice(0, 3) : fields.slice(0, 2);
      this.renderFieldChips();
    }
    this.drawSeries(points);
  }

  renderFieldChips() {
    $('series-fields').innerHTML = this.fields
      .map((f) => `<span class="chip${this.selectedFields.includes(f) ? ' on' : ''}" data-field="${esc(f)}">${esc(f)}</span>`)
      .join('');
    for (const chip of $('series-fields').querySelectorAll('.chip')) {
      chip.onclick = () => {
        const f = chip.dataset.field;
        this.selectedFields = this.selectedFields.includes(f) ? this.selectedFields.filter((x) => x !== f) : [...this.selectedFields, f];
        if (this.selectedFields.length === 0) this.selectedFields = [f];
        this.renderFieldChips();
        void this.openSeries(this.seriesKey);
      };
    }
  }

  drawSeries(points) {
    this.chart?.destroy();
    const el = $('chart-series');
    el.innerHTML = '';
    this.chart = new LiveChart(el, { series: this.selectedFields.map((f) => ({ label: f })), height: 280, maxPoints: MAX_SERIES_POINTS });
    this.chart.setData(
      points.map((p) => p.windowStartMs),
      this.selectedFields.map((f) => points.map((p) => pathValue(p.value, f))),
    );
  }

  // --- key-value ---

  async listKeys(view) {
    const list = $('kv-keys');
    list.innerHTML = '<li class="empty">loading…</li>';
    try {
      const r = await api(`/v1/views/${encodeURIComponent(view.name)}/keys?limit=${KV_LIST_LIMIT}`);
      const entries = r.entries ?? [];
      list.innerHTML = entries.length === 0 ? '<li class="empty">no keys yet</li>' : entries.map((e) => `<li data-key="${esc(e.key)}">${esc(e.key)}</li>`).join('');
      for (const li of list.querySelectorAll('li[data-key]')) {
        li.onclick = () => {
          $('kv-key').value = li.dataset.key;
          void this.lookup(li.dataset.key);
        };
      }
      if (!$('kv-key').value && entries.length > 0) {
        const first = entries.find((e) => e.key === 'all') ?? entries[0];
        $('kv-key').value = first.key;
      }
    } catch (error) {
      list.innerHTML = `<li class="empty">${esc(error.message)}</li>`;
    }
  }

  async lookup(key) {
    if (!key || !this.current) return;
    const status = $('kv-status');
    status.textContent = 'looking up…';
    const t0 = performance.now();
    try {
      const entry = await api(`/v1/views/${encodeURIComponent(this.current.name)}/keys/${encodeURIComponent(key)}`);
      $('kv-result').textContent = JSON.stringify(entry, null, 2);
      status.textContent = `found in ${(performance.now() - t0).toFixed(1)} ms`;
      $('kv-result').dataset.key = key;
    } catch (error) {
      $('kv-result').textContent = '';
      status.textContent = error.status === 404 ? `no key '${key}'` : `${error.code}: ${error.message}`;
    }
  }

  // --- table (SQL) ---

  async runSql(sql) {
    const status = $('sql-status');
    status.textContent = 'running…';
    try {
      const r = await api('/v1/sql', { method: 'POST', body: { sql, maxRows: 200 } });
      const head = `<thead><tr>${r.columns.map((c) => `<th>${esc(c.name)}</th>`).join('')}</tr></thead>`;
      const body = r.rows
        .map((row) => `<tr>${row.map((v) => `<td>${esc(typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v ?? ''))}</td>`).join('')}</tr>`)
        .join('');
      $('sql-result').innerHTML = head + `<tbody>${body}</tbody>`;
      status.textContent = `${r.rowCount} rows${r.truncated ? ' (truncated)' : ''} in ${r.elapsedMs} ms`;
    } catch (error) {
      $('sql-result').innerHTML = '';
      status.textContent = `${error.code}: ${error.message}`;
    }
  }
}
