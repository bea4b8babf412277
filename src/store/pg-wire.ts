// The few PostgreSQL wire-protocol messages the PGlite client (pglite.ts) exchanges with its
// backend, encoded and decoded here instead of by PGlite's protocol module.
//
// Why: what PGlite's protocol module allocates for each message it writes or reads survived the
// database thread's minor GCs and was copied and promoted (measured with a heap profile of the
// objects that outlive a minor GC; the likely reason is that it keeps its state in WeakMaps —
// class private fields compiled for older engines — on long-lived singletons). Measured on a loop of
// `SELECT $1` statements (session 13): each minor GC copied and promoted ~0.8 MB and paused the
// database thread ~6.6 ms; with this encoder and decoder ~0.2 MB and ~2.4 ms, and a statement
// took 19 instead of 36 µs. The database thread's pauses hold up every claim of the group
// commit it is running. Only the extended-query subset the client sends is covered (one
// unnamed statement and portal, text results) plus simple queries for COMMIT and ROLLBACK;
// everything else the backend may say is read and skipped.

import { types } from '@electric-sql/pglite';
import { DatabaseError, type DatabaseErrorFields } from './sql.ts';

/** A parameter as node-postgres's prepareValue gives it: text, raw bytes (sent in binary format), or SQL NULL. */
export type WireValue = string | Uint8Array | null;

/** Describe the unnamed portal (its RowDescription gives the result's column names and types). */
const DESCRIBE_PORTAL = Buffer.from([0x44, 0, 0, 0, 6, 0x50, 0]);
/** Execute the unnamed portal, all rows. */
const EXECUTE = Buffer.from([0x45, 0, 0, 0, 9, 0, 0, 0, 0, 0]);
const SYNC = Buffer.from([0x53, 0, 0, 0, 4]);

/** BEGIN as Parse, Bind and Execute with no Sync: it rides in front of a transaction's first statement. */
const BEGIN = (() => {
  const text = 'BEGIN';
  const parse = frame(0x50, 1 + text.length + 1 + 2, (b, o) => {
    o = b.writeUInt8(0, o);
    o += b.write(text, o, 'latin1');
    o = b.writeUInt8(0, o);
    b.writeInt16BE(0, o);
  });
  const bind = frame(0x42, 1 + 1 + 2 + 2 + 2, (b, o) => {
    b.fill(0, o, o + 8);
  });
  return Buffer.concat([parse, bind, EXECUTE]);
})();

function frame(type: number, bodyLength: number, write: (b: Buffer, at: number) => void): Buffer {
  const b = Buffer.allocUnsafe(1 + 4 + bodyLength);
  b[0] = type;
  b.writeInt32BE(4 + bodyLength, 1);
  write(b, 5);
  return b;
}

/**
 * One statement as one message: Parse (unnamed, parameter types left to the server to infer,
 * as node-postgres does), Bind (text parameters in text format, byte parameters in binary
 * format, results in text), Describe portal, Execute and Sync; with `begin`, BEGIN in front.
 */
export function encodeStatement(text: string, values: readonly WireValue[], begin: boolean): Buffer {
  const textBytes = Buffer.byteLength(text);
  const n = values.length;
  if (n > 65535) throw new RangeError(`a statement takes at most 65535 parameters, not ${n}`);
  const lengths = new Array<number>(n);
  let valueBytes = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    const len = v === null ? -1 : typeof v === 'string' ? Buffer.byteLength(v) : v.byteLength;
    lengths[i] = len;
    valueBytes += 4 + Math.max(len, 0);
  }
  const parseLen = 1 + 4 + 1 + textBytes + 1 + 2;
  const bindLen = 1 + 4 + 1 + 1 + 2 + 2 * n + 2 + valueBytes + 2;
  const head = begin ? BEGIN.length : 0;
  const total = head + parseLen + bindLen + DESCRIBE_PORTAL.length + EXECUTE.length + SYNC.length;
  const b = Buffer.allocUnsafe(total);
  let o = 0;
  if (begin) o += BEGIN.copy(b, 0);
  // Parse
  b[o++] = 0x50;
  o = b.writeInt32BE(parseLen - 1, o);
  b[o++] = 0; // unnamed statement
  o += b.write(text, o, 'utf8');
  b[o++] = 0;
  o = b.writeInt16BE(0, o); // no parameter types given
  // Bind
  b[o++] = 0x42;
  o = b.writeInt32BE(bindLen - 1, o);
  b[o++] = 0; // unnamed portal
  b[o++] = 0; // unnamed statement
  o = b.writeUInt16BE(n, o);
  for (let i = 0; i < n; i++) o = b.writeInt16BE(typeof values[i] === 'string' || values[i] === null ? 0 : 1, o);
  o = b.writeUInt16BE(n, o);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    o = b.writeInt32BE(lengths[i]!, o);
    if (v === null) continue;
    if (typeof v === 'string') o += b.write(v, o, 'utf8');
    else {
      b.set(v, o);
      o += v.byteLength;
    }
  }
  o = b.writeInt16BE(0, o); // results: all text
  o += DESCRIBE_PORTAL.copy(b, o);
  o += EXECUTE.copy(b, o);
  o += SYNC.copy(b, o);
  if (o !== total) throw new Error(`statement encoding wrote ${o} of ${total} bytes`);
  return b;
}

/** A simple query (Query message): several statements, no parameters. */
export function encodeSimpleQuery(text: string): Buffer {
  const len = Buffer.byteLength(text);
  return frame(0x51, len + 1, (b, o) => {
    o += b.write(text, o, 'utf8');
    b[o] = 0;
  });
}

/** What one exchange answered: the command tags in order and the rows of the last result set. */
export interface WireResponse {
  commands: string[];
  rows: Record<string, unknown>[];
}

/** Type parsers by type OID, as PGlite keeps them (`db.parsers`). */
export type TypeParsers = Parameters<typeof types.parseType>[2];

/** ErrorResponse field codes → DatabaseError properties (PostgreSQL docs, "Error and Notice Message Fields"). */
const ERROR_FIELDS: Record<string, keyof DatabaseErrorFields> = {
  S: 'severity',
  C: 'code',
  D: 'detail',
  H: 'hint',
  P: 'position',
  W: 'where',
  s: 'schema',
  t: 'table',
  c: 'column',
  d: 'dataType',
  n: 'constraint',
  R: 'routine',
};

/**
 * Collects the backend's output of one exchange (it arrives in pieces, as views of PGlite's
 * memory that the next write reuses, so each piece is copied at once) and decodes it. One
 * reader per client; its buffer is reused from one exchange to the next.
 */
export class ResponseReader {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private used = 0;

  /** Takes one piece of output (PGlite's onRawData callback). */
  readonly push = (piece: Uint8Array): void => {
    if (this.used + piece.length > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + piece.length));
      this.buf.copy(bigger, 0, 0, this.used);
      this.buf = bigger;
    }
    this.buf.set(piece, this.used);
    this.used += piece.length;
  };

  /** Forgets what was collected (before an exchange, and after one that threw). */
  reset(): void {
    this.used = 0;
    // A buffer grown for one large result is not kept for every exchange after it.
    if (this.buf.length > 1024 * 1024) this.buf = Buffer.allocUnsafe(64 * 1024);
  }

  /**
   * Decodes what was collected and forgets it. Throws the first ErrorResponse as a
   * DatabaseError; throws an Error on output that is not whole protocol messages.
   */
  finish(parsers: TypeParsers): WireResponse {
    const b = this.buf;
    const end = this.used;
    this.used = 0;
    const commands: string[] = [];
    let rows: Record<string, unknown>[] = [];
    let pending: Record<string, unknown>[] = [];
    let names: string[] = [];
    let typeIds: number[] = [];
    let error: DatabaseError | undefined;
    let o = 0;
    while (o < end) {
      if (end - o < 5) throw new Error('the database answered with a truncated message');
      const type = b[o]!;
      const len = b.readInt32BE(o + 1);
      const next = o + 1 + len;
      if (len < 4 || next > end) throw new Error('the database answered with a truncated message');
      let p = o + 5;
      switch (type) {
        case 0x54: {
          // RowDescription
          const count = b.readInt16BE(p);
          p += 2;
          names = new Array<string>(count);
          typeIds = new Array<number>(count);
          for (let i = 0; i < count; i++) {
            const z = b.indexOf(0, p);
            names[i] = b.toString('utf8', p, z);
            p = z + 1 + 4 + 2; // table OID, column number
            typeIds[i] = b.readInt32BE(p);
            p += 4 + 2 + 4 + 2; // type OID, type size, type modifier, format
          }
          pending = [];
          break;
        }
        case 0x44: {
          // DataRow
          const count = b.readInt16BE(p);
          p += 2;
          const row: Record<string, unknown> = {};
          for (let i = 0; i < count; i++) {
            const l = b.readInt32BE(p);
            p += 4;
            let value: unknown = null;
            if (l >= 0) {
              value = types.parseType(b.toString('utf8', p, p + l), typeIds[i]!, parsers);
              p += l;
            }
            const name = names[i] ?? `?column${i}?`;
            // A column named __proto__ must become a property, not the row's prototype.
            if (name === '__proto__') Object.defineProperty(row, name, { value, enumerable: true, writable: true, configurable: true });
            else row[name] = value;
          }
          pending.push(row);
          break;
        }
        case 0x43: {
          // CommandComplete: the result set so far is this command's.
          commands.push(b.toString('utf8', p, b.indexOf(0, p)));
          rows = pending;
          pending = [];
          break;
        }
        case 0x45: {
          // ErrorResponse: the backend then skips to the Sync; the first error is the one to throw.
          if (!error) error = readError(b, p, next);
          break;
        }
        default:
        // ParseComplete, BindComplete, NoData, EmptyQueryResponse, PortalSuspended,
        // ReadyForQuery, ParameterStatus, NoticeResponse, NotificationResponse, …
      }
      o = next;
    }
    if (error) throw error;
    return { commands, rows };
  }
}

function readError(b: Buffer, p: number, end: number): DatabaseError {
  const fields: Record<string, string> = {};
  let message = 'the database reported an error';
  while (p < end && b[p] !== 0) {
    const code = String.fromCharCode(b[p]!);
    const z = b.indexOf(0, p + 1);
    const value = b.toString('utf8', p + 1, z);
    p = z + 1;
    if (code === 'M') message = value;
    else {
      const key = ERROR_FIELDS[code];
      if (key) fields[key] = value;
    }
  }
  return new DatabaseError({ message, ...fields });
}
