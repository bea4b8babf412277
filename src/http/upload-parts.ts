// The parts of a multipart upload, parsed from a body already read whole, and the checks of its
// JSON parts. `POST /v1/claims`, the hot route, reads its body whole and takes it apart here;
// the other upload routes keep @fastify/multipart's `req.parts()` (app.ts, readUpload): they
// are rare, and answer the same requests the same way (test/http/claim-upload.test.ts).
//
// Why: @fastify/multipart (busboy, with a stream and an async iterator per part) cost the serving
// thread ~160 µs of CPU for a 300 KB claim, against ~220 µs for everything else an HTTP request
// costs there, and most of the objects alive at each of its minor GCs (session 13, scratch
// measurement: the same body through `req.parts()` and through a raw-body parser). busboy's
// boundary search alone took ~170 µs on a JPEG of that size; parseMultipart below, with the
// body in hand, ~40 µs.

import { ServiceError, invalid } from '../claims/errors.ts';
import { CLAIM_TYPES } from '../claims/model.ts';
import type { IntakeError } from '../forensics/errors.ts';
import { checkInputValue, checkText, parseTimestamp } from '../claims/input-checks.ts';

/** Limits on a multipart body's parts (busboy's names; the app's values are in app.ts). */
export interface MultipartLimits {
  fileSize: number;
  files: number;
  fields: number;
  fieldSize: number;
  parts: number;
}

/** A file part, read whole. */
export interface UploadPart {
  field: string;
  filename: string;
  mimetype: string;
  bytes: Buffer;
}

export const tooLarge = (message: string) => new ServiceError(413, 'too_large', message);
export const malformed = (why: string) => invalid(`the multipart body is malformed: ${why}`);

/**
 * Parses a whole multipart/form-data body (RFC 7578). Throws ServiceError: 415 when the content
 * type is not multipart with a boundary, 413 when a limit is passed (`too_large`), 400 when the
 * body is malformed or a part's name would shadow an Object property. An empty body is an empty
 * form.
 *
 * Written here rather than run through busboy: busboy searches for the boundary in JavaScript,
 * byte-wise streaming, which took ~170 µs on a 300 KB photo; with the body in hand, Buffer's
 * native indexOf finds it in ~10 µs. It reads what busboy (as @fastify/multipart runs it) reads,
 * the same way — parts without a form-data disposition or with a line break in their name are
 * skipped, a part is a file when it has a filename or is application/octet-stream, file names
 * lose their path, header values are UTF-8 — and a test compares the two on generated and
 * mutated bodies (test/http/upload-parts.test.ts).
 */
export async function parseMultipart(body: Buffer, contentType: string | undefined, limits: MultipartLimits): Promise<{ fields: Record<string, string>; files: UploadPart[]; repeated: string[] }> {
  if (!contentType || !/^multipart\/form-data\b/i.test(contentType)) {
    throw new ServiceError(415, 'unsupported_media_type', 'this route takes multipart/form-data');
  }
  const boundary = boundaryOf(contentType);
  if (!boundary) throw new ServiceError(415, 'unsupported_media_type', 'not a usable multipart content type: no boundary');
  const fields: Record<string, string> = {};
  const files: UploadPart[] = [];
  /** Text parts sent more than once (busboy, and so this parser, keeps the last). */
  const repeated: string[] = [];
  if (body.length === 0) return { fields, files, repeated };
  const dash = Buffer.from(`--${boundary}`);
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  // The first boundary opens the body or follows a preamble's line break.
  const opensWithBoundary = body.subarray(0, dash.length).equals(dash);
  let at = opensWithBoundary ? 0 : body.indexOf(delimiter);
  if (at < 0) throw malformed('no boundary found');
  if (!opensWithBoundary) at += 2; // past the preamble's line break
  let parts = 0;
  let fieldCount = 0;
  for (;;) {
    at += dash.length;
    if (body[at] === 0x2d && body[at + 1] === 0x2d) break; // the closing boundary; the epilogue is ignored
    if (at >= body.length) throw malformed('unexpected end of the body');
    // A part runs from the end of its boundary (the line break there included, as busboy
    // reads it) to the next delimiter; its headers end at its first blank line, and a part
    // whose headers never end (a damaged body) is skipped, as busboy skips it.
    const next = body.indexOf(delimiter, at);
    if (next < 0) throw malformed('unexpected end of the body');
    const headEnd = next - at >= 4 ? body.indexOf('\r\n\r\n', at) : -1;
    const headStart = at;
    at = next + 2;
    if (++parts > limits.parts) throw tooLarge(`a request may carry at most ${limits.parts} parts`);
    if (headEnd < 0 || headEnd + 4 > next) continue;
    const dataStart = headEnd + 4;
    const dataEnd = next;
    // busboy reads at most 80 KB of a part's headers and drops the rest
    const part = readPartHeaders(body.toString('latin1', headStart, Math.min(headEnd, headStart + MAX_HEADER_BYTES)));
    if (!part) continue; // not a form-data part: skipped, as busboy skips it
    const data = body.subarray(dataStart, dataEnd);
    if (part.filename !== undefined || part.type === 'application/octet-stream') {
      if (files.length === limits.files) throw tooLarge(`a request may carry at most ${limits.files} files`);
      if (data.length > limits.fileSize) throw tooLarge(`${part.filename || part.name}: a file may be at most ${limits.fileSize} bytes`);
      if (part.name in Object.prototype) throw invalid(`a part may not be named '${part.name}'`);
      files.push({ field: part.name, filename: part.filename ?? '', mimetype: part.type, bytes: data });
    } else {
      if (fieldCount++ === limits.fields) throw tooLarge(`a request may carry at most ${limits.fields} text parts`);
      if (part.name in Object.prototype) throw invalid(`a part may not be named '${part.name}'`);
      if (data.length > limits.fieldSize) throw tooLarge(`the '${part.name}' part is over ${limits.fieldSize} bytes`);
      if (Object.hasOwn(fields, part.name)) repeated.push(part.name);
      fields[part.name] = decodeText(data, part.charset);
    }
  }
  return { fields, files, repeated };
}

/** A text part sent twice: which one was meant is unknown, so neither is taken. */
export const duplicatePart = (name: string) => invalid(`the '${name}' part appears more than once`);

/** Longest file name kept with an upload, in characters (common file systems' limit). */
export const MAX_FILENAME_CHARS = 255;

/**
 * The text of a multipart body that is stored as given (part names, text values, file names,
 * declared content types) must be storable: no NUL character; file names of at most
 * MAX_FILENAME_CHARS.
 */
export function checkUploadText(fields: Record<string, string>, files: readonly { field: string; filename: string; mimetype: string }[]): void {
  for (const [name, value] of Object.entries(fields)) {
    checkText(name, 'a part name');
    checkText(value, `the '${name}' part`);
  }
  for (const f of files) {
    checkText(f.field, 'a part name');
    checkText(f.filename, `the file name of a '${f.field}' part`);
    checkText(f.mimetype, `the content type of a '${f.field}' part`);
    if (f.filename.length > MAX_FILENAME_CHARS) throw invalid(`the file name of a '${f.field}' part is longer than ${MAX_FILENAME_CHARS} characters`);
  }
}

/** busboy's limit on one part's header block. */
const MAX_HEADER_BYTES = 80 * 1024;

/**
 * The boundary parameter of a multipart content type. RFC 2046 allows 1–70 characters; like
 * busboy, a longer one is taken as it is.
 */
export function boundaryOf(contentType: string): string | undefined {
  return paramList(contentType).find((x): x is [string, string] => Array.isArray(x) && /^boundary$/i.test(x[0]))?.[1] || undefined;
}

/**
 * A part's name, file name, content type and charset from its header block (latin1 text), or
 * undefined to skip the part — busboy's reading (its HeaderParser and multipart type): header
 * names lower-cased, one space or tab after the colon dropped, a folded line appended to the
 * header before it, and reading stops at a line with a bare CR or LF or without a colon; the
 * first Content-Type and Content-Disposition count.
 */
function readPartHeaders(block: string): { name: string; filename?: string; type: string; charset: string } | undefined {
  const headers = new Map<string, string[]>();
  let last: string[] | undefined;
  let pairs = 0;
  for (let start = 0; start < block.length && pairs < 2000; ) {
    let end = block.indexOf('\r\n', start);
    if (end < 0) end = block.length;
    const line = block.slice(start, end);
    start = end + 2;
    if (line === '') continue;
    if (line.includes('\r') || line.includes('\n')) break;
    if ((line[0] === ' ' || line[0] === '\t') && last) {
      last[last.length - 1] += line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) break;
    const key = line.slice(0, colon).toLowerCase();
    const valueStart = line[colon + 1] === ' ' || line[colon + 1] === '\t' ? colon + 2 : colon + 1;
    last = headers.get(key) ?? [];
    headers.set(key, last);
    last.push(line.slice(valueStart));
    pairs++;
  }
  let type: string | undefined;
  let charset: string | undefined;
  const ct = headers.get('content-type')?.[0];
  if (ct !== undefined) {
    if (ct.length !== 0 && !/[; \t]/.test(ct)) type = ct.toLowerCase();
    else {
      const parsed = paramList(ct);
      if (typeof parsed[0] === 'string' && parsed[0]) {
        type = parsed[0].toLowerCase();
        charset = parsed.find((x): x is [string, string] => Array.isArray(x) && /^charset$/i.test(x[0]))?.[1]?.toLowerCase();
      }
    }
  }
  const disposition = headers.get('content-disposition')?.[0];
  if (disposition === undefined) return undefined;
  const parsed = paramList(disposition);
  if (typeof parsed[0] !== 'string' || !/^form-data$/i.test(parsed[0])) return undefined;
  let name: string | undefined;
  let filename: string | undefined;
  for (const x of parsed) {
    if (!Array.isArray(x)) continue;
    if (/^name$/i.test(x[0])) {
      name = x[1];
      if (name !== undefined && /[\r\n]/.test(name)) return undefined;
    } else if (/^filename$/i.test(x[0])) {
      filename = x[1];
      if (filename !== undefined && /[\r\n]/.test(filename)) return undefined;
    }
  }
  return {
    // busboy names a part without a name "undefined"; such a part is then an unexpected one
    name: name ?? 'undefined',
    ...(filename !== undefined ? { filename: baseName(filename) } : {}),
    type: type ?? 'text/plain',
    charset: charset ?? 'utf8',
  };
}

/**
 * A header value split as busboy's parseParams splits it: the text before the first `;`, then
 * `[key, value]` pairs; whitespace outside quotes dropped; in a quoted string a backslash
 * escapes a quote or a backslash and stays before anything else; `key*=charset'lang'%XX` values
 * decoded in their charset; text with bytes above 0x7F read as UTF-8.
 */
function paramList(str: string): (string | [string, string | undefined])[] {
  if (!str.includes(';')) return [utf8Text(str)];
  const res: (string | [string, string | undefined])[] = [];
  let state: 'key' | 'value' | 'charset' | 'lang' = 'key';
  let charset = '';
  let inquote = false;
  let escaping = false;
  let p = 0;
  let tmp = '';
  const finish = () => {
    if (charset) {
      if (tmp.length) tmp = decodeText(Buffer.from(tmp.replace(/%[a-fA-F0-9][a-fA-F0-9]/g, (m) => String.fromCharCode(parseInt(m.slice(1), 16))), 'latin1'), charset);
      charset = '';
    } else if (tmp.length) tmp = utf8Text(tmp);
  };
  for (let i = 0; i < str.length; ++i) {
    const char = str[i]!;
    if (char === '\\' && inquote) {
      if (escaping) escaping = false;
      else {
        escaping = true;
        continue;
      }
    } else if (char === '"') {
      if (!escaping) {
        if (inquote) {
          inquote = false;
          state = 'key';
          while (i + 1 < str.length && str[i + 1] !== ';') ++i;
        } else inquote = true;
        continue;
      } else escaping = false;
    } else {
      if (escaping && inquote) tmp += '\\';
      escaping = false;
      if ((state === 'charset' || state === 'lang') && char === "'") {
        if (state === 'charset') {
          state = 'lang';
          charset = tmp.substring(1);
        } else state = 'value';
        tmp = '';
        continue;
      } else if (state === 'key' && (char === '*' || char === '=') && res.length) {
        state = char === '*' ? 'charset' : 'value';
        res[p] = [tmp, undefined];
        tmp = '';
        continue;
      } else if (!inquote && char === ';') {
        state = 'key';
        finish();
        const cur = res[p];
        if (cur === undefined) res[p] = tmp;
        else if (Array.isArray(cur)) cur[1] = tmp;
        tmp = '';
        ++p;
        continue;
      } else if (!inquote && (char === ' ' || char === '\t')) continue;
    }
    tmp += char;
  }
  finish();
  const cur = res[p];
  if (cur === undefined) {
    if (tmp) res[p] = tmp;
  } else if (Array.isArray(cur)) cur[1] = tmp;
  return res;
}

/** Latin1 text that holds UTF-8 bytes, read as UTF-8 (header text arrives byte for byte). */
function utf8Text(text: string): string {
  return /[^\x00-\x7f]/.test(text) ? Buffer.from(text, 'latin1').toString('utf8') : text;
}

/** Bytes in a part's charset, as busboy decodes them (an unknown charset leaves them as UTF-8). */
function decodeText(bytes: Buffer, charset: string): string {
  switch (charset.toLowerCase()) {
    case 'utf-8':
    case 'utf8':
      return bytes.toString('utf8');
    case 'latin1':
    case 'ascii':
    case 'us-ascii':
    case 'iso-8859-1':
    case 'iso8859-1':
    case 'iso88591':
    case 'iso_8859-1':
    case 'windows-1252':
    case 'iso_8859-1:1987':
    case 'cp1252':
    case 'x-cp1252':
      return bytes.toString('latin1');
    case 'utf16le':
    case 'utf-16le':
    case 'ucs2':
    case 'ucs-2':
      return bytes.toString('utf16le');
    case 'base64':
      return bytes.toString('base64');
    default:
      try {
        return new TextDecoder(charset).decode(bytes);
      } catch {
        return bytes.toString('utf8');
      }
  }
}

/** A file name without its folders (busboy's rule: `.` and `..` become empty). */
function baseName(path: string): string {
  const cut = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  const base = cut >= 0 ? path.slice(cut + 1) : path;
  return base === '.' || base === '..' ? '' : base;
}

/** The claim JSON part of `POST /v1/claims`. */
export const claimJsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['orderId', 'type', 'reason', 'amount'],
  properties: {
    orderId: { type: 'string', minLength: 1, maxLength: 200 },
    type: { type: 'string', enum: [...CLAIM_TYPES] },
    reason: { type: 'string', minLength: 1, maxLength: 5000 },
    amount: { type: 'number', exclusiveMinimum: 0 },
  },
} as const;

/** Minimal JSON-schema check for multipart JSON parts (the JSON routes use Fastify's validator). */
export function checkObject(v: unknown, schema: { required: readonly string[]; properties: Record<string, any> }, what: string): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(`${what} must be a JSON object`);
  const o = v as Record<string, unknown>;
  for (const k of schema.required) if (o[k] === undefined) throw invalid(`${what}.${k} is required`);
  for (const [k, val] of Object.entries(o)) {
    const s = Object.hasOwn(schema.properties, k) ? schema.properties[k] : undefined; // not __proto__'s
    if (!s) throw invalid(`${what}.${k} is not a known field`);
    const types: string[] = Array.isArray(s.type) ? s.type : [s.type];
    const t = val === null ? 'null' : Array.isArray(val) ? 'array' : typeof val;
    if (!types.includes(t === 'number' && types.includes('integer') ? 'integer' : t)) throw invalid(`${what}.${k} must be ${types.join(' or ')}`);
    if (s.enum && !s.enum.includes(val)) throw invalid(`${what}.${k} must be one of ${s.enum.join(', ')}`);
    if (typeof val === 'string' && ((s.minLength && val.length < s.minLength) || (s.maxLength && val.length > s.maxLength))) throw invalid(`${what}.${k} has a bad length`);
    if (typeof val === 'string' && s.pattern && !new RegExp(s.pattern).test(val)) throw invalid(`${what}.${k} must match ${s.pattern}`);
    if (typeof val === 'number' && (!Number.isFinite(val) || (s.exclusiveMinimum !== undefined && val <= s.exclusiveMinimum) || (s.minimum !== undefined && val < s.minimum))) throw invalid(`${what}.${k} is out of range`);
    if (s.format === 'date-time' && typeof val === 'string' && parseTimestamp(val) === undefined) throw invalid(`${what}.${k} must be a date-time`);
  }
}

/** The JSON part `name` of a multipart body, parsed. */
export function jsonField(fields: Record<string, string>, name: string): unknown {
  const v = fields[name];
  if (v === undefined) throw invalid(`the '${name}' part (JSON) is required`);
  let value: unknown;
  try {
    value = JSON.parse(v);
  } catch {
    throw invalid(`the '${name}' part is not valid JSON`);
  }
  checkInputValue(value, name);
  return value;
}

/** The `claim` part of a claim submission, parsed and checked. */
export function claimFromFields(fields: Record<string, string>): { orderId: string; type: (typeof CLAIM_TYPES)[number]; reason: string; amount: number } {
  const claim = jsonField(fields, 'claim');
  checkObject(claim, claimJsonSchema, 'claim');
  return claim as ReturnType<typeof claimFromFields>;
}

/** The file parts must all be named one of `allowed`. */
export function checkFileFields(files: readonly { field: string }[], allowed: readonly string[]): void {
  for (const f of files) {
    if (!allowed.includes(f.field)) throw invalid(`unexpected file part '${f.field}'; expected ${allowed.join(' or ')}`);
  }
}

/** HTTP status of each intake refusal. */
export const INTAKE_STATUS: Record<string, number> = {
  empty_file: 400,
  too_large: 413,
  unsupported_format: 415,
  format_mismatch: 415,
  pixel_limit: 413,
  truncated: 422,
  corrupt: 422,
  decode_timeout: 422,
  read_failed: 400,
};

/** An intake refusal of one file of a request, as the API answers it. */
export function intakeRefusal(e: IntakeError, f: { filename: string; field: string }): ServiceError {
  return new ServiceError(INTAKE_STATUS[e.code] ?? 422, e.code, `${f.filename || f.field}: ${e.message}`, { file: f.filename });
}

/** A part's declared content type, unless it is the generic one that says nothing. */
export function declaredType(mimetype: string): string | undefined {
  return mimetype && mimetype !== 'application/octet-stream' ? mimetype : undefined;
}
