// Load run of claim submission: a closed-loop client (16 connections, each sending its next
// claim when the last is answered; bench/load-process.ts, in a process of its own; autocannon
// with SUBMIT_BENCH_CLIENT=autocannon) against the real HTTP server on loopback, each
// request a multipart claim carrying a real ~300 KB phone photo (from ../shared, resized;
// a counter in a JPEG comment makes every upload a new blob to write and fsync),
// on the default embedded storage (PGlite + file-system blobs) with the analysis workers
// running in the same process, as `claimlens serve` runs. Reports claims accepted per
// second, p99 submission latency, and checks that every 202 is a claim row in the database
// (submit_lost). Baseline measured in the same run: GET /healthz on the same server, and
// the intake (sniff + full decode) of the same photo alone.
//
// Runs: (1) `serve` as configured — PGlite, analysis running in-process: submit_per_s,
// submit_p99_ms; (2) API only on PGlite; (3) API only on PostgreSQL 127.0.0.1 (one
// process); (4) PostgreSQL with SUBMIT_BENCH_PROCESSES (default 2) API processes (this file
// started again as children, the client spreading connections over them). submit_lost sums
// every run. SUBMIT_BENCH_GROUP_COMMIT=0 turns group commit off (for comparison).
// SUBMIT_BENCH_VALIDATION=full|structural picks the upload check (default: the runtime's,
// structural). In-process runs also report the CPU of this whole process per accepted claim
// (the server and its threads; the client's own CPU is printed beside it), and
// the `serve` run waits for the analysis to catch up: every accepted claim must be analysed
// (submit_unanalysed, submit_catchup_s).
//
// Each closed-loop run starts with SUBMIT_BENCH_WARMUP_S (default 2) seconds of the same load
// that are not counted in submit_per_s or submit_p99_ms (a fresh server: JIT and WebAssembly
// tier-up made the first second's p99 ~200 ms); their claims are checked for loss like the
// rest, and their p99 is reported apart (submit_warmup_p99_ms).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { runLoad } from './load-process.ts';
import sharp from 'sharp';
import { intakeImage } from '../src/forensics/intake.ts';
import { startRuntime } from '../src/http/runtime.ts';
import { ClaimsService } from '../src/claims/service.ts';
import { openStore } from '../src/store/index.ts';
import { serverGcFlags } from '../src/cli/gc-relaunch.mjs';
import { warmUpFromEnv } from '../src/http/warm-up.ts';
import { median, photo12mp } from './photos.ts';

const DURATION_S = Number(process.env.SUBMIT_BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.SUBMIT_BENCH_CONNECTIONS ?? 16);
/** A second API-only run with this many connections (0 skips it). */
const FEWER_CONNECTIONS = Number(process.env.SUBMIT_BENCH_FEWER_CONNECTIONS ?? 8);
const PROCESSES = Number(process.env.SUBMIT_BENCH_PROCESSES ?? 2);
const GROUP_COMMIT = process.env.SUBMIT_BENCH_GROUP_COMMIT !== '0';
const VALIDATION = process.env.SUBMIT_BENCH_VALIDATION as 'full' | 'structural' | undefined;
/** Offered rate of the paced run (API only, PGlite); 0 skips it. */
const PACED_RATE = Number(process.env.SUBMIT_BENCH_RATE ?? 250);
/**
 * Offered rate of the paced run on the `serve` configuration, right after its closed-loop burst
 * (analysis backlog and all); 0 skips it. The default is the issue's throughput target: the
 * latency a platform sees when it sends 500 claims a second, whatever a closed loop's
 * connection count makes of the saturated p99.
 */
const SERVE_PACED_RATE = Number(process.env.SUBMIT_BENCH_SERVE_RATE ?? 500);
/** Seconds of the paced runs' warm-up at their rate (a fresh client process; not counted, its p99 printed). */
const PACED_WARMUP_S = Number(process.env.SUBMIT_BENCH_PACED_WARMUP_S ?? 2);
/** Closed-loop client: our own by default (bodies renewed in place), or autocannon as in earlier runs. */
const CLIENT = process.env.SUBMIT_BENCH_CLIENT === 'autocannon' ? 'autocannon' : 'own';
/** Seconds of load before the measured window (not with autocannon, which has none). */
const WARMUP_S = CLIENT === 'autocannon' ? 0 : Number(process.env.SUBMIT_BENCH_WARMUP_S ?? 2);
/** Longest wait for the analysis to catch up after the `serve` run's burst, and longest without progress. */
const CATCHUP_S = Number(process.env.SUBMIT_BENCH_CATCHUP_S ?? 1800);
const CATCHUP_STALL_S = Number(process.env.SUBMIT_BENCH_CATCHUP_STALL_S ?? 120);
const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A ~300 KB JPEG: the 12 MP phone-like photo scaled to 1600×1200. */
async function photo300k(): Promise<Buffer> {
  const big = await photo12mp();
  for (const q of [85, 80, 75, 70, 65]) {
    const b = await sharp(big).resize(1600, 1200).jpeg({ quality: q }).toBuffer();
    if (b.length <= 340_000) return b;
  }
  return sharp(big).resize(1280, 960).jpeg({ quality: 70 }).toBuffer();
}

/** Drops the run's schema on a fresh connection once the service is closed (says so if it cannot). */
async function dropSchema(schema: string): Promise<void> {
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: PG_URL });
  try {
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } catch (e) {
    console.log(`could not drop schema ${schema}: ${(e as Error).message}`);
  } finally {
    await c.end().catch(() => {});
  }
}

function run(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/**
 * Data folders of finished runs, removed only once every run is over. This machine's root file
 * system is ext4 without a journal, and there a new file's inode skips every inode freed in
 * the last 5–10 minutes (ext4's recently_deleted check, one inode-table lookup each): after a
 * run's ~12,000 files (blobs, fan-out folders, PGlite's) were removed, creating a file took
 * 100–900 µs of kernel time instead of ~20 (measured with perf, session 7), and the next run's
 * intake threads paid it on every blob. A server never removes its files like that; the bench
 * should not make the next run pay for its own cleanup.
 */
const removeAtEnd: string[] = [];
/**
 * SUBMIT_BENCH_KEEP_DATA=1 leaves the data folders in place (printed) for the caller to remove
 * later: alternating A/B runs, each a bench of its own, would otherwise each pay for the
 * removals of the run before.
 */
const KEEP_DATA = process.env.SUBMIT_BENCH_KEEP_DATA === '1';

export default async function (): Promise<Record<string, number>> {
  try {
    return await runAll();
  } finally {
    for (const d of removeAtEnd.splice(0)) {
      if (KEEP_DATA) console.log(`data folder kept: ${d}`);
      else rmSync(d, { recursive: true, force: true });
    }
  }
}

async function runAll(): Promise<Record<string, number>> {
  const photo = await photo300k();
  if (process.env.SUBMIT_BENCH_ONLY === 'serve') return measure(photo, 'serve'); // quick A/B of one configuration
  if (process.env.SUBMIT_BENCH_ONLY === 'api') return measure(photo, 'api');
  if (process.env.SUBMIT_BENCH_ONLY === 'pg') return measure(photo, 'pg');
  const withWorkers = await measure(photo, 'serve');
  const apiOnly = await measure(photo, 'api');
  // The same with fewer connections: the closed loop's queue (Little's law) is half as long.
  const apiFewer = FEWER_CONNECTIONS > 0 ? await measure(photo, 'api', FEWER_CONNECTIONS) : undefined;
  const skipped = (e: unknown) => {
    console.log(`PostgreSQL run skipped: ${(e as Error).message}`);
    return undefined;
  };
  const pgOnly = await measure(photo, 'pg').catch(skipped);
  const pgMulti = PROCESSES > 1 ? await measureProcesses(photo, PROCESSES).catch(skipped) : undefined;
  return {
    ...(pgOnly ? { submit_pg_api_only_per_s: pgOnly.submit_per_s!, submit_pg_api_only_p99_ms: pgOnly.submit_p99_ms! } : {}),
    ...(pgMulti ? { submit_pg_processes_per_s: pgMulti.submit_per_s!, submit_pg_processes_p99_ms: pgMulti.submit_p99_ms!, submit_pg_cpu_ms_per_claim: pgMulti.submit_cpu_ms_per_claim! } : {}),
    submit_per_s: withWorkers.submit_per_s!,
    submit_p99_ms: withWorkers.submit_p99_ms!,
    submit_lost: withWorkers.submit_lost! + (withWorkers.submit_serve_paced_lost ?? 0) + apiOnly.submit_lost! + (apiFewer?.submit_lost ?? 0) + (apiOnly.submit_paced_lost ?? 0) + (pgOnly?.submit_lost ?? 0) + (pgMulti?.submit_lost ?? 0),
    submit_errors: withWorkers.submit_errors! + apiOnly.submit_errors! + (pgOnly?.submit_errors ?? 0) + (pgMulti?.submit_errors ?? 0),
    submit_api_only_per_s: apiOnly.submit_per_s!,
    submit_api_only_p99_ms: apiOnly.submit_p99_ms!,
    ...(apiFewer ? { submit_api_only_fewer_connections: FEWER_CONNECTIONS, submit_api_only_fewer_per_s: apiFewer.submit_per_s!, submit_api_only_fewer_p99_ms: apiFewer.submit_p99_ms! } : {}),
    ...(withWorkers.submit_serve_paced_rate
      ? { submit_serve_paced_rate: withWorkers.submit_serve_paced_rate, submit_serve_paced_per_s: withWorkers.submit_serve_paced_per_s!, submit_serve_paced_p50_ms: withWorkers.submit_serve_paced_p50_ms!, submit_serve_paced_p99_ms: withWorkers.submit_serve_paced_p99_ms! }
      : {}),
    ...(apiOnly.submit_paced_rate
      ? { submit_paced_rate: apiOnly.submit_paced_rate, submit_paced_per_s: apiOnly.submit_paced_per_s!, submit_paced_p50_ms: apiOnly.submit_paced_p50_ms!, submit_paced_p99_ms: apiOnly.submit_paced_p99_ms! }
      : {}),
    submit_intake_ms: withWorkers.submit_intake_ms!,
    submit_cpu_ms_per_claim_inproc: withWorkers.submit_cpu_ms_per_claim_inproc!,
    submit_client_cpu_ms_per_claim: withWorkers.submit_client_cpu_ms_per_claim!,
    ...(withWorkers.submit_warmup_p99_ms !== undefined ? { submit_warmup_p99_ms: withWorkers.submit_warmup_p99_ms } : {}),
    ...Object.fromEntries(Object.entries(withWorkers).filter(([k]) => k.startsWith('submit_phase_'))),
    submit_api_only_cpu_ms_per_claim_inproc: apiOnly.submit_cpu_ms_per_claim_inproc!,
    submit_unanalysed: withWorkers.submit_unanalysed!,
    submit_catchup_s: withWorkers.submit_catchup_s!,
    submit_analysed_per_s: withWorkers.submit_analysed_per_s!,
    submit_healthz_per_s: withWorkers.submit_healthz_per_s!,
    submit_per_healthz: withWorkers.submit_per_healthz!,
  };
}

type Mode = 'serve' | 'api' | 'pg';

/**
 * CPU time (ms) of each thread of this process, the part of it spent in the kernel, and its
 * minor page faults (costly on some virtual machines), from /proc (Linux).
 */
function threadCpu(): Map<string, { total: number; sys: number; faults: number }> {
  const out = new Map<string, { total: number; sys: number; faults: number }>();
  try {
    for (const t of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      // Node's own threads are all called "node": the main thread is the one whose id is the
      // pid; others (libvips' workers) have names of their own.
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const name = Number(t) === process.pid ? 'main' : comm === 'node' ? `tid ${t}` : `tid ${t} (${comm})`;
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const user = (Number(f[11]) * 1000) / 100; // utime, USER_HZ = 100
      const sys = (Number(f[12]) * 1000) / 100; // stime
      const prev = out.get(name) ?? { total: 0, sys: 0, faults: 0 };
      out.set(name, { total: prev.total + user + sys, sys: prev.sys + sys, faults: prev.faults + Number(f[7]) }); // minflt
    }
  } catch {
    // not Linux: no breakdown
  }
  return out;
}

/** The busiest threads' CPU per claim between two threadCpu() readings: `name ms (kernel ms; faults)`. */
function threadCpuPerClaim(before: ReturnType<typeof threadCpu>, after: ReturnType<typeof threadCpu>, claims: number): string {
  const n = Math.max(1, claims);
  return [...after]
    .map(([name, t]) => {
      const t0 = before.get(name) ?? { total: 0, sys: 0, faults: 0 };
      return { name, ms: (t.total - t0.total) / n, sysMs: (t.sys - t0.sys) / n, faults: (t.faults - t0.faults) / n };
    })
    .filter((t) => t.ms >= 0.05)
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 14)
    .map((t) => `${t.name} ${t.ms.toFixed(2)} (${t.sysMs.toFixed(2)}; ${t.faults.toFixed(0)})`)
    .join(', ');
}

/**
 * SUBMIT_BENCH_PROFILE=FILE: a CPU profile of the server's main thread during the load only
 * (not start-up, not the data folder's removal), for chrome://inspect or a script.
 * SUBMIT_BENCH_HEAP_PROFILE=FILE: a sampling heap profile of the same thread and window that
 * keeps only the objects that survived a minor GC (see below).
 */
async function startProfile(): Promise<(() => Promise<void>) | undefined> {
  const file = process.env.SUBMIT_BENCH_PROFILE;
  const heapFile = process.env.SUBMIT_BENCH_HEAP_PROFILE;
  if (!file && !heapFile) return undefined;
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  if (file) {
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  if (heapFile) {
    // Objects that outlived a scavenge (minor GC), whether or not a later full GC freed them:
    // what the young generation copies and promotes, the cost of each scavenge pause.
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 4096,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: false,
      // Node 20's inspector types predate these two fields.
    } as import('node:inspector').HeapProfiler.StartSamplingParameterType);
  }
  return async () => {
    if (file) writeFileSync(file, JSON.stringify((await session.post('Profiler.stop')).profile));
    if (heapFile) {
      writeFileSync(heapFile, JSON.stringify((await session.post('HeapProfiler.getSamplingProfile')).profile));
      await session.post('HeapProfiler.stopSampling');
    }
    session.disconnect();
  };
}

async function measure(photo: Buffer, mode: Mode, connections = CONNECTIONS): Promise<Record<string, number>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'claimlens-bench-'));
  const workers = mode === 'serve';
  const schema = `bench_submit_${process.pid}`;
  // Every run sends Server-Timing, for the "where the time went" line.
  const common = { dataDir, groupCommit: GROUP_COMMIT, serverTiming: true, warmUp: warmUpFromEnv() };
  const rt = await startRuntime(
    mode === 'serve'
      ? { ...common, uploadValidation: VALIDATION }
      : mode === 'api'
        ? { ...common, runJobs: false, poolSize: 0, uploadValidation: VALIDATION }
        : { ...common, runJobs: false, poolSize: 0, databaseUrl: PG_URL, schema },
  );
  try {
    const url = await rt.listen(0);
    const w = rt.warmUpReport;
    console.log(w ? `server warm-up before listening (as \`claimlens serve\`): ${w.ms} ms, ${w.requests} submissions (${w.refused} refused as meant), ${w.groups} rolled-back group writes${w.error ? `; stopped early: ${w.error}` : ''}` : 'server warm-up: off (CLAIMLENS_WARMUP_MS=0)');
    const key = (await rt.service.createApiKey('bench', 'platform')).key;
    await fetch(`${url}/v1/orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'o-bench', buyerId: 'b', merchantId: 'm', sku: 'S', amount: 1000, currency: 'CNY' }),
    });
    const claim = { orderId: 'o-bench', type: 'refund_only', reason: 'bench', amount: 10 };

    // Baseline 1: intake of the same photo alone (what every submission must pay).
    const intakeTimes: number[] = [];
    for (let i = 0; i < 15; i++) {
      const t0 = performance.now();
      await intakeImage(photo, { name: 'p.jpg', contentType: 'image/jpeg' });
      intakeTimes.push(performance.now() - t0);
    }
    const intakeMs = median(intakeTimes);

    // Baseline 2: a trivial authenticated-free route on the same server.
    const health = await run({ url: `${url}/healthz`, connections: CONNECTIONS, duration: 3 });

    const before = (await rt.store.db.query('SELECT count(*)::int n FROM claims')).rows[0].n;
    // Every 202 response's claim id, to check each one is in the database afterwards.
    const cpu0 = process.cpuUsage();
    const threads0 = threadCpu();
    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    loopDelay.enable();
    const profile = await startProfile();
    const load = await runLoad({ urls: [`${url}/v1/claims`], key, claim, photo, connections, durationS: DURATION_S, client: CLIENT, warmupS: WARMUP_S });
    await profile?.();
    const acceptedIds = load.acceptedIds;
    const cpu = process.cpuUsage(cpu0);
    const threads1 = threadCpu();
    loopDelay.disable();
    const accepted = acceptedIds.length;
    const cpuPerClaim = (cpu.user + cpu.system) / 1000 / Math.max(1, accepted);
    const other = load.other;
    const rows = (await rt.store.db.query('SELECT count(*)::int n FROM claims')).rows[0].n - before;
    const found = (await rt.store.db.query('SELECT count(*)::int n FROM claims WHERE id = ANY($1::text[])', [acceptedIds])).rows[0].n;
    const perS = (load.measuredAccepted ?? accepted) / DURATION_S;
    const p99 = load.p99;
    const lost = accepted - found;
    const blobs = (await rt.store.db.query('SELECT count(*)::int n FROM blobs')).rows[0].n;
    const analysed = (await rt.store.db.query(`SELECT count(*)::int n FROM jobs WHERE task = 'analyze_claim' AND state = 'done'`)).rows[0].n;
    const groups = (rt.app as any).submitBatcher?.stats as { batches: number; claims: number } | undefined;
    console.log(
      `[${workers ? `default = serve as configured (PGlite): ${rt.pool?.size} analysis threads in-process` : 'API only: no analysis running (jobs queue up)'}; group commit ${groups ? `on, ${(groups.claims / Math.max(1, groups.batches)).toFixed(1)} claims per transaction` : 'off'}] photo ${(photo.length / 1024).toFixed(0)} KB, ${connections} connections, ${DURATION_S} s, ${mode === 'pg' ? 'PostgreSQL 127.0.0.1' : 'PGlite'} + fs blobs`,
    );
    console.log(
      `submit: ${perS.toFixed(0)} claims/s accepted (202), p50 ${load.p50} ms, p99 ${p99} ms; other responses/errors ${other}; claims in DB ${rows}, of the ${accepted} accepted ids ${found} found (lost ${lost}); ${blobs} distinct photo blobs stored; analysed meanwhile ${analysed}`,
    );
    if (load.phases) {
      const ph = Object.entries(load.phases);
      console.log(
        `where the time went (Server-Timing, ms): ${ph.map(([n, f]) => `${n} p50 ${f.p50} / p99 ${f.p99}`).join('; ')}; the slowest 1 % of requests on average: ${ph.map(([n, f]) => `${n} ${f.slowestMean}`).join(', ')}`,
      );
    }
    if (load.warmup) console.log(`warm-up (first ${WARMUP_S} s, not counted above): ${load.warmup.requests} requests, p50 ${load.warmup.p50} ms, p99 ${load.warmup.p99} ms, max ${load.warmup.max} ms`);
    // The `serve` run's paced run comes before the catch-up, so the catch-up covers its claims too.
    const servePaced = workers && SERVE_PACED_RATE > 0 ? await pacedRun(rt, url, key, claim, photo, SERVE_PACED_RATE, 'submit_serve_paced') : undefined;
    const toAnalyse = servePaced ? [...acceptedIds, ...servePaced.acceptedIds] : acceptedIds;
    let unanalysed = 0;
    let catchupS = 0;
    let analysedPerS = 0;
    if (workers) {
      // The analysis is a durable queue: it must catch up after the burst, every accepted claim analysed.
      // The wait ends when all are analysed, when none was analysed for CATCHUP_STALL_S (a stuck
      // queue), or at CATCHUP_S. Not a fixed time alone: the backlog grows with the submission
      // rate (~10,000 claims at 880/s, against ~11 analysed per second on this machine), and a
      // fixed wait turned a faster intake into "unanalysed" claims that were only still queued.
      const t0 = performance.now();
      const pending = async () => (await rt.store.db.query(`SELECT count(*)::int n FROM claims WHERE id = ANY($1::text[]) AND state IN ('submitted', 'analysing')`, [toAnalyse])).rows[0].n as number;
      const atStart = (unanalysed = await pending());
      let progressAt = t0;
      while (unanalysed > 0 && performance.now() - t0 < CATCHUP_S * 1000 && performance.now() - progressAt < CATCHUP_STALL_S * 1000) {
        await new Promise((res) => setTimeout(res, 500));
        const n = await pending();
        if (n < unanalysed) progressAt = performance.now();
        unanalysed = n;
      }
      catchupS = (performance.now() - t0) / 1000;
      analysedPerS = (atStart - unanalysed) / Math.max(0.001, catchupS);
      const why = unanalysed === 0 ? '' : performance.now() - progressAt >= CATCHUP_STALL_S * 1000 ? ` (none analysed in the last ${CATCHUP_STALL_S} s)` : ` (SUBMIT_BENCH_CATCHUP_S reached)`;
      console.log(`analysis after the burst: ${unanalysed === 0 ? `all ${toAnalyse.length} accepted claims analysed` : `${unanalysed} of ${toAnalyse.length} still not analysed${why}`} ${catchupS.toFixed(1)} s after the load stopped (${analysedPerS.toFixed(1)} claims analysed per second meanwhile)`);
    }
    console.log(`upload check ${VALIDATION ?? 'default (structural)'}; CPU per accepted claim: server ${cpuPerClaim.toFixed(1)} ms (its process, all threads), load generator ${(load.cpuMs / Math.max(1, accepted)).toFixed(1)} ms (${CLIENT === 'autocannon' ? 'autocannon' : 'closed-loop client'}, its own process)`);
    console.log(`server main thread, event-loop delay during the load: p50 ${(loopDelay.percentile(50) / 1e6).toFixed(1)} ms, p99 ${(loopDelay.percentile(99) / 1e6).toFixed(1)} ms, max ${(loopDelay.max / 1e6).toFixed(1)} ms`);
    console.log(`CPU ms per accepted claim by thread (of it in the kernel; minor page faults): ${threadCpuPerClaim(threads0, threads1, accepted)}`);
    const paced = mode === 'api' && connections === CONNECTIONS && PACED_RATE > 0 ? (await pacedRun(rt, url, key, claim, photo, PACED_RATE, 'submit_paced')).keys : undefined;
    console.log(
      `baseline: intake of the photo alone ${intakeMs.toFixed(1)} ms (p99/intake ${(p99 / intakeMs).toFixed(1)}×); GET /healthz ${health.requests.average.toFixed(0)}/s (submit/healthz ${(perS / health.requests.average).toFixed(3)})`,
    );
    return {
      submit_per_s: Math.round(perS),
      submit_p99_ms: p99,
      submit_lost: lost,
      submit_errors: other,
      submit_cpu_ms_per_claim_inproc: Math.round(cpuPerClaim * 10) / 10,
      submit_client_cpu_ms_per_claim: Math.round((load.cpuMs / Math.max(1, accepted)) * 10) / 10,
      ...(load.warmup ? { submit_warmup_p99_ms: load.warmup.p99 } : {}),
      ...Object.fromEntries(Object.entries(load.phases ?? {}).map(([n, f]) => [`submit_phase_${n}_p99_ms`, f.p99])),
      ...(workers ? { submit_unanalysed: unanalysed, submit_catchup_s: Math.round(catchupS * 10) / 10, submit_analysed_per_s: Math.round(analysedPerS * 10) / 10 } : {}),
      ...(paced ?? {}),
      ...(servePaced?.keys ?? {}),
      submit_intake_ms: Math.round(intakeMs * 10) / 10,
      submit_healthz_per_s: Math.round(health.requests.average),
      submit_per_healthz: Math.round((perS / health.requests.average) * 1000) / 1000,
    };
  } finally {
    await rt.close();
    if (mode === 'pg') await dropSchema(schema);
    removeAtEnd.push(dataDir);
  }
}

/**
 * Latency at a given offered rate (open loop, as a platform's traffic arrives) rather than at
 * saturation: the closed-loop run's p99 is mostly the queue its own 16 connections build once
 * the server is saturated (Little's law: 16 connections at 800/s is 20 ms of queue on average,
 * whatever the server does). Keys `${prefix}_rate`, `_per_s`, `_p50_ms`, `_p99_ms`, `_lost`.
 */
async function pacedRun(rt: Awaited<ReturnType<typeof startRuntime>>, url: string, key: string, claim: unknown, photo: Buffer, rate: number, prefix: string): Promise<{ keys: Record<string, number>; acceptedIds: string[] }> {
  const connections = Math.max(CONNECTIONS, 64);
  const durationS = Math.max(5, Math.round(DURATION_S * 0.8));
  const stalls = process.env.SUBMIT_BENCH_STALLS ? watchStalls() : undefined;
  const threads0 = stalls ? threadCpu() : undefined;
  const groupStats = (rt.app as any).submitBatcher?.stats as { batches: number; claims: number; ms: number } | undefined;
  const groups0 = groupStats ? { ...groupStats } : undefined;
  const load = await runLoad({ urls: [`${url}/v1/claims`], key, claim, photo, connections, durationS, rate, warmupS: PACED_WARMUP_S });
  if (groupStats && groups0) {
    const b = groupStats.batches - groups0.batches;
    console.log(`${prefix}: group commit ${((groupStats.claims - groups0.claims) / Math.max(1, b)).toFixed(2)} claims per transaction, ${((groupStats.ms - groups0.ms) / Math.max(1, b)).toFixed(2)} ms per transaction (wall, serving thread's view)`);
  }
  stalls?.(load.startedAt ?? 0);
  if (threads0) {
    const n = Math.max(1, load.acceptedIds.length);
    console.log(`paced run, CPU ms per accepted claim by thread (of it in the kernel; minor page faults): ${threadCpuPerClaim(threads0, threadCpu(), n)}; client ${(load.cpuMs / n).toFixed(2)}`);
  }
  const found = (await rt.store.db.query('SELECT count(*)::int n FROM claims WHERE id = ANY($1::text[])', [load.acceptedIds])).rows[0].n as number;
  const perS = (load.measuredAccepted ?? 0) / durationS;
  console.log(
    `${prefix}: paced run (open loop, Poisson arrivals, latency from each request's scheduled time), ${rate} claims/s offered for ${PACED_WARMUP_S} s of warm-up (p99 ${load.warmup?.p99 ?? '–'} ms, max ${load.warmup?.max ?? '–'} ms) + ${durationS} s measured, up to ${connections} connections: ${perS.toFixed(0)}/s accepted, p50 ${load.p50} ms, p90 ${load.p90} ms, p99 ${load.p99} ms, p99.9 ${load.p999} ms, max ${load.max} ms; other responses/errors ${load.other}; lost ${load.acceptedIds.length - found}`,
  );
  return {
    acceptedIds: load.acceptedIds,
    keys: {
      [`${prefix}_rate`]: rate,
      [`${prefix}_per_s`]: Math.round(perS),
      [`${prefix}_p99_ms`]: load.p99,
      [`${prefix}_p50_ms`]: load.p50,
      [`${prefix}_lost`]: load.acceptedIds.length - found,
    },
  };
}

/**
 * SUBMIT_BENCH_STALLS=1, for finding where a paced run's tail comes from: the serving thread's
 * GC pauses and event-loop stalls, and the CPU the machine and this process used in 100 ms
 * slices, each printed with its time from the client's clock start (negative: before it); with
 * it, the paced run also prints its CPU per claim by thread. Line them up with the client's
 * CLAIMLENS_LOAD_TIMELINE (scheduled time, latency, sent late by, Server-Timing phases).
 */
function watchStalls(): (origin: number) => void {
  const gcs: [number, number, number][] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push([performance.timeOrigin + e.startTime, e.duration, (e as any).detail?.kind ?? 0]);
  });
  obs.observe({ entryTypes: ['gc'] });
  const gaps: [number, number][] = [];
  let last = performance.now();
  // CPU use in 100 ms slices: the whole machine (/proc/stat, in cores) and this process (all threads).
  const cpuSlices: [number, number, number][] = [];
  const sysTicks = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return f[0]! + f[1]! + f[2]! + f[5]! + f[6]!; // user nice system irq softirq
  };
  const selfTicks = () => {
    const c = process.cpuUsage();
    return (c.user + c.system) / 10_000; // µs → ticks of 10 ms, as /proc/stat counts
  };
  let prevSys = sysTicks();
  let prevSelf = selfTicks();
  let prevAt = Date.now();
  const sampler = setInterval(() => {
    const a = sysTicks();
    const b = selfTicks();
    const now = Date.now();
    const secs = (now - prevAt) / 1000;
    cpuSlices.push([prevAt, (a - prevSys) / 100 / secs, (b - prevSelf) / 100 / secs]);
    prevSys = a;
    prevSelf = b;
    prevAt = now;
  }, 100);
  const timer = setInterval(() => {
    const now = performance.now();
    if (now - last > 20) gaps.push([performance.timeOrigin + last, now - last]);
    last = now;
  }, 2);
  return (origin) => {
    clearInterval(timer);
    clearInterval(sampler);
    obs.disconnect();
    console.log(`CPU in cores per 100 ms (ms from clock start: machine/server process): ${cpuSlices.map((c) => `${Math.round(c[0] - origin)}:${c[1].toFixed(1)}/${c[2].toFixed(1)}`).join(' ')}`);
    console.log(`serving thread GCs ≥ 5 ms (ms from clock start: duration, kind): ${gcs.filter((g) => g[1] >= 5).map((g) => `${Math.round(g[0] - origin)}:${g[1].toFixed(0)}/${g[2]}`).join(' ')}`);
    console.log(`serving thread event-loop gaps > 20 ms: ${gaps.map((g) => `${Math.round(g[0] - origin)}:${g[1].toFixed(0)}`).join(' ')}`);
  };
}

/**
 * PostgreSQL with several API processes: this file started again as children
 * (SUBMIT_BENCH_CHILD), each an API-only runtime on the same schema and blob folder,
 * autocannon spreading its connections over their URLs (as a load balancer would).
 */
async function measureProcesses(photo: Buffer, n: number): Promise<Record<string, number>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'claimlens-bench-'));
  const schema = `bench_submit_multi_${process.pid}`;
  const store = await openStore({ dataDir, databaseUrl: PG_URL, schema });
  const children: ChildProcess[] = [];
  try {
    const service = new ClaimsService(store, {});
    const key = (await service.createApiKey('bench', 'platform')).key;
    const p = (await service.authenticate(key))!;
    await store.db.transaction((tx) => service.createOrder(tx, p, { id: 'o-bench', buyerId: 'b', merchantId: 'm', sku: 'S', amount: 1000, currency: 'CNY' } as any, []));
    const urls = await Promise.all(
      Array.from({ length: n }, () =>
        new Promise<string>((resolve, reject) => {
          // API processes as `claimlens serve` would run them on this machine (its GC flags).
          const child = spawn(process.execPath, ['--import', 'tsx', ...serverGcFlags(), new URL(import.meta.url).pathname], {
            env: { ...process.env, SUBMIT_BENCH_CHILD: '1', SUBMIT_BENCH_DATA: dataDir, SUBMIT_BENCH_SCHEMA: schema },
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          children.push(child);
          let out = '';
          child.stdout!.on('data', (d) => {
            out += d;
            const m = /^listening (\S+)$/m.exec(out);
            if (m) resolve(m[1]!);
          });
          child.on('exit', (code) => reject(new Error(`API process exited (${code})`)));
        }),
      ),
    );
    const claim = { orderId: 'o-bench', type: 'refund_only', reason: 'bench', amount: 10 };
    const health = await run({ url: urls.map((u) => `${u}/healthz`) as any, connections: CONNECTIONS, duration: 3 });
    // CPU time of the API processes (all their threads), from /proc: a figure the other
    // programs on a shared machine distort much less than claims per second.
    const cpuMs = () => children.reduce((sum, c) => {
      try {
        const f = readFileSync(`/proc/${c.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        return sum + ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, USER_HZ = 100
      } catch {
        return sum;
      }
    }, 0);
    const cpu0 = cpuMs();
    const load = await runLoad({ urls: urls.map((u) => `${u}/v1/claims`), key, claim, photo, connections: CONNECTIONS, durationS: DURATION_S, client: CLIENT, warmupS: WARMUP_S });
    const acceptedIds = load.acceptedIds;
    const cpuPerClaim = (cpuMs() - cpu0) / Math.max(1, acceptedIds.length);
    const found = (await store.db.query('SELECT count(*)::int n FROM claims WHERE id = ANY($1::text[])', [acceptedIds])).rows[0].n;
    const perS = (load.measuredAccepted ?? acceptedIds.length) / DURATION_S;
    const other = load.other;
    console.log(`[PostgreSQL 127.0.0.1, ${n} API processes, group commit ${GROUP_COMMIT ? 'on' : 'off'}] photo ${(photo.length / 1024).toFixed(0)} KB, ${CONNECTIONS} connections, ${DURATION_S} s`);
    console.log(`submit: ${perS.toFixed(0)} claims/s accepted (202), p50 ${load.p50} ms, p99 ${load.p99} ms; other responses/errors ${other}; of the ${acceptedIds.length} accepted ids ${found} found (lost ${acceptedIds.length - found})`);
    console.log(`baseline: GET /healthz over the ${n} processes ${health.requests.average.toFixed(0)}/s (submit/healthz ${(perS / health.requests.average).toFixed(3)})`);
    console.log(`CPU of the API processes per accepted claim ${cpuPerClaim.toFixed(1)} ms (all threads; PostgreSQL's own CPU not included) → at most ~${(2000 / cpuPerClaim).toFixed(0)} claims/s on 2 otherwise idle cores`);
    return { submit_per_s: Math.round(perS), submit_p99_ms: load.p99, submit_lost: acceptedIds.length - found, submit_errors: other, submit_cpu_ms_per_claim: Math.round(cpuPerClaim * 10) / 10 };
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode !== null ? undefined : new Promise((res) => c.once('exit', res)))));
    await store.close();
    await dropSchema(schema);
    removeAtEnd.push(dataDir);
  }
}

if (process.env.SUBMIT_BENCH_CHILD) {
  // One API process of measureProcesses.
  const rt = await startRuntime({
    dataDir: process.env.SUBMIT_BENCH_DATA!,
    databaseUrl: PG_URL,
    schema: process.env.SUBMIT_BENCH_SCHEMA,
    runJobs: false,
    poolSize: 0,
    intakeThreads: 1,
    groupCommit: GROUP_COMMIT,
    warmUp: warmUpFromEnv(),
  });
  const url = await rt.listen(0);
  process.stdout.write(`listening ${url}\n`);
  process.on('SIGTERM', () => {
    void rt.close().finally(() => process.exit(0));
  });
}
