// A worker process for the crash-resume test: it takes the claim's analysis job, starts
// it (the claim goes to `analysing`) and then hangs until the test kills it with SIGKILL.
// Args: DATABASE_URL schema leaseMs dataDir (blobs are shared through the data folder)

import { ClaimsService } from '../../src/claims/service.ts';
import { JobRunner } from '../../src/jobs/runner.ts';
import { openStore } from '../../src/store/index.ts';
import type { AnalysisPool } from '../../src/jobs/pool.ts';

const [url, schema, lease, dataDir] = process.argv.slice(2);
const store = await openStore({ dataDir: dataDir!, databaseUrl: url!, schema: schema! });
// The engine never answers: this process dies in the middle of the analysis.
const hangingPool = { analyze: () => new Promise(() => {}) } as unknown as AnalysisPool;
const service = new ClaimsService(store, { pool: hangingPool });
const runner = new JobRunner(store.db, service.handlers(), { workerId: 'doomed', leaseMs: Number(lease), pollMs: 50, tasks: ['analyze_claim'] });
runner.start();
process.stdout.write('ready\n');
