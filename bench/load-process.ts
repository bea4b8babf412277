// The load generator of the submission benchmark, in a process of its own. Run inside the
// server's process, autocannon shares the server's main thread (the event loop that parses
// every request and answers it), so the figure measured the two together; a separate process
// is what a real client is. The parent gives the photo as a file and gets back autocannon's
// summary, every accepted claim id (to check none is lost) and the CPU the generator used.
//
// Each request carries a different photo: the same JPEG with a counter in a comment (COM)
// segment after SOI, so each upload has its own SHA-256 and the blob store really writes and
// fsyncs a new file (with one photo for all, every blob after the first is deduplicated).

import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claimSubmissionBody } from '../src/http/claim-body.ts';

export interface LoadSpec {
  /** One URL, or several that the connections are spread over (as a load balancer would). */
  urls: string[];
  key: string;
  claim: unknown;
  photo: Buffer;
  connections: number;
  durationS: number;
  /**
   * Offered rate, requests per second: an open-loop run instead of autocannon's closed loop,
   * so the latency measured is the service's at that rate and not the queue a saturating
   * client builds. Arrivals are a Poisson process (independent buyers); latency counts from
   * each request's scheduled time, so a stalled server is not hidden by requests that were
   * sent late (coordinated omission). `connections` caps the sockets in use. (autocannon's
   * own overallRate paces each connection separately, so its connections fire together in
   * bursts: at 150/s over 64 connections that gave a p99 of 660 ms.)
   */
  rate?: number;
  /**
   * Seconds of the same load before the measured `durationS`, not counted in the latencies or
   * the rate (a fresh server and generator: JIT, WebAssembly tier-up and sockets warm up;
   * measured, the first second carried most of the tail). Their claims are still checked for
   * loss, and their latencies are reported apart (LoadResult.warmup). Not with autocannon.
   */
  warmupS?: number;
  /** Closed-loop client: our own (default; bodies renewed in place) or autocannon. */
  client?: 'own' | 'autocannon';
}

export interface LoadResult {
  acceptedIds: string[];
  p50: number;
  p99: number;
  /** Responses other than 202, connection errors and timeouts. */
  other: number;
  /** CPU (user + system) of the load generator process, ms. */
  cpuMs: number;
  /** 202s in the measured window (after the warm-up). */
  measuredAccepted?: number;
  /** Latencies of the warm-up's requests (ms), when there was one. */
  warmup?: { requests: number; p50: number; p99: number; max: number };
  /**
   * Closed-loop runs against a server that sends Server-Timing (AppOptions.serverTiming): each
   * server phase's p50/p99 (ms) over the measured requests, `outside` being the rest of each
   * request's latency (waiting to be read, the response's way back, this client), and the mean
   * of each phase over the slowest 1 % of requests (where the tail's time went).
   */
  phases?: Record<string, { p50: number; p99: number; slowestMean: number }>;
  /** Open-loop runs: more of the latency distribution (ms). */
  p90?: number;
  p999?: number;
  max?: number;
  /** Open-loop runs: wall-clock time (ms since the epoch) when the client's clock started, to line up server-side records. */
  startedAt?: number;
}

const BOUNDARY = 'claimlensbenchboundary7MA4YWxkTrZu0gW';

let photoCounter = 0;
const runTag = `${process.pid} ${Math.random().toString(36).slice(2, 10)}`;
const COUNTER_DIGITS = 12;

/**
 * A request body whose photo can be made unique again in place (UniqueBody.renew): the COM
 * segment holds a fixed-width counter, so each request rewrites 12 digits instead of building
 * a new 300 KB buffer. Building one per request cost the generator ~0.4 ms per request here
 * (two fresh 300 KB buffers, ~24 page faults), CPU taken from the server on the same 2 cores;
 * autocannon's per-request setupRequest copied the body once more.
 */
interface UniqueBody {
  body: Buffer;
  /** Gives the photo the next counter value; only while no request is sending this body. */
  renew(): void;
}

function uniqueBody(claim: unknown, photo: Buffer): UniqueBody {
  const tag = Buffer.from(`claimlens-bench ${runTag} ${'0'.repeat(COUNTER_DIGITS)}`);
  const com = Buffer.alloc(4);
  com.writeUInt16BE(0xfffe, 0);
  com.writeUInt16BE(tag.length + 2, 2);
  const body = claimSubmissionBody(BOUNDARY, claim, Buffer.concat([photo.subarray(0, 2), com, tag, photo.subarray(2)]));
  const at = body.indexOf(tag) + tag.length - COUNTER_DIGITS;
  const renew = () => {
    body.write(String(++photoCounter).padStart(COUNTER_DIGITS, '0'), at, 'latin1');
  };
  renew();
  return { body, renew };
}

/** Runs the load in a child process and waits for its result. */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'claimlens-load-'));
  try {
    const photoPath = join(dir, 'photo.jpg');
    writeFileSync(photoPath, spec.photo);
    const specPath = join(dir, 'spec.json');
    writeFileSync(specPath, JSON.stringify({ ...spec, photo: photoPath }));
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [...(process.env.CLAIMLENS_LOAD_NODE_ARGS ?? '').split(' ').filter(Boolean), '--import', 'tsx', new URL(import.meta.url).pathname], {
        env: { ...process.env, CLAIMLENS_LOAD_SPEC: specPath },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let buf = '';
      child.stdout!.on('data', (d) => (buf += d));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(buf) : reject(new Error(`load generator exited with ${code}`))));
    });
    const line = out.trim().split('\n').pop()!;
    return JSON.parse(line) as LoadResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Server-Timing's `name;dur=ms` entries (only those with a duration). */
export function parseServerTiming(header: string | string[] | undefined): Record<string, number> | undefined {
  if (!header) return undefined;
  const out: Record<string, number> = {};
  for (const entry of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const [name, ...params] = entry.trim().split(';');
    const dur = params.map((x) => x.trim()).find((x) => x.startsWith('dur='));
    if (name && dur) out[name] = Number(dur.slice(4));
  }
  return Object.keys(out).length ? out : undefined;
}

/**
 * One POST of a claim; resolves (never rejects) once the response has ended and the body has
 * been handed to the OS (an early refusal can come while the body is still being sent, and a
 * body still being sent must not be renewed), or when the request failed.
 */
function post(agent: Agent, url: URL, key: string, body: Buffer): Promise<{ status: number; id?: string; failed?: boolean; timing?: Record<string, number> }> {
  return new Promise((resolve) => {
    let sent = false;
    let answer: { status: number; id?: string; timing?: Record<string, number> } | undefined;
    const done = () => {
      if (sent && answer) resolve(answer);
    };
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${key}`, 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'content-length': body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const timing = parseServerTiming(res.headers['server-timing']);
          answer = status === 202 ? { status, id: JSON.parse(Buffer.concat(chunks).toString('utf8')).id, ...(timing ? { timing } : {}) } : { status };
          done();
        });
        res.on('error', () => resolve({ status: 0, failed: true }));
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, failed: true }));
    req.on('finish', () => {
      sent = true;
      done();
    });
    req.end(body);
  });
}

/** The q-quantile of sorted values (the value at rank ⌊q·n⌋), 0 when there are none. */
function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

function percentiles(latencies: number[]) {
  latencies.sort((a, b) => a - b);
  const pct = (q: number) => Math.round(quantile(latencies, q));
  return { p50: pct(0.5), p90: pct(0.9), p99: pct(0.99), p999: pct(0.999), max: Math.round(latencies.at(-1) ?? 0) };
}

/**
 * The closed-loop run (no LoadSpec.rate): `connections` clients, each sending its next claim
 * as soon as the last one was answered, for `durationS`; latency from send to the response's
 * end. Each client keeps one body and renews its photo in place between requests (its last
 * request has been answered, so the body is no longer being sent).
 */
async function closedLoop(spec: Omit<LoadSpec, 'photo'>, photo: Buffer): Promise<LoadResult> {
  const urls = spec.urls.map((u) => new URL(u));
  const agent = new Agent({ keepAlive: true, maxSockets: spec.connections });
  const timed: { latency: number; timing: Record<string, number> }[] = [];
  const tally = new Tally();
  const start = performance.now();
  const measureFrom = start + (spec.warmupS ?? 0) * 1000;
  const end = measureFrom + spec.durationS * 1000;
  const timeline: number[][] | undefined = process.env.CLAIMLENS_LOAD_TIMELINE ? [] : undefined;
  const client = async (i: number) => {
    const b = uniqueBody(spec.claim, photo);
    const url = urls[i % urls.length]!; // connections spread over the servers, as a load balancer would
    while (performance.now() < end) {
      const t0 = performance.now();
      const r = await post(agent, url, spec.key, b.body);
      const record = t0 >= measureFrom;
      const latency = performance.now() - t0;
      tally.add(r, latency, record);
      if (record && r.timing) timed.push({ latency, timing: r.timing });
      // [start relative to the measured window, latency, then the Server-Timing phases when sent]
      timeline?.push([Math.round(t0 - measureFrom), Math.round(latency), ...Object.values(r.timing ?? {}).map((d) => Math.round(d))]);
      if (r.failed) return; // a body whose send failed may still be referenced by its socket
      b.renew();
    }
  };
  await Promise.all(Array.from({ length: spec.connections }, (_, i) => client(i)));
  agent.destroy();
  if (timeline) writeFileSync(process.env.CLAIMLENS_LOAD_TIMELINE!, JSON.stringify(timeline));
  return { ...tally.result(), ...(timed.length ? { phases: phaseFigures(timed) } : {}) };
}

/** What a run counted, response by response (both loops). */
class Tally {
  readonly acceptedIds: string[] = [];
  readonly latencies: number[] = [];
  readonly warmup: number[] = [];
  other = 0;
  measured = 0;
  private readonly cpu0 = process.cpuUsage();

  /** One answered (or failed) request; `inWindow`: inside the measured window, not the warm-up. */
  add(r: { id?: string }, latency: number, inWindow: boolean): void {
    (inWindow ? this.latencies : this.warmup).push(latency);
    if (r.id) {
      this.acceptedIds.push(r.id);
      if (inWindow) this.measured++;
    } else this.other++;
  }

  /** The run's result; CPU counts from when the tally was made. */
  result(): LoadResult {
    const cpu = process.cpuUsage(this.cpu0);
    const w = percentiles(this.warmup);
    return {
      acceptedIds: this.acceptedIds,
      measuredAccepted: this.measured,
      ...percentiles(this.latencies),
      ...(this.warmup.length ? { warmup: { requests: this.warmup.length, p50: w.p50, p99: w.p99, max: w.max } } : {}),
      other: this.other,
      cpuMs: (cpu.user + cpu.system) / 1000,
    };
  }
}

/** LoadResult.phases from the Server-Timing of the measured requests. */
function phaseFigures(timed: { latency: number; timing: Record<string, number> }[]): NonNullable<LoadResult['phases']> {
  const names = [...new Set(timed.flatMap((t) => Object.keys(t.timing)))];
  const rows = timed.map((t) => {
    const phases: Record<string, number> = {};
    for (const n of names) phases[n] = t.timing[n] ?? 0;
    phases.outside = Math.max(0, t.latency - names.reduce((a, n) => a + phases[n]!, 0));
    return { latency: t.latency, phases };
  });
  const slowest = [...rows].sort((a, b) => b.latency - a.latency).slice(0, Math.max(1, Math.ceil(rows.length / 100)));
  const round = (x: number) => Math.round(x * 10) / 10;
  const out: NonNullable<LoadResult['phases']> = {};
  for (const n of [...names, 'outside']) {
    const v = rows.map((r) => r.phases[n]!).sort((a, b) => a - b);
    out[n] = { p50: round(quantile(v, 0.5)), p99: round(quantile(v, 0.99)), slowestMean: round(slowest.reduce((a, r) => a + r.phases[n]!, 0) / slowest.length) };
  }
  return out;
}

/**
 * The open-loop run (LoadSpec.rate). Arrivals are scheduled on the clock whatever the server
 * does; each of `connections` senders owns one socket's worth of work (one body, renewed in
 * place) and takes the oldest arrival not yet sent as soon as its last request is answered.
 * An arrival that finds every sender busy waits in a queue of timestamps, and its latency
 * still counts from its scheduled moment. The earlier version started a request, with a fresh
 * 300 KB body, for every arrival and let the HTTP agent queue it: once the server fell behind,
 * thousands of bodies piled up in the client, whose CPU rose to 3.5 ms a request (10× its
 * steady cost), taken from the server on the same two cores, and a 100 ms hiccup grew into a
 * backlog of 10 s that never drained (session 16).
 */
async function openLoop(spec: Omit<LoadSpec, 'photo'>, photo: Buffer): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: spec.connections });
  const url = new URL(spec.urls[0]!);
  // Ready before the clock starts: a body per sender built and the sockets open (one
  // GET /healthz each, at once). Without this the first requests of a fresh process waited
  // for both, and at 500/s the backlog that made outlived a 2 s warm-up (session 15).
  const bodies = Array.from({ length: spec.connections }, () => uniqueBody(spec.claim, photo));
  await Promise.all(bodies.map(() => new Promise<void>((resolve) => {
    const req = request(new URL('/healthz', url), { agent }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', () => resolve());
    req.end();
  })));
  const tally = new Tally();
  const start = performance.now();
  const startedAt = Date.now();
  const measureFrom = start + (spec.warmupS ?? 0) * 1000;
  const end = measureFrom + spec.durationS * 1000;
  const timeline: number[][] | undefined = process.env.CLAIMLENS_LOAD_TIMELINE ? [] : undefined;
  // Scheduled moments not yet sent (a ring would do; shift() on a short array is cheap).
  const due: number[] = [];
  const idle: (() => void)[] = [];
  let scheduling = true;
  const sender = async (b: UniqueBody) => {
    for (;;) {
      const scheduled = due.shift();
      if (scheduled === undefined) {
        if (!scheduling) return;
        await new Promise<void>((r) => idle.push(r));
        continue;
      }
      const record = scheduled >= measureFrom;
      const sentAt = performance.now();
      const r = await post(agent, url, spec.key, b.body);
      const latency = performance.now() - scheduled;
      // [scheduled time relative to the measured window (negative in the warm-up), latency, sent late by, then the Server-Timing phases]
      timeline?.push([Math.round(scheduled - measureFrom), Math.round(latency), Math.round(sentAt - scheduled), ...Object.values(r.timing ?? {}).map((d) => Math.round(d))]);
      tally.add(r, latency, record);
      if (r.failed) return; // a body whose send failed may still be referenced by its socket
      b.renew();
    }
  };
  const senders = bodies.map((b) => sender(b));
  let next = start;
  while (next < end) {
    // Sleeps even when the next arrival is under 1 ms away (a timer may then fire up to ~1 ms
    // late, which the latency from the scheduled moment includes): a loop that spun on the clock
    // instead cost the client ~1.1 s of CPU in a 10 s run at 500/s, taken from the server.
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // Everything due by now is queued, each with its own scheduled moment.
    while (next <= performance.now() && next < end) {
      due.push(next);
      idle.shift()?.();
      next += (-Math.log(1 - Math.random()) * 1000) / spec.rate!;
    }
  }
  scheduling = false;
  for (const wake of idle.splice(0)) wake();
  await Promise.all(senders);
  // Arrivals left unsent because every sender failed count as failures.
  tally.other += due.length;
  agent.destroy();
  if (timeline) writeFileSync(process.env.CLAIMLENS_LOAD_TIMELINE!, JSON.stringify(timeline));
  return { ...tally.result(), startedAt };
}

/** autocannon's closed loop (SUBMIT_BENCH_CLIENT=autocannon), for comparison with earlier figures. */
async function autocannonLoop(spec: Omit<LoadSpec, 'photo'>, photo: Buffer): Promise<LoadResult> {
  const { default: autocannon } = await import('autocannon');
  const acceptedIds: string[] = [];
  const cpu0 = process.cpuUsage();
  const r = await new Promise<any>((resolve, reject) => {
    autocannon(
      {
        url: (spec.urls.length === 1 ? spec.urls[0] : spec.urls) as any,
        connections: spec.connections,
        duration: spec.durationS,
        requests: [
          {
            method: 'POST',
            headers: { authorization: `Bearer ${spec.key}`, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
            // autocannon copies the body into each request it builds, so a fresh body each time
            setupRequest: (req: any) => ({ ...req, body: uniqueBody(spec.claim, photo).body }),
            onResponse: (status: number, resBody: string) => {
              if (status === 202) acceptedIds.push(JSON.parse(resBody).id);
            },
          } as any,
        ],
      },
      (err: unknown, res: unknown) => (err ? reject(err) : resolve(res)),
    );
  });
  const cpu = process.cpuUsage(cpu0);
  return { acceptedIds, p50: r.latency.p50, p99: r.latency.p99, other: r.non2xx + r.errors + r.timeouts, cpuMs: (cpu.user + cpu.system) / 1000 };
}

async function child(specPath: string): Promise<void> {
  const spec = JSON.parse(readFileSync(specPath, 'utf8')) as Omit<LoadSpec, 'photo'> & { photo: string };
  const photo = readFileSync(spec.photo);
  const run = spec.rate ? openLoop : spec.client === 'autocannon' ? autocannonLoop : closedLoop;
  process.stdout.write(`${JSON.stringify(await run(spec, photo))}\n`);
}

if (process.env.CLAIMLENS_LOAD_SPEC) await child(process.env.CLAIMLENS_LOAD_SPEC);
