// Opens the service's storage from settings: PGlite in the data folder by default,
// PostgreSQL with DATABASE_URL; blobs in DATA/blobs, or in S3 with S3_BUCKET set.

import { join, resolve } from 'node:path';
import { FsBlobStore, S3BlobStore, s3SettingsFromEnv, type BlobStore } from './blobs.ts';
import { migrate, type SchemaHook } from './migrations.ts';
import { openPgliteThread } from './pglite-thread.ts';
import { openPostgres } from './postgres.ts';
import type { SqlClient } from './sql.ts';

export type { SqlClient, SqlQueryable } from './sql.ts';
export type { BlobStore } from './blobs.ts';

export interface StoreSettings {
  /** Data folder (PGlite database, file-system blobs, admin files). */
  dataDir: string;
  /** PostgreSQL connection string; PGlite when absent. */
  databaseUrl?: string;
  /** PostgreSQL schema to use (tests use one per run). */
  schema?: string;
  /** PGlite in memory (tests). */
  memory?: boolean;
  hooks?: SchemaHook[];
  /**
   * PGlite on a worker thread of its own instead of the calling thread (src/store/pglite-thread.ts).
   * The server turns it on; CLI commands and tests that open a store directly keep it in-process.
   */
  pgliteThread?: boolean;
}

export interface Store {
  db: SqlClient;
  blobs: BlobStore;
  dataDir: string;
  close(): Promise<void>;
}

export const DEFAULT_DATA_DIR = '.claimlens';

export function settingsFromEnv(dataDir: string | undefined, env: NodeJS.ProcessEnv = process.env): StoreSettings {
  return {
    dataDir: resolve(dataDir ?? env.CLAIMLENS_DATA ?? DEFAULT_DATA_DIR),
    databaseUrl: env.DATABASE_URL || undefined,
    schema: env.DATABASE_SCHEMA || undefined,
  };
}

export async function openStore(s: StoreSettings): Promise<Store> {
  const db = s.databaseUrl
    ? await openPostgres({ url: s.databaseUrl, schema: s.schema })
    : s.pgliteThread
      ? await openPgliteThread(s.memory ? undefined : join(s.dataDir, 'pgdata'))
      : // Loaded only here: a server runs PGlite on its own thread, and its main thread then
        // never holds PGlite's JavaScript, source map and code (its live heap after start went
        // 24.1 → 20.0 MB, session 11).
        await (await import('./pglite.ts')).openPglite(s.memory ? undefined : join(s.dataDir, 'pgdata'));
  try {
    await migrate(db, s.hooks ?? (await defaultHooks()));
  } catch (e) {
    await db.close().catch(() => {});
    throw e;
  }
  const s3 = s3SettingsFromEnv();
  const fsyncEnv = process.env.CLAIMLENS_BLOB_FSYNC;
  const fsync = fsyncEnv === '1' ? true : fsyncEnv === '0' ? false : Boolean(s.databaseUrl); // see blobs.ts
  const blobs = s3 ? new S3BlobStore(s3) : new FsBlobStore(join(s.dataDir, 'blobs'), { fsync, directWrites: process.env.CLAIMLENS_BLOB_DIRECT !== '0' });
  return { db, blobs, dataDir: s.dataDir, close: () => db.close() };
}

/** Schema functions of modules that keep their tables in the same database. */
export async function defaultHooks(): Promise<SchemaHook[]> {
  const reuse = await import('../forensics/reuse/store.ts');
  return [(db) => reuse.ensureReuseSchema(db)];
}
