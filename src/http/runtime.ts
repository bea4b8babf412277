// Composes the service: storage, policy, analysis pool, job runner and HTTP app.
// Used by `claimlens serve`, the tests and the benchmark.

import { availableParallelism } from 'node:os';
import v8 from 'node:v8';
import type { FastifyInstance } from 'fastify';
import { loadPolicyFile, DEFAULT_POLICY, type Policy } from '../claims/policy.ts';
import { ClaimsService, type ServiceOptions } from '../claims/service.ts';
import { AnalysisPool } from '../jobs/pool.ts';
import { IntakePool } from '../jobs/intake-pool.ts';
import { warmUpSubmissions, type WarmUpOptions, type WarmUpReport } from './warm-up.ts';
import { validateStructure, type UploadValidation } from '../forensics/structure.ts';
import { sniffFormat } from '../forensics/intake.ts';
import { JobRunner, type RunnerOptions } from '../jobs/runner.ts';
import { openStore, type Store, type StoreSettings } from '../store/index.ts';
import { scheduleNextSweep } from '../store/blob-sweep.ts';
import { FsBlobStore } from '../store/blobs.ts';
import { buildApp } from './app.ts';
import type { RateLimitOptions } from './rate-limit.ts';

export interface RuntimeOptions extends StoreSettings {
  policy?: Policy;
  policyFile?: string;
  /** Analysis worker threads (default: one per core). 0 = no pool (submission only). */
  poolSize?: number;
  /** Threads for upload intake (default: one per core; 0 = intake on the main thread). */
  intakeThreads?: number;
  /**
   * The upload check (docs/service.md, Uploads): 'structural' (default; no decode at upload,
   * the full decode in the background analysis) or 'full' (decode before the 202). Default
   * from CLAIMLENS_UPLOAD_VALIDATION when set.
   */
  uploadValidation?: UploadValidation;
  /**
   * In-process analysis gives way to uploads (default true): while multipart POSTs keep
   * arriving (one in the last 250 ms) the runner starts no analysis job, except one every 2 s;
   * the queue catches up once they stop. CLAIMLENS_ANALYSIS_DEFER=0 turns it off.
   */
  deferAnalysis?: boolean;
  /** Start the job runner in this process (default true). */
  runJobs?: boolean;
  /**
   * Time between scheduled orphan-blob sweeps, ms (src/store/blob-sweep.ts; 0 or unset: none
   * scheduled by this runtime). `claimlens serve` passes CLAIMLENS_BLOB_SWEEP_HOURS (default 24).
   */
  blobSweepIntervalMs?: number;
  runner?: RunnerOptions;
  adminToken?: string;
  logger?: boolean;
  service?: Partial<ServiceOptions>;
  /** A Server-Timing header on claim submissions (AppOptions.serverTiming; CLAIMLENS_SERVER_TIMING=1). */
  serverTiming?: boolean;
  /** Largest file of an upload (default 64 MiB) and of all files of one request (128 MiB). */
  maxFileBytes?: number;
  maxRequestBytes?: number;
  /** Most files in one upload request (default 20). */
  maxFiles?: number;
  /** Group commit of claim submissions (default true; see src/claims/submit-batch.ts). */
  groupCommit?: boolean;
  /**
   * Threads that run photo-reuse lookups once the index holds ≥ 100 000 hashes (default 0 =
   * on the main thread; `CLAIMLENS_REUSE_SEARCH_THREADS`). One keeps the ~5–10 ms of a
   * 10 M-hash lookup off the HTTP event loop; two split a photo's 8 variants and halve a
   * lookup on idle cores. Measured on the busy 2-core machine (bench/reuse.bench.ts), the hop
   * to a thread cost more than it saved: one search thread p50 7.4 / p99 15 ms against 6.5 /
   * 7.2 ms on the calling thread, two threads p99 14 ms (a lookup waits for the slower half),
   * so the default stays on the main thread.
   */
  reuseSearchThreads?: number;
  /**
   * Requests per minute per API key (default from CLAIMLENS_RATE_LIMIT, else 60 000; 0 = off),
   * counted in Redis when REDIS_URL is set (shared by all API processes), else in-process.
   */
  rateLimit?: RateLimitOptions;
  /**
   * Warm the submission path before listening (src/http/warm-up.ts): `true` for the default
   * 3 s, or its options. Off by default; `claimlens serve` turns it on (CLAIMLENS_WARMUP_MS=0
   * turns it off there).
   */
  warmUp?: boolean | WarmUpOptions;
}

export interface Runtime {
  store: Store;
  service: ClaimsService;
  app: FastifyInstance;
  runner?: JobRunner;
  pool?: AnalysisPool;
  /** Warms up first when RuntimeOptions.warmUp asks for it (its report in `warmUpReport`). */
  listen(port: number, host?: string): Promise<string>;
  warmUpReport?: WarmUpReport;
  /** When the scheduled orphan-blob sweep runs next (RuntimeOptions.blobSweepIntervalMs). */
  nextBlobSweep?: Date;
  close(): Promise<void>;
}

export async function startRuntime(o: RuntimeOptions): Promise<Runtime> {
  tuneGarbageCollector();
  // The policy is validated before anything else starts: a bad rules file stops the start.
  const policy = o.policy ?? (o.policyFile ? loadPolicyFile(o.policyFile) : DEFAULT_POLICY);
  // So are the environment's settings (RuntimeSettingError), before the store is opened: a
  // typo there must not first create and migrate a database, then fail seconds later.
  const env = runtimeSettingsFromEnv(process.env, o);
  const store = await openStore({ ...o, pgliteThread: o.pgliteThread ?? process.env.CLAIMLENS_PGLITE_THREAD !== '0' });
  const pool = o.poolSize === 0 ? undefined : new AnalysisPool(o.poolSize);
  let runner: JobRunner | undefined;
  let nextBlobSweep: Date | undefined;
  const { options: reuse, close: closeReuse } = await loadReuse(store, env.reuseSearchThreads);
  const service = new ClaimsService(store, {
    policy,
    webhookAllowPrivate: process.env.CLAIMLENS_WEBHOOK_ALLOW_PRIVATE === '1',
    pool,
    onJobsQueued: () => runner?.wake(),
    blobSweepIntervalMs: o.blobSweepIntervalMs,
    ...reuse,
    ...o.service,
  });
  let lastUploadAt = 0;
  const deferAnalysis = o.deferAnalysis ?? process.env.CLAIMLENS_ANALYSIS_DEFER !== '0';
  if (o.runJobs !== false) {
    runner = new JobRunner(store.db, service.handlers(), {
      concurrency: Math.max(4, (pool?.size ?? 1) * 2),
      ...(deferAnalysis ? { defer: { tasks: ['analyze_claim'], while: () => Date.now() - lastUploadAt < 250 } } : {}),
      ...o.runner,
    });
    runner.start();
    if (o.blobSweepIntervalMs && o.blobSweepIntervalMs > 0) nextBlobSweep = await scheduleNextSweep(store.db, o.blobSweepIntervalMs);
  }
  const uploadValidation = env.uploadValidation;
  const inlineStructural = process.env.CLAIMLENS_INTAKE_INLINE === '1';
  const intakeThreads = env.intakeThreads;
  const intakePool = intakeThreads === 0 ? undefined : new IntakePool(intakeThreads, uploadValidation);
  const fsBlobs = store.blobs instanceof FsBlobStore ? store.blobs : undefined;
  const directBlobs = process.env.CLAIMLENS_INTAKE_WRITES_BLOBS !== '0';
  const app = await buildApp(service, {
    adminToken: o.adminToken,
    logger: o.logger,
    intake: intakePool
      ? (bytes, opts) => {
          // The structural walk of a JPEG/PNG/WebP plus its SHA-256 costs ~0.4 ms on 300 KB.
          // By default it runs on an intake thread, the upload moved there and back rather than
          // copied (no copy, no garbage here); CLAIMLENS_INTAKE_INLINE=1 runs it on this thread.
          // Decodes (full mode, HEIC/AVIF) always use the pool.
          // With blobs on the file system the intake thread also writes the upload (see
          // app.ts, readUpload): the serving thread then does no file work for it at all.
          const f = uploadValidation === 'structural' && inlineStructural ? sniffFormat(bytes) : undefined;
          if (f === 'jpeg' || f === 'png' || f === 'webp') return validateStructure(bytes, opts);
          const { place, movable, ...check } = opts;
          return intakePool.intake(bytes, check, fsBlobs && directBlobs ? { ...fsBlobs.direct, place: place ?? false } : undefined, movable);
        }
      : undefined,
    adoptBlob: fsBlobs ? (tmpPath, sha) => fsBlobs.adopt(tmpPath, sha) : undefined,
    groupCommit: o.groupCommit,
    serverTiming: o.serverTiming ?? process.env.CLAIMLENS_SERVER_TIMING === '1',
    maxFileBytes: o.maxFileBytes,
    maxRequestBytes: o.maxRequestBytes,
    maxFiles: o.maxFiles,
    rateLimit: env.rateLimit,
    uploadValidation,
    onUpload: deferAnalysis && runner ? () => { lastUploadAt = Date.now(); } : undefined,
  });
  let closed = false;
  const rt: Runtime = {
    store,
    service,
    app,
    runner,
    pool,
    nextBlobSweep,
    async listen(port, host = '127.0.0.1') {
      if (o.warmUp && !rt.warmUpReport) rt.warmUpReport = await warmUpSubmissions(app, service, store, o.warmUp === true ? {} : o.warmUp);
      return app.listen({ port, host });
    },
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await runner?.stop();
      await pool?.close();
      await intakePool?.close();
      await closeReuse();
      await store.close();
    },
  };
  return rt;
}

/**
 * Every upload passes through this process as ~600 KB of ArrayBuffers (the socket's reads and
 * the file part put together), memory outside V8's heap that still counts toward when V8 runs
 * a full collection. With V8's own growing factor the old generation's limit sat ~10 % above
 * the live heap and the main isolate ran a mark-compact every 150–200 ms under upload load
 * (46–68 per 10 s run, ~1 ms of main-thread time per claim plus the concurrent marking
 * threads). Letting the heap grow to twice its live size halves the count (26–32 per run).
 * The heap here is ~30 MB live, so the cost is ~30 MB. CLAIMLENS_HEAP_GROWING=0 leaves V8's
 * default. A V8 flag is process-wide: set once, by the first runtime started. (`claimlens
 * serve` also starts node with a floor under the old generation's limit, which goes further:
 * src/cli/gc-relaunch.mjs, DEFAULT_OLD_SPACE_FLOOR_MB. This factor is what sets the limit above it.)
 */
let gcTuned = false;
function tuneGarbageCollector(): void {
  if (gcTuned || process.env.CLAIMLENS_HEAP_GROWING === '0') return;
  gcTuned = true;
  v8.setFlagsFromString('--heap-growing-percent=100');
}

/**
 * Wires the photo-reuse index (src/forensics/reuse/store.ts): the engine gets a lookup
 * that sees the claim's tenant only (plus shared fraud lists), and every analysed photo and
 * reference hash is added to the index in the analysis transaction.
 */
async function loadReuse(store: Store, searchThreads: number): Promise<{ options: Partial<ServiceOptions>; close(): Promise<void> }> {
  const reuse = await import('../forensics/reuse/store.ts');
  const index = await reuse.loadIndex(store.db, { searchThreads });
  const options: Partial<ServiceOptions> = {
    reuseFor: (tenantId) => index.forTenant(tenantId),
    onHashes: async (tx, items) => {
      await index.add(
        items.map((x) => ({ hash: x.hash, ownerType: x.ownerType, ownerId: x.ownerId, buyerId: x.buyerId ?? null, sku: x.sku ?? null, tenantId: x.tenantId })),
        tx,
      );
    },
  };
  return { options, close: () => index.close() };
}

/** A bad value in one of the environment settings read by startRuntime: a configuration error. */
export class RuntimeSettingError extends Error {
  override name = 'RuntimeSettingError';
}

/** Most intake threads CLAIMLENS_INTAKE_THREADS may ask for: each is a worker with its own heap; 100 000 hung the start. */
export const MAX_INTAKE_THREADS = 64;
/** Most reuse-search threads (the reuse index's own limit, src/forensics/reuse/store.ts). */
export const MAX_REUSE_SEARCH_THREADS = 8;

export interface RuntimeEnvSettings {
  uploadValidation: UploadValidation;
  intakeThreads: number;
  reuseSearchThreads: number;
  rateLimit: RateLimitOptions;
}

/**
 * The runtime's settings from the environment (CLAIMLENS_UPLOAD_VALIDATION,
 * CLAIMLENS_INTAKE_THREADS, CLAIMLENS_REUSE_SEARCH_THREADS, CLAIMLENS_RATE_LIMIT, REDIS_URL),
 * each only where `given` does not set it. Throws RuntimeSettingError, naming the variable and
 * the value, on the first bad one. `claimlens serve` calls it before it creates anything.
 */
export function runtimeSettingsFromEnv(env: NodeJS.ProcessEnv = process.env, given: Partial<Pick<RuntimeOptions, 'uploadValidation' | 'intakeThreads' | 'reuseSearchThreads' | 'rateLimit'>> = {}): RuntimeEnvSettings {
  return {
    uploadValidation: given.uploadValidation ?? uploadValidationFromEnv(env),
    intakeThreads: given.intakeThreads ?? envInt(env, 'CLAIMLENS_INTAKE_THREADS', availableParallelism(), MAX_INTAKE_THREADS),
    reuseSearchThreads: given.reuseSearchThreads ?? envInt(env, 'CLAIMLENS_REUSE_SEARCH_THREADS', 0, MAX_REUSE_SEARCH_THREADS),
    rateLimit: given.rateLimit ?? { max: envInt(env, 'CLAIMLENS_RATE_LIMIT', 60_000, Number.MAX_SAFE_INTEGER), redisUrl: env.REDIS_URL || undefined },
  };
}

function uploadValidationFromEnv(env: NodeJS.ProcessEnv): UploadValidation {
  const v = env.CLAIMLENS_UPLOAD_VALIDATION;
  if (v === undefined || v === '') return 'structural';
  if (v === 'full' || v === 'structural') return v;
  throw new RuntimeSettingError(`CLAIMLENS_UPLOAD_VALIDATION must be 'full' or 'structural', not '${v}'`);
}

function envInt(env: NodeJS.ProcessEnv, name: string, fallback: number, max: number): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  // digits only: Number() would also take ' 5', '0x10', '1e3' and '' as numbers
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) throw new RuntimeSettingError(`${name} must be a whole number ≥ 0, not '${v}'`);
  if (n > max) throw new RuntimeSettingError(`${name} must be at most ${max}, not '${v}'`);
  return n;
}
