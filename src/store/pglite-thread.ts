// PGlite on a thread of its own. PGlite is PostgreSQL compiled to WebAssembly: every
// statement runs synchronously on the thread that owns it. In the server that thread was the
// one that also parses every HTTP request, so under load the database and the API took turns
// on one core (~3–4 ms per claim of WebAssembly and file-system glue). Here a worker thread
// owns the database and the main thread sends it statements; a transaction's statements are
// sent one at a time and run inside one PGlite transaction on the worker, so the SqlClient
// contract (interactive transactions, one connection, statements serialised) is unchanged.
//
// A transaction script (SqlClient.transactionScript) goes as one message and runs entirely
// on the database thread, so a transaction costs the serving thread one hop, not one per
// statement.
//
// Rows and parameters cross the thread by structured clone: strings, numbers, booleans,
// null, Date, Uint8Array, bigint and plain objects arrive as they left. Errors keep their
// message and PostgreSQL's code/detail/constraint.

import { Worker } from 'node:worker_threads';
import { DatabaseError, type DatabaseErrorFields, type QueryResult, type SqlClient, type SqlQueryable } from './sql.ts';

/** Errors from the database thread arrive as this, with PostgreSQL's fields when there were some. */
export { DatabaseError };

export type DbRequest =
  /** `begin`: the first statement of transaction `tx`, which it opens. */
  | { id: number; op: 'query'; text: string; params?: unknown[]; tx?: number; begin?: boolean }
  | { id: number; op: 'exec'; text: string; tx?: undefined }
  /** A whole transaction run on the thread (SqlClient.transactionScript). */
  | { id: number; op: 'script'; module: string; name: string; arg: unknown; tx?: undefined }
  | { id: number; op: 'commit'; tx: number }
  | { id: number; op: 'rollback'; tx: number }
  | { id: number; op: 'close'; tx?: undefined };

export type DbReply =
  | { id: number; ok: true; rows?: unknown[]; result?: unknown }
  | { id: number; ok: false; error: { message: string; name?: string } & DatabaseErrorFields };

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export async function openPgliteThread(dataDir: string | undefined): Promise<SqlClient> {
  const worker = new Worker(new URL('./pglite-thread.mjs', import.meta.url), { workerData: { dataDir } });
  const pending = new Map<number, { resolve: (reply: Extract<DbReply, { ok: true }>) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let nextTx = 1;
  let dead: Error | undefined;

  const ready = new Promise<void>((resolve, reject) => {
    pending.set(0, { resolve: () => resolve(), reject });
  });
  worker.on('message', (m: DbReply) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m);
    else p.reject(new DatabaseError(m.error));
  });
  const fail = (e: Error) => {
    dead ??= e;
    for (const p of pending.values()) p.reject(dead);
    pending.clear();
  };
  // A reply that cannot be unpacked on this thread (a jsonb value nested thousands deep runs
  // structured clone out of stack here, though it packed on the database thread) arrives as
  // this event, which does not say which call it answers. Every call in flight is failed
  // rather than one left waiting forever: an interactive transaction's caller then rolls it
  // back, where it would have stayed open and held up every later statement.
  worker.on('messageerror', (e) => {
    const error = new Error(`a reply of the database thread could not be read: ${e.message}`);
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  });
  worker.on('error', (e) => fail(new Error(`database thread failed: ${e.message}`)));
  worker.on('exit', (code) => fail(new Error(`database thread exited (${code})`)));
  await ready;

  const send = (req: WithoutId<DbRequest>): Promise<Extract<DbReply, { ok: true }>> => {
    if (dead) return Promise.reject(dead);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...req, id } as DbRequest);
    });
  };

  const query = async <T>(text: string, params?: unknown[], tx?: number, begin?: boolean): Promise<QueryResult<T>> => {
    const { rows } = await send({ op: 'query', text, params, tx, ...(begin ? { begin } : {}) });
    return { rows: (rows ?? []) as T[] };
  };

  return {
    kind: 'pglite',
    query: (text, params) => query(text, params),
    async transaction<R>(fn: (tx: SqlQueryable) => Promise<R>): Promise<R> {
      const tx = nextTx++;
      // The transaction starts with its first statement (one message, not two: each round
      // trip waits for a turn of the busy serving thread's event loop).
      let begun = false;
      let result: R;
      try {
        result = await fn({
          query: (text, params) => {
            const first = !begun;
            begun = true;
            return query(text, params, tx, first);
          },
        });
      } catch (e) {
        if (begun) await send({ op: 'rollback', tx }).catch(() => {});
        throw e;
      }
      if (begun) await send({ op: 'commit', tx });
      return result;
    },
    async transactionScript<A, R>(module: string, name: string, arg: A): Promise<R> {
      return (await send({ op: 'script', module, name, arg })).result as R;
    },
    async exec(text) {
      await send({ op: 'exec', text });
    },
    async close() {
      if (dead) return;
      await send({ op: 'close' }).catch(() => {});
      await worker.terminate();
    },
  };
}
