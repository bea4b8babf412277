// Load run of claim submission: autocannon against the real HTTP server on loopback, each
// request a multipart claim carrying a real ~300 KB phone photo (from ../shared, resized),
// on the default embedded storage (PGlite + file-system blobs) with the analysis workers
// running in the same process, as `claimlens serve` runs. Reports claims accepted per
// second, p99 submission latency, and checks that every 202 is a claim row in the database
// (submit_lost). Baseline measured in the same run: GET /healthz on the same server, and
// the intake (sniff + full decode) of the same photo alone.

import { rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { intakeImage } from '../src/forensics/intake.ts';
import { startRuntime } from '../src/http/runtime.ts';
import { median, photo12mp } from './photos.ts';

const DURATION_S = Number(process.env.SUBMIT_BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.SUBMIT_BENCH_CONNECTIONS ?? 16);

/** A ~300 KB JPEG: the 12 MP phone-like photo scaled to 1600×1200. */
async function photo300k(): Promise<Buffer> {
  const big = await photo12mp();
  for (const q of [85, 80, 75, 70, 65]) {
    const b = await sharp(big).resize(1600, 1200).jpeg({ quality: q }).toBuffer();
    if (b.length <= 340_000) return b;
  }
  return sharp(big).resize(1280, 960).jpeg({ quality: 70 }).toBuffer();
}

function multipartBody(boundary: string, claim: unknown, photo: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="claim"\r\n\r\n${JSON.stringify(claim)}\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="evidence"; filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
    photo,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
}

function run(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

export default async function (): Promise<Record<string, number>> {
  const photo = await photo300k();
  const withWorkers = await measure(photo, 'serve');
  const apiOnly = await measure(photo, 'api');
  const pgOnly = await measure(photo, 'pg').catch((e) => {
    console.log(`PostgreSQL run skipped: ${(e as Error).message}`);
    return undefined;
  });
  return {
    ...(pgOnly ? { submit_pg_api_only_per_s: pgOnly.submit_per_s!, submit_pg_api_only_p99_ms: pgOnly.submit_p99_ms!, } : {}),
    submit_per_s: withWorkers.submit_per_s!,
    submit_p99_ms: withWorkers.submit_p99_ms!,
    submit_lost: withWorkers.submit_lost! + apiOnly.submit_lost! + (pgOnly?.submit_lost ?? 0),
    submit_errors: withWorkers.submit_errors! + apiOnly.submit_errors! + (pgOnly?.submit_errors ?? 0),
    submit_api_only_per_s: apiOnly.submit_per_s!,
    submit_api_only_p99_ms: apiOnly.submit_p99_ms!,
    submit_intake_ms: withWorkers.submit_intake_ms!,
    submit_healthz_per_s: withWorkers.submit_healthz_per_s!,
  };
}

type Mode = 'serve' | 'api' | 'pg';

async function measure(photo: Buffer, mode: Mode): Promise<Record<string, number>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'claimlens-bench-'));
  const workers = mode === 'serve';
  const schema = `bench_submit_${process.pid}`;
  const rt = await startRuntime(
    mode === 'serve'
      ? { dataDir }
      : mode === 'api'
        ? { dataDir, runJobs: false, poolSize: 0 }
        : { dataDir, runJobs: false, poolSize: 0, databaseUrl: process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', schema },
  );
  try {
    const url = await rt.listen(0);
    const key = (await rt.service.createApiKey('bench', 'platform')).key;
    await fetch(`${url}/v1/orders`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'o-bench', buyerId: 'b', merchantId: 'm', sku: 'S', amount: 1000, currency: 'CNY' }),
    });
    const boundary = 'claimlensbenchboundary7MA4YWxkTrZu0gW';
    const body = multipartBody(boundary, { orderId: 'o-bench', type: 'refund_only', reason: 'bench', amount: 10 }, photo);

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
    const acceptedIds: string[] = [];
    const r = await run({
      url: `${url}/v1/claims`,
      connections: CONNECTIONS,
      duration: DURATION_S,
      requests: [
        {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
          body,
          onResponse: (status: number, resBody: string) => {
            if (status === 202) acceptedIds.push(JSON.parse(resBody).id);
          },
        } as any,
      ],
    });
    const accepted = acceptedIds.length;
    const other = r.non2xx + r.errors + r.timeouts;
    const rows = (await rt.store.db.query('SELECT count(*)::int n FROM claims')).rows[0].n - before;
    const found = (await rt.store.db.query('SELECT count(*)::int n FROM claims WHERE id = ANY($1::text[])', [acceptedIds])).rows[0].n;
    const perS = accepted / DURATION_S;
    const p99 = r.latency.p99;
    const lost = accepted - found;
    const analysed = (await rt.store.db.query(`SELECT count(*)::int n FROM jobs WHERE task = 'analyze_claim' AND state = 'done'`)).rows[0].n;
    console.log(
      `[${workers ? `serve as configured: ${rt.pool?.size} analysis threads in-process` : 'API only: no analysis running (jobs queue up)'}] photo ${(photo.length / 1024).toFixed(0)} KB, ${CONNECTIONS} connections, ${DURATION_S} s, ${mode === 'pg' ? 'PostgreSQL 127.0.0.1' : 'PGlite'} + fs blobs`,
    );
    console.log(
      `submit: ${perS.toFixed(0)} claims/s accepted (202), p50 ${r.latency.p50} ms, p99 ${p99} ms; other responses/errors ${other}; claims in DB ${rows}, of the ${accepted} accepted ids ${found} found (lost ${lost}); analysed meanwhile ${analysed}`,
    );
    console.log(
      `baseline: intake of the photo alone ${intakeMs.toFixed(1)} ms (p99/intake ${(p99 / intakeMs).toFixed(1)}×); GET /healthz ${health.requests.average.toFixed(0)}/s (submit/healthz ${(perS / health.requests.average).toFixed(3)})`,
    );
    return {
      submit_per_s: Math.round(perS),
      submit_p99_ms: p99,
      submit_lost: lost,
      submit_errors: other,
      submit_intake_ms: Math.round(intakeMs * 10) / 10,
      submit_healthz_per_s: Math.round(health.requests.average),
    };
  } finally {
    if (mode === 'pg') await rt.store.db.exec(`DROP SCHEMA ${schema} CASCADE`).catch(() => {});
    await rt.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
