// Opening the data folder's store from a CLI command while no server holds it. PGlite keeps
// its folder to one process, so the command takes the folder's lock first; with PostgreSQL
// (DATABASE_URL) there is no lock. A folder held by another live process raises
// DataDirBusyError, which src/cli/main.ts reports with exit code 1.

import { lockDataDir } from '../http/admin.ts';
import { openStore, type Store, type StoreSettings } from '../store/index.ts';

export async function withLocalStore<T>(settings: StoreSettings, fn: (store: Store) => Promise<T>): Promise<T> {
  const release = settings.databaseUrl ? () => {} : lockDataDir(settings.dataDir);
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
