// Worker-thread entry: worker threads do not inherit tsx's loader hooks, so register them
// here before loading the TypeScript worker.
import { setPriority } from 'node:os';
import { register } from 'tsx/esm/api';
register();
// Analysis is background work: it must not slow down the requests being answered. On Linux a
// nice value belongs to one thread, so this lowers this worker thread only (its JavaScript and
// WebAssembly detectors), not the process. CLAIMLENS_ANALYSIS_NICE=0 turns it off.
try {
  setPriority(0, Number(process.env.CLAIMLENS_ANALYSIS_NICE ?? 5));
} catch {
  // not permitted here: run at normal priority
}
await import('./analysis-worker.ts');
