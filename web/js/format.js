// Number and time formatting for a wall screen: short, fixed units, no surprises.

/** 1234 -> "1.23k", 1.5e6 -> "1.50M"; null/undefined/NaN -> "–". */
export function fmtCount(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (a >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  if (a >= 1e3) return `${(n / 1e3).toFixed(2)}k`;
  if (Number.isInteger(n)) return String(n);
  return a >= 100 ? n.toFixed(0) : a >= 10 ? n.toFixed(1) : n.toFixed(2);
}

/** A rate per second: "1.2k/s". */
export function fmtRate(perS) {
  return perS === null || perS === undefined || !Number.isFinite(perS) ? '–' : `${fmtCount(perS)}/s`;
}

/** Milliseconds: "0.42 ms", "35 ms", "1.8 s", "2.5 min". */
export function fmtMs(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  const a = Math.abs(ms);
  if (a < 1) return `${ms.toFixed(2)} ms`;
  if (a < 1000) return `${ms.toFixed(a < 10 ? 1 : 0)} ms`;
  if (a < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (a < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** A wall-clock time: "14:03:27". */
export function fmtTime(ms) {
  if (!Number.isFinite(ms)) return '–';
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

/** Escapes text for innerHTML. */
export function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

/**
 * The numeric leaves of a value, as dotted paths: { revenue: 3, latencyMs: { p95: 7 } } ->
 * [['revenue', 3], ['latencyMs.p95', 7]]. A bare number is the path 'value'. Depth-bounded.
 */
export function numericFields(value, prefix = '', out = [], depth = 0) {
  if (typeof value === 'number') {
    out.push([prefix || 'value', value]);
    return out;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || depth > 3) return out;
  for (const [k, v] of Object.entries(value)) numericFields(v, prefix ? `${prefix}.${k}` : k, out, depth + 1);
  return out;
}

/** The value at a dotted path, or null. */
export function pathValue(value, path) {
  if (path === 'value' && typeof value === 'number') return value;
  let v = value;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object') return null;
    v = v[part];
  }
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}
