// SqlClient over PGlite: PostgreSQL compiled to WebAssembly, running in this process on a
// data folder. It has a single connection, so it serves one process only (the API, its
// job runner and the demo all share it); PostgreSQL is the path for many processes.

import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import type { QueryResult, SqlClient, SqlQueryable } from './sql.ts';

export async function openPglite(dataDir: string | undefined): Promise<SqlClient> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir ?? 'memory://');
  const wrap = (q: { query: PGlite['query'] }): SqlQueryable => ({
    async query<T>(text: string, params?: unknown[]): Promise<QueryResult<T>> {
      const r = await q.query<T>(text, params as any[]);
      return { rows: r.rows };
    },
  });
  const base = wrap(db);
  return {
    kind: 'pglite',
    query: base.query,
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx as any))),
    exec: async (text) => {
      await db.exec(text);
    },
    close: () => db.close(),
  };
}
