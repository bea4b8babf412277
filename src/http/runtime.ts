// Composes the service: storage, policy, analysis pool, job runner and HTTP app.
// Used by `claimlens serve`, the tests and the benchmark.

import type { FastifyInstance } from 'fastify';
import { loadPolicyFile, DEFAULT_POLICY, type Policy } from '../claims/policy.ts';
import { ClaimsService, type ServiceOptions } from '../claims/service.ts';
import { AnalysisPool } from '../jobs/pool.ts';
import { JobRunner, type RunnerOptions } from '../jobs/runner.ts';
import { openStore, type Store, type StoreSettings } from '../store/index.ts';
import { buildApp } from './app.ts';

export interface RuntimeOptions extends StoreSettings {
  policy?: Policy;
  policyFile?: string;
  /** Analysis worker threads (default: one per core). 0 = no pool (submission only). */
  poolSize?: number;
  /** Start the job runner in this process (default true). */
  runJobs?: boolean;
  runner?: RunnerOptions;
  adminToken?: string;
  logger?: boolean;
  service?: Partial<ServiceOptions>;
}

export interface Runtime {
  store: Store;
  service: ClaimsService;
  app: FastifyInstance;
  runner?: JobRunner;
  pool?: AnalysisPool;
  listen(port: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

export async function startRuntime(o: RuntimeOptions): Promise<Runtime> {
  // The policy is validated before anything else starts: a bad rules file stops the start.
  const policy = o.policy ?? (o.policyFile ? loadPolicyFile(o.policyFile) : DEFAULT_POLICY);
  const store = await openStore(o);
  const pool = o.poolSize === 0 ? undefined : new AnalysisPool(o.poolSize);
  let runner: JobRunner | undefined;
  const reuse = await loadReuse(store);
  const service = new ClaimsService(store, {
    policy,
    pool,
    onJobsQueued: () => runner?.wake(),
    ...reuse,
    ...o.service,
  });
  if (o.runJobs !== false) {
    runner = new JobRunner(store.db, service.handlers(), {
      concurrency: Math.max(4, (pool?.size ?? 1) * 2),
      ...o.runner,
    });
    runner.start();
  }
  const app = await buildApp(service, { adminToken: o.adminToken, logger: o.logger });
  let closed = false;
  return {
    store,
    service,
    app,
    runner,
    pool,
    async listen(port, host = '127.0.0.1') {
      return app.listen({ port, host });
    },
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await runner?.stop();
      await pool?.close();
      await store.close();
    },
  };
}

/**
 * Wires the photo-reuse index when that module is present: the engine gets a lookup,
 * and every analysed photo and reference is added to the index.
 */
async function loadReuse(store: Store): Promise<Partial<ServiceOptions>> {
  let mod: any;
  try {
    mod = await import('../forensics/reuse/store.ts' as string);
  } catch {
    return {};
  }
  if (typeof mod.loadIndex !== 'function') return {};
  try {
    const index = await mod.loadIndex(store.db);
    const out: Partial<ServiceOptions> = {};
    if (typeof mod.makeReuseLookup === 'function') out.reuse = mod.makeReuseLookup(index);
    else if (index && typeof index.lookup === 'function') out.reuse = index;
    if (typeof mod.addHashes === 'function') {
      out.onHashes = async (tx, items) => {
        await mod.addHashes(tx, index, items);
      };
    }
    return out;
  } catch {
    return {};
  }
}
