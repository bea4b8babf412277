// SqlClient over PGlite: PostgreSQL compiled to WebAssembly, running in this process on a
// data folder. It has a single connection, so it serves one process only (the API, its
// job runner and the demo all share it); PostgreSQL is the path for many processes.

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Mutex, PGlite } from '@electric-sql/pglite';
import pgUtils from 'pg/lib/utils.js';
import { ResponseReader, encodeSimpleQuery, encodeStatement, type TypeParsers, type WireResponse, type WireValue } from './pg-wire.ts';
import { TransactionAbortedError, runTransactionScriptHere, type QueryResult, type SqlClient, type SqlQueryable } from './sql.ts';

export async function openPglite(dataDir: string | undefined): Promise<SqlClient> {
  const fresh = !dataDir || !existsSync(join(dataDir, 'PG_VERSION'));
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const template = fresh ? await templateDump() : undefined;
  const db = await PGlite.create(dataDir ?? 'memory://', template ? { loadDataDir: template } : {});
  // A new 16 MB WAL segment is otherwise written full of zeros before use, by the one thread
  // that runs every statement: under the submission benchmark's load that was one group
  // commit of 77–96 ms in each run (every request in flight waited for it; the next slowest
  // groups took 15–30 ms), against 22–38 ms with this off (docs/service.md, session 8). The
  // zeros only reserve disk space early; PGlite's file system has no fsync to make them durable
  // anyway. Per session, so it applies to every database this opens.
  await db.exec('SET wal_init_zero = off');
  // numeric (claim and order amounts) as a JS number, as the PostgreSQL client returns it
  // (postgres.ts), so both databases give rows of the same shape; PGlite's default is a string.
  db.parsers[1700] = (v: string) => Number(v);
  return pipelinedClient(db);
}

const COMMIT = encodeSimpleQuery('COMMIT');
const ROLLBACK = encodeSimpleQuery('ROLLBACK');

/**
 * The SqlClient over one PGlite instance, sending each statement as one pipelined message.
 *
 * Why not PGlite's own query() and transaction(): query() makes six calls into the WebAssembly
 * backend (parse, describe statement, bind, describe portal, execute, sync), each with its own
 * output parsing, and transaction() adds two more for BEGIN and two for COMMIT. A claim group
 * commit (BEGIN, submit_read, submit_write, COMMIT) was 16 calls. Here a statement is one call
 * (parse, bind, describe, execute and sync in one buffer; BEGIN rides with a transaction's first
 * statement) and COMMIT one more: 3 calls a group. `SELECT $1` went ~140 → ~40 µs (session 12).
 * The messages are encoded and the answers decoded by pg-wire.ts rather than PGlite's protocol
 * module, whose per-message garbage survived the minor GCs and was promoted (~40 → ~20 µs a
 * statement, and a third of the pause per minor GC; session 13): PGlite hands over its raw
 * output (execProtocolRawStream).
 *
 * Parameters are sent as text with no declared type, and the server infers each one's type
 * from the statement, exactly as node-postgres does on the PostgreSQL path: the same
 * conversion (node-postgres's prepareValue: arrays to array literals, objects to JSON, dates
 * with their offset) so both databases receive identical parameter text; bytes go in binary
 * format, as both PGlite's and node-postgres's serializers send them. Values in the rows are
 * converted by PGlite's own type parsers, so rows have the shapes PGlite's query() gave.
 *
 * One statement or transaction at a time (PGlite has one connection): `gate` queues the rest.
 * PGlite's file systems used here (the data folder, memory://) keep nothing to sync, so no
 * sync to the file system is requested between statements.
 */
function pipelinedClient(db: PGlite): SqlClient {
  const gate = new Mutex();
  // One protocol exchange at a time, also among statements of one transaction started together
  // (Promise.all): the answer of an exchange is collected in `reader` until it returns.
  const wire = new Mutex();
  const reader = new ResponseReader();
  const parsers = db.parsers as TypeParsers;
  let beginPending = false;

  function run(message: Uint8Array): Promise<WireResponse> {
    return wire.runExclusive(async () => {
      reader.reset();
      try {
        await db.execProtocolRawStream(message, { syncToFs: false, onRawData: reader.push });
      } catch (e) {
        reader.reset();
        throw e;
      }
      return reader.finish(parsers);
    });
  }

  async function statement<T>(text: string, params: unknown[] | undefined): Promise<QueryResult<T>> {
    const values = (params ?? []).map((v) => pgUtils.prepareValue(v) as WireValue);
    // BEGIN runs even when the statement after it fails (an error skips only to the Sync): the
    // transaction is then open and aborted, and transaction() below rolls it back. Taken here,
    // synchronously, so that of statements started together only the first carries it.
    const message = encodeStatement(text, values, beginPending);
    beginPending = false;
    // With BEGIN in front there are two result sets; the statement's is the last.
    return { rows: (await run(message)).rows as T[] };
  }

  const client: SqlClient = {
    kind: 'pglite',
    query: <T>(text: string, params?: unknown[]) => gate.runExclusive(() => statement<T>(text, params)),
    transaction: (fn) =>
      gate.runExclusive(async () => {
        beginPending = true;
        let closed = false;
        const tx: SqlQueryable = {
          query: <T>(text: string, params?: unknown[]) => {
            if (closed) return Promise.reject(new Error('Transaction is closed'));
            return statement<T>(text, params);
          },
        };
        let ended = false;
        try {
          const result = await fn(tx);
          closed = true;
          if (!beginPending) {
            ended = true; // a failed COMMIT ends the transaction too
            // A transaction whose failed statement was caught is aborted: its COMMIT ends in a
            // rollback, which must not pass for a commit.
            const done = await run(COMMIT);
            if (done.commands.includes('ROLLBACK')) throw new TransactionAbortedError();
          }
          return result;
        } catch (e) {
          closed = true;
          if (!beginPending && !ended) await run(ROLLBACK);
          throw e;
        } finally {
          closed = true;
          beginPending = false;
        }
      }),
    transactionScript: (url, name, arg) => runTransactionScriptHere(client, url, name, arg),
    exec: (text) =>
      gate.runExclusive(async () => {
        await db.exec(text);
      }),
    close: () => gate.runExclusive(() => db.close()),
  };
  return client;
}

/**
 * Creating a PGlite cluster runs initdb in WebAssembly (5–15 s here). When
 * CLAIMLENS_PGLITE_TEMPLATE_DIR names a folder (the tests set it), a freshly initialised
 * empty cluster is dumped there once per PGlite version and new databases start from it
 * (about 4× faster). Migrations still run on top as usual. Off by default.
 */
async function templateDump(): Promise<Blob | undefined> {
  const dir = process.env.CLAIMLENS_PGLITE_TEMPLATE_DIR;
  if (!dir) return undefined;
  const version = pgliteVersion();
  const file = join(dir, `pglite-${version}-empty.tar.gz`);
  try {
    if (existsSync(file)) return new Blob([readFileSync(file)]);
  } catch {
    // unreadable: make a new one
  }
  const db = await PGlite.create();
  const dump = await db.dumpDataDir('gzip');
  await db.close();
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, Buffer.from(await dump.arrayBuffer()), { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    // The cache is an optimisation only.
  }
  return dump;
}

function pgliteVersion(): string {
  // The package's exports hide package.json: find it above the resolved entry point.
  let d = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
  for (let i = 0; i < 5; i++, d = dirname(d)) {
    const f = join(d, 'package.json');
    if (existsSync(f)) {
      const pkg = JSON.parse(readFileSync(f, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === '@electric-sql/pglite' && pkg.version) return pkg.version;
    }
  }
  return 'unknown';
}
