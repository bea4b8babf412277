// Worker-thread entry for PGlite on its own thread (see pglite-thread.ts): registers tsx's
// loader hooks, which worker threads do not inherit, before loading the TypeScript worker.
import { register } from 'tsx/esm/api';
register();
await import('./pglite-thread-worker.ts');
