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
  /** Runs several statements without parameters (migrations). */
  exec(text: string): Promise<void>;
  close(): Promise<void>;
  readonly kind: 'pglite' | 'postgres';
}
