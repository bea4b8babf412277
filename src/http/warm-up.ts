// Warms the claim-submission path before the server takes traffic.
//
// A fresh process serves its first seconds of submissions slowly: V8 is still compiling the
// hot JavaScript (HTTP, multipart, intake, group commit) and tiering PGlite's WebAssembly up,
// and those compiler threads share the machine's cores with the requests. So before it
// listens, the server sends itself submissions for a short while (3 s by default). Measured on
// the 2-core development machine (docs/service.md, session 10; alternating A/B of the `serve`
// bench with kept data folders, 8 pairs): median 675 → 775 claims/s, p99 61 → 51 ms, and the
// p99 of the load's first 2 s lower in every pair (176–252 → 106–172 ms).
//
// - Through the real route, over HTTP on a loopback port of its own (authentication,
//   multipart, the upload check and blob write on the intake threads, the group commit), for
//   an order that does not exist: each is refused with 404 by the group's read, and nothing
//   is written but the upload's one blob file (the same random bytes every time), removed at
//   the end. Real HTTP rather than `app.inject`, whose request objects have other shapes than
//   the ones the serving code will see.
// - As rehearsed group writes (submit-write.ts, rehearseClaimGroup): the real write of a
//   group of claims for an order of its own, rolled back, so no row, audit entry or job stays.
//
// Requests carry a key that exists only in memory (ClaimsService.admitTransientKey). A
// failure of the warm-up is reported and the server starts anyway: warming is an
// optimisation, never a reason not to serve.

import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import type { ClaimsService } from '../claims/service.ts';
import { claimSubmissionBody } from './claim-body.ts';
import { REHEARSAL_ROLLBACK, SUBMIT_WRITE_MODULE } from '../claims/submit-write.ts';
import { FsBlobStore, sha256Hex } from '../store/blobs.ts';
import type { Store } from '../store/index.ts';

export interface WarmUpOptions {
  /** How long to warm (default 3000 ms). */
  ms?: number;
  /** Submissions in flight at once (default 16). */
  concurrency?: number;
}

export interface WarmUpReport {
  ms: number;
  /** Submissions sent through the route, and how many were refused as expected (404). */
  requests: number;
  refused: number;
  /** Rehearsed (rolled-back) group writes. */
  groups: number;
  /** Why warming stopped early, when it did (the server starts anyway). */
  error?: string;
}

const BOUNDARY = 'claimlenswarmup9b1f3c';
const GROUP_SIZE = 8;

/** A ~200 KB JPEG of noise, different in every process (so its blob is this warm-up's own). */
async function warmUpPhoto(): Promise<Buffer> {
  const seed = randomBytes(1200 * 900 * 3);
  return sharp(seed, { raw: { width: 1200, height: 900, channels: 3 } }).blur(1.2).jpeg({ quality: 80 }).toBuffer();
}

export async function warmUpSubmissions(app: FastifyInstance, service: ClaimsService, store: Store, o: WarmUpOptions = {}): Promise<WarmUpReport> {
  const t0 = performance.now();
  const until = t0 + (o.ms ?? 3000);
  const concurrency = o.concurrency ?? 16;
  const report: WarmUpReport = { ms: 0, requests: 0, refused: 0, groups: 0 };
  let stop = false;
  const fail = (e: unknown) => {
    report.error ??= e instanceof Error ? e.message : String(e);
    stop = true;
  };
  // With blobs in S3 each upload would be an object to delete again over the network: there
  // only the database part is warmed.
  const viaRoute = store.blobs instanceof FsBlobStore;
  const key = service.admitTransientKey({ tenantId: `_warmup_${randomBytes(6).toString('hex')}`, role: 'platform', merchantId: null });
  let photo: Buffer | undefined;
  let server: Server | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });

  const submitter = async (port: number, payload: Buffer) => {
    while (!stop && performance.now() < until) {
      const status = await post(agent, port, key.key, payload);
      report.requests++;
      if (status !== 404) throw new Error(`a warm-up submission was answered ${status}, not 404`);
      report.refused++;
    }
  };
  const rehearser = async () => {
    while (!stop && performance.now() < until) {
      try {
        await store.db.transactionScript(SUBMIT_WRITE_MODULE, 'rehearseClaimGroup', GROUP_SIZE);
        throw new Error('a warm-up rehearsal was not rolled back');
      } catch (e) {
        if (!(e instanceof Error) || e.message !== REHEARSAL_ROLLBACK) throw e;
      }
      report.groups++;
    }
  };

  try {
    const tasks = [rehearser()];
    if (viaRoute) {
      photo = await warmUpPhoto();
      await app.ready();
      const s = createServer(app.routing);
      server = s;
      await new Promise<void>((res, rej) => s.once('error', rej).listen(0, '127.0.0.1', () => res()));
      const port = (s.address() as AddressInfo).port;
      const payload = claimSubmissionBody(BOUNDARY, { orderId: `_warmup_${randomBytes(6).toString('hex')}`, type: 'refund_only', reason: 'warm-up', amount: 1 }, photo);
      for (let i = 0; i < concurrency; i++) tasks.push(submitter(port, payload));
    }
    await Promise.all(tasks.map((t) => t.catch(fail)));
  } catch (e) {
    fail(e);
  } finally {
    agent.destroy();
    if (server) {
      const s = server;
      s.closeAllConnections();
      await new Promise<void>((res) => s.close(() => res()));
    }
    key.drop();
    if (photo && store.blobs instanceof FsBlobStore) {
      // The one blob file the refused submissions wrote (random bytes: no claim references it).
      await rm(store.blobs.filePath(sha256Hex(photo)), { force: true }).catch(fail);
    }
    report.ms = Math.round(performance.now() - t0);
  }
  return report;
}

/** POSTs one submission over loopback; resolves to the response's status. */
function post(agent: Agent, port: number, key: string, payload: Buffer): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/claims',
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${key}`, 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, 'content-length': payload.length },
      },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
        res.once('error', reject);
      },
    );
    req.once('error', reject);
    req.end(payload);
  });
}

/**
 * How long `claimlens serve` warms up before listening: CLAIMLENS_WARMUP_MS, default 3000;
 * 0 turns it off.
 */
export function warmUpFromEnv(env: NodeJS.ProcessEnv = process.env): { ms: number } | false {
  const v = env.CLAIMLENS_WARMUP_MS;
  const ms = v === undefined || v === '' ? 3000 : Number(v);
  if (!Number.isInteger(ms) || ms < 0) throw new Error(`CLAIMLENS_WARMUP_MS must be a whole number of milliseconds ≥ 0, not '${v}'`);
  return ms > 0 ? { ms } : false;
}
