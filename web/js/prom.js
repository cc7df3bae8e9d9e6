// A small reader of the Prometheus text format (what GET /metrics serves): enough to pick a few
// families for the dashboard. Sample lines only; HELP/TYPE comments and timestamps are skipped.

/** Unescapes a label value (\\, \", \n). */
function unescape(v) {
  return v.replace(/\\(["\\n])/g, (_, c) => (c === 'n' ? '\n' : c));
}

/**
 * The samples of the families named in `names` (a Set): [{ name, labels, value }]. Lines of other
 * families are skipped without being parsed.
 */
export function parsePrometheus(text, names) {
  const out = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    const nameEnd = brace !== -1 && (space === -1 || brace < space) ? brace : space;
    const name = line.slice(0, nameEnd);
    if (!names.has(name)) continue;
    const labels = {};
    let rest = line.slice(nameEnd);
    if (rest.startsWith('{')) {
      const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/y;
      let pos = 1;
      re.lastIndex = pos;
      let m;
      while ((m = re.exec(rest)) !== null) {
        labels[m[1]] = unescape(m[2]);
        pos = re.lastIndex;
      }
      // After the last label (a failed exec resets lastIndex, so the position is kept apart).
      rest = rest.slice(rest.indexOf('}', pos) + 1);
    }
    const value = Number(rest.trim().split(/\s+/)[0]);
    if (!Number.isNaN(value)) out.push({ name, labels, value });
  }
  return out;
}
