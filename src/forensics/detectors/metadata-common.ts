// Helpers shared by the metadata detectors: reading text out of exifr's values, the EXIF
// UserComment with its 8-byte charset header, JPEG COM segments, and EXIF dates (which
// carry no time zone unless OffsetTime* says so).

/** A string tag value, trimmed; undefined for anything that is not text or is empty. */
export function tagText(tags: Record<string, unknown>, ...keys: string[]): string | undefined {
  for (const k of keys) {
    const v = tags[k];
    if (typeof v === 'string') {
      const t = v.replace(/\0+$/g, '').trim();
      if (t) return t;
    } else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) {
      const t = v.join('; ').trim();
      if (t) return t;
    }
  }
  return undefined;
}

/** Cuts long text for evidence so reports stay readable. */
export function clip(s: string, max = 500): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/**
 * Decodes EXIF UserComment. The first 8 bytes name the charset ("ASCII\0\0\0",
 * "UNICODE\0", "JIS\0\0\0\0\0" or 8 NULs for undefined). Chinese tools often write UTF-8
 * under the ASCII header, so ASCII is decoded as UTF-8. exifr hands it over as bytes
 * (`userComment`) or, for some files, already as text.
 */
export function userCommentText(tags: Record<string, unknown>): string | undefined {
  const v = tags['userComment'] ?? tags['UserComment'];
  if (typeof v === 'string') return v.replace(/\0+/g, '').trim() || undefined;
  if (!(v instanceof Uint8Array) || v.length === 0) return undefined;
  const header = Buffer.from(v.subarray(0, 8)).toString('latin1').replace(/\0+$/, '').toUpperCase();
  const body = v.length >= 8 && /^(ASCII|UNICODE|JIS|)$/.test(header) ? v.subarray(8) : v;
  let text: string;
  if (header === 'UNICODE') {
    // Byte order follows the TIFF header, which exifr does not pass on: guess from where
    // the zero bytes of ASCII-range characters sit.
    let evenZeros = 0;
    let oddZeros = 0;
    for (let i = 0; i + 1 < body.length && i < 200; i += 2) {
      if (body[i] === 0) evenZeros++;
      if (body[i + 1] === 0) oddZeros++;
    }
    const le = oddZeros >= evenZeros;
    const buf = Buffer.from(body);
    if (!le) {
      for (let i = 0; i + 1 < buf.length; i += 2) {
        const a = buf[i]!;
        buf[i] = buf[i + 1]!;
        buf[i + 1] = a;
      }
    }
    text = buf.toString('utf16le');
  } else {
    text = Buffer.from(body).toString('utf8');
  }
  text = text.replace(/\0+/g, '').trim();
  return text || undefined;
}

/** Text of JPEG COM segments (GIMP and some converters sign their output there). */
export function jpegComments(bytes: Uint8Array, max = 8): string[] {
  const out: string[] = [];
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return out;
  let off = 2;
  while (off + 4 <= bytes.length && out.length < max) {
    if (bytes[off] !== 0xff) break;
    const marker = bytes[off + 1]!;
    if (marker === 0xff) {
      off++;
      continue;
    }
    if (marker === 0xda || marker === 0xd9) break; // start of scan / end: no more headers
    const len = (bytes[off + 2]! << 8) | bytes[off + 3]!;
    if (len < 2 || off + 2 + len > bytes.length) break;
    if (marker === 0xfe) {
      const t = Buffer.from(bytes.subarray(off + 4, off + 2 + len)).toString('utf8').replace(/\0+/g, '').trim();
      if (t) out.push(t);
    }
    off += 2 + len;
  }
  return out;
}

export interface ExifTime {
  /** The wall-clock time written in the file, `YYYY-MM-DD HH:MM:SS`. */
  wall: string;
  /** The wall-clock reading as if it were UTC, ms (no zone applied). */
  naiveMs: number;
  /** UTC offset from OffsetTime*, minutes, when the file states it. */
  offsetMinutes?: number;
  /** The instant in UTC when the offset is known. */
  utcMs?: number;
}

/**
 * Reads an EXIF date. exifr revives EXIF's zone-less strings as local-time Dates, so we
 * take the local components back out to get the wall-clock reading regardless of the
 * process's time zone.
 */
export function exifTime(value: unknown, offset: unknown): ExifTime | undefined {
  let naiveMs: number | undefined;
  if (value instanceof Date && Number.isFinite(value.getTime())) {
    naiveMs = Date.UTC(
      value.getFullYear(),
      value.getMonth(),
      value.getDate(),
      value.getHours(),
      value.getMinutes(),
      value.getSeconds(),
    );
  } else if (typeof value === 'string') {
    const m = /^(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})/.exec(value.trim());
    if (m) naiveMs = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  }
  if (naiveMs === undefined || !Number.isFinite(naiveMs)) return undefined;
  const wall = new Date(naiveMs).toISOString().replace('T', ' ').slice(0, 19);
  const t: ExifTime = { wall, naiveMs };
  if (typeof offset === 'string') {
    const m = /^([+-])(\d{2}):?(\d{2})$/.exec(offset.trim());
    if (m) {
      t.offsetMinutes = (m[1] === '-' ? -1 : 1) * (+m[2]! * 60 + +m[3]!);
      t.utcMs = naiveMs - t.offsetMinutes * 60_000;
    }
  }
  return t;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * PNG tEXt is Latin-1 by the spec, and the reader decodes it so; Chinese tools often
 * write UTF-8 there anyway. When the Latin-1 reading is valid UTF-8 with non-ASCII
 * characters, the UTF-8 reading is the one the writer meant.
 */
export function repairUtf8(s: string): string {
  if (!/[\u0080-\u00ff]/.test(s) || /[^\u0000-\u00ff]/.test(s)) return s;
  try {
    return UTF8.decode(Buffer.from(s, 'latin1'));
  } catch {
    return s;
  }
}

/** PNG text chunks with UTF-8 written into tEXt repaired (see repairUtf8). */
export function pngTexts(pngText: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(pngText ?? {})) out[k] = repairUtf8(v);
  return out;
}
