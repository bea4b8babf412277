// SqlClient over PGlite: PostgreSQL compiled to WebAssembly, running in this process on a
// data folder. It has a single connection, so it serves one process only (the API, its
// job runner and the demo all share it); PostgreSQL is the path for many processes.

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { runTransactionScriptHere, type QueryResult, type SqlClient, type SqlQueryable } from './sql.ts';

export async function openPglite(dataDir: string | undefined): Promise<SqlClient> {
  const fresh = !dataDir || !existsSync(join(dataDir, 'PG_VERSION'));
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const template = fresh ? await templateDump() : undefined;
  const db = await PGlite.create(dataDir ?? 'memory://', template ? { loadDataDir: template } : {});
  const wrap = (q: { query: PGlite['query'] }): SqlQueryable => ({
    async query<T>(text: string, params?: unknown[]): Promise<QueryResult<T>> {
      const r = await q.query<T>(text, params as any[]);
      return { rows: r.rows };
    },
  });
  // A new 16 MB WAL segment is otherwise written full of zeros before use, by the one thread
  // that runs every statement: under the submission benchmark's load that was one group
  // commit of 77–96 ms in each run (every request in flight waited for it; the next slowest
  // groups took 15–30 ms), against 22–38 ms with this off (docs/service.md, session 8). The
  // zeros only reserve disk space early; PGlite's file system has no fsync to make them durable
  // anyway. Per session, so it applies to every database this opens.
  await db.exec('SET wal_init_zero = off');
  const base = wrap(db);
  const client: SqlClient = {
    kind: 'pglite',
    query: base.query,
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx as any))),
    transactionScript: (url, name, arg) => runTransactionScriptHere(client, url, name, arg),
    exec: async (text) => {
      await db.exec(text);
    },
    close: () => db.close(),
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
