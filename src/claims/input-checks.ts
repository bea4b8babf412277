// Checks on client input that the JSON schemas cannot express, made before anything reaches the
// database. Each closes a way in which a well-formed request used to end in a 500 or worse:
//
// - U+0000 in any string or object key: PostgreSQL's text and jsonb cannot hold it (SQLSTATE
//   22021 / 22P05), so the insert failed; in a group commit it failed the whole group, other
//   clients' claims included.
// - Nesting depth: a free-form object (an order's `shipping`) 2000 levels deep was stored, and
//   the row read back could not be unpacked on the serving thread (structured clone ran out
//   of stack there), which left the database thread's transaction open and the server hung.
// - Timestamps: `new Date()` takes "1", "March 7 2020" and years PostgreSQL refuses; a stored
//   date must be an ISO 8601 / RFC 3339 date or date-time in years PostgreSQL and people use.
//
// The walks are iterative, so a hostile depth cannot overflow the stack of the check itself.

import { invalid } from './errors.ts';

/** Deepest nesting of objects and arrays accepted in a JSON body or part (the top level is 1). */
export const MAX_JSON_DEPTH = 32;

/**
 * Refuses (400 invalid_request) a value holding a NUL character in any string or key, or
 * nested deeper than MAX_JSON_DEPTH; `what` names the value in the message ("body", "claim").
 */
export function checkInputValue(value: unknown, what: string): void {
  const stack: { v: unknown; path: string; depth: number }[] = [{ v: value, path: what, depth: 0 }];
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) throw nulInside(path);
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (depth + 1 > MAX_JSON_DEPTH) throw invalid(`${what} is nested more than ${MAX_JSON_DEPTH} levels deep`);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push({ v: v[i], path: `${path}[${i}]`, depth: depth + 1 });
      continue;
    }
    for (const [k, x] of Object.entries(v)) {
      if (k.includes('\u0000')) throw nulInside(`a key in ${path}`);
      stack.push({ v: x, path: `${path}.${k}`, depth: depth + 1 });
    }
  }
}

/** Refuses a text (a file name, a content type, a path or query value) holding a NUL character. */
export function checkText(value: string | undefined, what: string): void {
  if (value !== undefined && value.includes('\u0000')) throw nulInside(what);
}

const nulInside = (where: string) => invalid(`${where} contains a NUL character (U+0000), which cannot be stored`);

/** Earliest and latest years accepted in a timestamp from a client. */
export const TIMESTAMP_YEARS = { min: 1900, max: 9999 } as const;

const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/;

/**
 * Parses an ISO 8601 / RFC 3339 date ("2026-12-05") or date-time ("2026-12-05T08:00:00+08:00";
 * seconds and zone optional, a space allowed for the T as PostgreSQL prints it) with a real
 * calendar date and time, in TIMESTAMP_YEARS; undefined for anything else. A date-time
 * without a zone is taken as UTC (so is a bare date), unlike `new Date`, which reads it as the
 * server's local time.
 */
export function parseTimestamp(s: string): Date | undefined {
  const m = ISO_DATE_TIME.exec(s);
  if (!m) return undefined;
  const [year, month, day, hour = 0, minute = 0, second = 0] = m.slice(1, 7).map((x) => (x === undefined ? undefined : Number(x))) as number[];
  if (year! < TIMESTAMP_YEARS.min || year! > TIMESTAMP_YEARS.max) return undefined;
  const date = new Date(Date.UTC(year!, month! - 1, day!));
  if (date.getUTCMonth() !== month! - 1 || date.getUTCDate() !== day!) return undefined; // 2026-02-30
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const zone = m[8] ?? 'Z';
  const zoneDigits = zone.slice(1).replace(':', '');
  const offset = /^[Zz]$/.test(zone) ? 0 : (zone[0] === '-' ? -1 : 1) * (Number(zoneDigits.slice(0, 2)) * 60 + Number(zoneDigits.slice(2) || 0));
  const fraction = m[7] ? Number(m[7]) : 0;
  const ms = Date.UTC(year!, month! - 1, day!, hour, minute, second) + Math.round(fraction * 1000) - offset * 60_000;
  return new Date(ms);
}
