// SqlClient over node-postgres: a pool of connections to a PostgreSQL server
// (DATABASE_URL). An optional schema isolates test runs and tenants of a shared server.

import pg from 'pg';
import { TransactionAbortedError, runTransactionScriptHere, type QueryResult, type SqlClient, type SqlQueryable } from './sql.ts';

// Return bigint/numeric as JS numbers and timestamps as Date, like PGlite does.
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

export interface PostgresOptions {
  url: string;
  /** Search-path schema; created when missing. */
  schema?: string;
  max?: number;
}

export async function openPostgres(opts: PostgresOptions): Promise<SqlClient> {
  const schema = opts.schema;
  if (schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema name ${schema}`);
  if (schema) {
    const boot = new pg.Client({ connectionString: opts.url });
    await boot.connect();
    try {
      await boot.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    } finally {
      await boot.end();
    }
  }
  // The search path is a connection option, so every pooled connection starts in the schema.
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.max ?? 10,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  // A pool error on an idle client (server restart) must not crash the process.
  pool.on('error', () => {});
  const wrap = (q: { query: (t: string, p?: unknown[]) => Promise<pg.QueryResult> }): SqlQueryable => ({
    async query<T>(text: string, params?: unknown[]): Promise<QueryResult<T>> {
      const r = await q.query(text, params);
      return { rows: r.rows as T[] };
    },
  });
  const client: SqlClient = {
    kind: 'postgres',
    async query<T>(text: string, params?: unknown[]) {
      const r = await pool.query(text, params as any[]);
      return { rows: r.rows as T[] };
    },
    async transaction(fn) {
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        const out = await fn(wrap(c));
        // On an aborted transaction (a failed statement whose error fn caught) PostgreSQL
        // answers COMMIT with a rollback and no error: that must not pass for a commit.
        if ((await c.query('COMMIT')).command === 'ROLLBACK') throw new TransactionAbortedError();
        return out;
      } catch (e) {
        await c.query('ROLLBACK').catch(() => {});
        throw e;
      } finally {
        c.release();
      }
    },
    async exec(text) {
      const c = await pool.connect();
      try {
        await c.query(text);
      } finally {
        c.release();
      }
    },
    transactionScript: (url, name, arg) => runTransactionScriptHere(client, url, name, arg),
    close: () => pool.end(),
  };
  return client;
}
