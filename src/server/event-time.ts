/**
 * Event-time parsing for ingest. An event time is either epoch milliseconds (a finite number >= 0;
 * fractions are floored) or an ISO-8601 / RFC 3339 string: a date (`2024-05-01`, midnight UTC) or a
 * date-time with an explicit offset (`2024-05-01T12:00:00.250Z`, `...+02:00`; seconds optional,
 * digits past milliseconds truncated). A date-time without an offset is refused: JavaScript would
 * read it in the server's local zone, so the same event would get a different time on another machine.
 *
 * Parsed by hand on char codes (no regex, no Date.parse): this runs once per event on the ingest hot
 * path, and Date.parse would also roll impossible dates (2023-02-30) over into March.
 */

/** Largest time a JavaScript Date can hold (ms). */
const MAX_TIME_MS = 8.64e15;
const MS_PER_DAY = 86_400_000;

/**
 * The event time in ms of a field value, `fallbackMs` when the value is absent (`undefined` or
 * `null`), or `NaN` when it is present but not a valid time.
 *
 * @example
 * ```ts
 * parseEventTime('2024-05-01T00:00:00Z', 0) // 1714521600000
 * parseEventTime(1714521600000, 0)         // 1714521600000
 * parseEventTime(undefined, 42)            // 42
 * parseEventTime('yesterday', 0)           // NaN
 * ```
 */
export function parseEventTime(value: unknown, fallbackMs: number): number {
  if (value === undefined || value === null) return fallbackMs;
  if (typeof value === 'number') {
    return value >= 0 && value <= MAX_TIME_MS ? Math.floor(value) : NaN; // NaN and ±Infinity fail the range check
  }
  if (typeof value !== 'string') return NaN;
  const ms = parseIsoTimestampMs(value, true, false);
  return ms >= 0 && ms <= MAX_TIME_MS ? ms : NaN;
}

/**
 * True for an RFC 3339 `date-time` (JSON Schema's `format: "date-time"`): seconds and an offset
 * required, `T`, `t` or a space between date and time. Registered in ajv in place of ajv-formats'
 * regex version (same grammar, no regex).
 *
 * @example
 * ```ts
 * isRfc3339DateTime('2024-05-01T12:00:00Z') // true
 * isRfc3339DateTime('2024-05-01T12:00:00')  // false: no offset
 * ```
 */
export function isRfc3339DateTime(value: string): boolean {
  return !Number.isNaN(parseIsoTimestampMs(value, false, true));
}

/**
 * Grammar (RFC 3339 section 5.6, with the two relaxations named by the flags):
 *   timestamp  = full-date [ ("T" / "t" / " ") partial-time offset ]    ; date alone iff allowDateOnly
 *   full-date  = 4DIGIT "-" 2DIGIT "-" 2DIGIT                           ; month 01-12, day valid in month
 *   partial-time = 2DIGIT ":" 2DIGIT [ ":" 2DIGIT [ "." 1*DIGIT ] ]   ; seconds mandatory iff requireSeconds
 *   offset     = "Z" / "z" / ("+" / "-") 2DIGIT ":" 2DIGIT
 * Second 60 (a leap second) is accepted only at 23:59 UTC, as RFC 3339 allows.
 * Returns ms since the epoch (negative before 1970), or NaN.
 */
export function parseIsoTimestampMs(s: string, allowDateOnly: boolean, requireSeconds: boolean): number {
  const n = s.length;
  if (n < 10 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return NaN;
  const century = two(s, 0);
  const yy = two(s, 2);
  const year = century * 100 + yy;
  const month = two(s, 5);
  const day = two(s, 8);
  if (century < 0 || yy < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return NaN;
  const days = daysFromCivil(year, month, day);
  if (n === 10) return allowDateOnly ? days * MS_PER_DAY : NaN;

  const sep = s.charCodeAt(10);
  if ((sep !== 84 && sep !== 116 && sep !== 32) || s.charCodeAt(13) !== 58) return NaN; // T t space, ':'
  const hour = two(s, 11);
  const minute = two(s, 14);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59) return NaN;
  let i = 16;
  let second = 0;
  let millis = 0;
  if (s.charCodeAt(i) === 58) {
    second = two(s, i + 1);
    if (second < 0 || second > 60) return NaN;
    i += 3;
    if (s.charCodeAt(i) === 46) {
      i++;
      const start = i;
      let c = s.charCodeAt(i) - 48;
      while (c >= 0 && c <= 9) {
        if (i - start < 3) millis = millis * 10 + c;
        c = s.charCodeAt(++i) - 48;
      }
      const digits = i - start;
      if (digits === 0) return NaN;
      if (digits === 1) millis *= 100;
      else if (digits === 2) millis *= 10;
    }
  } else if (requireSeconds) {
    return NaN;
  }

  let offsetMinutes: number;
  const z = s.charCodeAt(i);
  if (z === 90 || z === 122) {
    offsetMinutes = 0;
    i++;
  } else if (z === 43 || z === 45) {
    const oh = two(s, i + 1);
    const om = two(s, i + 4);
    if (oh < 0 || oh > 23 || om < 0 || om > 59 || s.charCodeAt(i + 3) !== 58) return NaN;
    offsetMinutes = (oh * 60 + om) * (z === 43 ? 1 : -1);
    i += 6;
  } else {
    return NaN;
  }
  if (i !== n) return NaN;
  const utcMinuteOfDay = hour * 60 + minute - offsetMinutes;
  if (second === 60 && (((utcMinuteOfDay % 1440) + 1440) % 1440) !== 1439) return NaN;
  return days * MS_PER_DAY + (utcMinuteOfDay * 60 + second) * 1000 + millis;
}

/** Two ASCII digits at `i` as a number, or a negative number when either is not a digit. */
function two(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48;
  const b = s.charCodeAt(i + 1) - 48;
  // NaN (past the end) fails both comparisons, hence the explicit negation.
  if (!(a >= 0 && a <= 9 && b >= 0 && b <= 9)) return -100;
  return a * 10 + b;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}
