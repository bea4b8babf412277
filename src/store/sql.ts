// One SQL client interface over both databases the service runs on: PGlite (embedded,
// in-process, the default) and PostgreSQL (node-postgres pool, for scale-out). The SQL
// text is the same on both; parameters use $1…$n.

export interface QueryResult<T> {
  rows: T[];
}

export interface SqlQueryable {
  query<T = any>(text: string, params?: unknown[]): Promise<QueryResult<T>>;
}

export interface SqlClient extends SqlQueryable {
  /** Runs fn inside one transaction; commits when it resolves, rolls back when it throws. */
  transaction<R>(fn: (tx: SqlQueryable) => Promise<R>): Promise<R>;
  /**
   * Runs a transaction script: export `name` of the ES module at `moduleUrl`, called as
   * `fn(tx, arg)` inside one transaction (committed when it resolves, rolled back when it
   * throws). Where the database lives on a thread of its own (PGlite's thread), the script runs
   * on that thread: one message there and one back for the whole transaction, instead of one
   * round trip per statement, each waiting for a turn of the caller's busy event loop. Elsewhere
   * it runs on the calling thread. So `arg` and the result must be plain data (structured
   * clone), the module must be light to load, and an error comes back as a DatabaseError-like
   * Error with the thrown error's message, name and code.
   */
  transactionScript<A, R>(moduleUrl: string, name: string, arg: A): Promise<R>;
  /** Runs several statements without parameters (migrations). */
  exec(text: string): Promise<void>;
  close(): Promise<void>;
  readonly kind: 'pglite' | 'postgres';
}

/**
 * An error PostgreSQL reported (an ErrorResponse), with its SQLSTATE `code` and, where the
 * server gave them, the other fields of the message. The PGlite clients throw it (in-process and
 * on its thread); the PostgreSQL client throws node-postgres's own error, which has the same
 * field names.
 */
export const DATABASE_ERROR_FIELDS = ['code', 'severity', 'detail', 'hint', 'position', 'where', 'schema', 'table', 'column', 'dataType', 'constraint', 'routine'] as const;
/** The ErrorResponse fields a DatabaseError may carry (node-postgres's names). */
export type DatabaseErrorFields = Partial<Record<(typeof DATABASE_ERROR_FIELDS)[number], string>>;

// The class has the fields of DatabaseErrorFields (declaration merging: one list, not two).
export interface DatabaseError extends DatabaseErrorFields {}
export class DatabaseError extends Error {
  constructor(e: { message: string } & DatabaseErrorFields) {
    super(e.message);
    this.name = 'DatabaseError';
    for (const k of DATABASE_ERROR_FIELDS) if (e[k] !== undefined) this[k] = e[k];
  }
}

/**
 * COMMIT ended in a rollback: a statement of the transaction had failed and its error was
 * caught, so PostgreSQL kept nothing of it. Both clients reject the transaction with this
 * rather than resolve as if it had committed. The code is PostgreSQL's name for that state.
 */
export class TransactionAbortedError extends Error {
  readonly code = '25P02';
  constructor() {
    super('the transaction was rolled back instead of committed: one of its statements had failed');
    this.name = 'TransactionAbortedError';
  }
}

export type TransactionScript<A, R> = (tx: SqlQueryable, arg: A) => Promise<R>;

const scripts = new Map<string, Promise<TransactionScript<any, any>>>();

/** Loads (once) the transaction script `name` of the module at `moduleUrl`. */
export function loadTransactionScript<A, R>(moduleUrl: string, name: string): Promise<TransactionScript<A, R>> {
  const key = `${moduleUrl}#${name}`;
  let p = scripts.get(key);
  if (!p) {
    p = import(moduleUrl).then((m: Record<string, unknown>) => {
      const fn = m[name];
      if (typeof fn !== 'function') throw new Error(`${moduleUrl} has no transaction script ${name}`);
      return fn as TransactionScript<A, R>;
    });
    p.catch(() => scripts.delete(key));
    scripts.set(key, p);
  }
  return p;
}

/** transactionScript for a client whose transactions run on the calling thread. */
export async function runTransactionScriptHere<A, R>(client: Pick<SqlClient, 'transaction'>, moduleUrl: string, name: string, arg: A): Promise<R> {
  const fn = await loadTransactionScript<A, R>(moduleUrl, name);
  return client.transaction((tx) => fn(tx, arg));
}
