// The thread that owns PGlite when it runs off the main thread (pglite-thread.ts). It opens
// the database with openPglite and runs what the main thread sends: single queries, exec,
// and interactive transactions whose statements arrive one message at a time.

import { parentPort, workerData } from 'node:worker_threads';
import { openPglite } from './pglite.ts';
import { DATABASE_ERROR_FIELDS, loadTransactionScript, type DatabaseErrorFields, type SqlQueryable } from './sql.ts';
import type { DbReply, DbRequest } from './pglite-thread.ts';

const port = parentPort!;
const { dataDir } = workerData as { dataDir?: string };

/** Statements of open transactions, waiting for the transaction's loop to take them. */
interface TxChannel {
  queue: DbRequest[];
  wake?: () => void;
}
const txs = new Map<number, TxChannel>();

function errorReply(id: number, e: unknown): DbReply {
  const err = (e ?? {}) as { message?: string; name?: string } & DatabaseErrorFields;
  const fields: DatabaseErrorFields = {};
  // Every field PostgreSQL gave (DatabaseError), and the code of any other error thrown here.
  for (const k of DATABASE_ERROR_FIELDS) if (typeof err[k] === 'string') fields[k] = err[k];
  return { id, ok: false, error: { message: err.message ?? String(e), name: err.name, ...fields } };
}

class Rollback extends Error {}

const db = await openPglite(dataDir).catch((e) => {
  port.postMessage({ id: 0, ok: false, error: { message: `could not open the database: ${(e as Error).message}` } } satisfies DbReply);
  process.exit(1);
});
port.postMessage({ id: 0, ok: true } satisfies DbReply);

/**
 * Runs one transaction: its statements arrive as messages, the first one (`begin`) opening
 * it, until 'commit' or 'rollback'.
 */
async function runTransaction(txId: number, opener: DbRequest): Promise<void> {
  const ch: TxChannel = { queue: [opener] };
  txs.set(txId, ch);
  let endId = 0;
  try {
    await db.transaction(async (tx: SqlQueryable) => {
      for (;;) {
        if (ch.queue.length === 0) await new Promise<void>((res) => (ch.wake = res));
        const next = ch.queue.shift()!;
        if (next.op === 'commit') {
          endId = next.id;
          return;
        }
        if (next.op === 'rollback') {
          endId = next.id;
          throw new Rollback();
        }
        if (next.op !== 'query') continue;
        try {
          const r = await tx.query(next.text, next.params);
          port.postMessage({ id: next.id, ok: true, rows: r.rows } satisfies DbReply);
        } catch (e) {
          port.postMessage(errorReply(next.id, e));
        }
      }
    });
    port.postMessage({ id: endId, ok: true } satisfies DbReply);
  } catch (e) {
    if (e instanceof Rollback) port.postMessage({ id: endId, ok: true } satisfies DbReply);
    else port.postMessage(errorReply(endId || opener.id, e));
  } finally {
    txs.delete(txId);
  }
}

port.on('message', (m: DbRequest) => {
  if (m.op === 'query' && m.begin && m.tx !== undefined) {
    void runTransaction(m.tx, m);
    return;
  }
  if (m.tx !== undefined) {
    const ch = txs.get(m.tx);
    if (!ch) {
      port.postMessage(errorReply(m.id, new Error(`transaction ${m.tx} is not open`)));
      return;
    }
    ch.queue.push(m);
    const w = ch.wake;
    ch.wake = undefined;
    w?.();
    return;
  }
  switch (m.op) {
    case 'query':
      db.query(m.text, m.params).then(
        (r) => port.postMessage({ id: m.id, ok: true, rows: r.rows } satisfies DbReply),
        (e) => port.postMessage(errorReply(m.id, e)),
      );
      return;
    case 'script':
      loadTransactionScript(m.module, m.name)
        .then((fn) => db.transaction((tx) => fn(tx, m.arg)))
        .then(
          (result) => port.postMessage({ id: m.id, ok: true, result } satisfies DbReply),
          (e) => port.postMessage(errorReply(m.id, e)),
        );
      return;
    case 'exec':
      db.exec(m.text).then(
        () => port.postMessage({ id: m.id, ok: true } satisfies DbReply),
        (e) => port.postMessage(errorReply(m.id, e)),
      );
      return;
    case 'close':
      db.close().then(
        () => {
          port.postMessage({ id: m.id, ok: true } satisfies DbReply);
          port.close();
        },
        (e) => port.postMessage(errorReply(m.id, e)),
      );
      return;
  }
});
