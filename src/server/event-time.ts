/**
 * Event-time parsing for ingest. An event time is either epoch milliseconds (a finite number >= 0;
 * fractions are floored) or an ISO-8601 / RFC 3339 string: a date (`2024-05-01`, midnight UTC) or a
 * date-time with an explicit offset (`2024-05-01T12:00:00.250Z`, `...+02:00`). A date-time without an
 * offset is refused: JavaScript would read it in the server's local zone, so the same event would get
 * a different time on another machine.
 */

/** Largest time a JavaScript Date can hold (ms). */
const MAX_TIME_MS = 8.64e15;

const ISO_8601 =
  /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?:T(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,9})?)?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d))?$/;

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

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
  if (typeof value !== 'string' || !ISO_8601.test(value)) return NaN;
  // The regex bounds month and day to 1-12 and 1-31; Date.parse would roll 2023-02-30 over to March.
  const year = Number(value.slice(0, 4));
  const month = (value.charCodeAt(5) - 48) * 10 + (value.charCodeAt(6) - 48);
  const day = (value.charCodeAt(8) - 48) * 10 + (value.charCodeAt(9) - 48);
  if (day > DAYS_IN_MONTH[month - 1]! || (month === 2 && day === 29 && !isLeapYear(year))) return NaN;
  const ms = Date.parse(value);
  return ms >= 0 ? ms : NaN;
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}
