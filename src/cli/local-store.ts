// Opening the data folder's store from a CLI command while no server holds it. PGlite keeps
// its folder to one process, so the command takes the folder's lock first; with PostgreSQL
// (DATABASE_URL) there is no lock. A folder held by another live process raises
// DataDirBusyError, which src/cli/main.ts reports with exit code 1; a folder that cannot be
// used (a file, no permission, or no claimlens data for a command that only reads one) raises
// DataDirUnusableError, exit code 2, before anything is created.

import { findServer, lockDataDir, type RunningServer } from '../http/admin.ts';
import { openStore, settingsFromEnv, type Store, type StoreSettings } from '../store/index.ts';
import { UsageError } from './args.ts';

export interface LocalStoreOptions {
  /**
   * Make the data folder and a new database when there is none (`keys create`, like `serve`:
   * how a fresh install starts). Off by default: the other commands refuse a folder without
   * claimlens data rather than report on an empty database made there by mistake.
   */
  create?: boolean;
  /** A pid findServer found to be no server of this folder: a lock naming it is stale. */
  stalePid?: number;
}

export async function withLocalStore<T>(settings: StoreSettings, fn: (store: Store) => Promise<T>, opts: LocalStoreOptions = {}): Promise<T> {
  const release = settings.databaseUrl ? () => {} : lockDataDir(settings.dataDir, { create: opts.create ?? false, stalePid: opts.stalePid });
  try {
    const store = await openStore(settings);
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  } finally {
    release();
  }
}

/**
 * Runs `remote` through the running server of the data folder when there is one (PGlite), else
 * `local` on the folder (or on DATABASE_URL). A stale server.json (its process gone, or its pid
 * now some other process: findServer) is set aside and the folder opened directly.
 */
export async function onDataFolder<T>(
  settings: StoreSettings,
  remote: (server: RunningServer) => Promise<T>,
  local: (store: Store) => Promise<T>,
  opts: { create?: boolean } = {},
): Promise<T> {
  if (settings.databaseUrl) return withLocalStore(settings, local, opts);
  const { server, stalePid } = await findServer(settings.dataDir);
  if (server) return remote(server);
  return withLocalStore(settings, local, { ...opts, stalePid });
}

/** The store settings for a command's --data: an empty --data (the current folder by accident) is refused. */
export function dataSettings(data: string | undefined): StoreSettings {
  if (data === '') throw new UsageError('--data must name a folder, not an empty string');
  return settingsFromEnv(data);
}
