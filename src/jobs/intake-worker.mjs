// Worker-thread entry for upload intake (see intake-pool.ts): registers tsx's loader hooks,
// which worker threads do not inherit, before loading the TypeScript worker.
import { register } from 'tsx/esm/api';
register();
await import('./intake-worker.ts');
