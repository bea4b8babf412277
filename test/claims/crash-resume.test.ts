// Crash-resume of jobs on PostgreSQL with real processes: a worker process takes a claim's
// analysis job and is killed with SIGKILL in the middle; once its lease has expired another
// runner takes the job again and finishes the claim.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { verifyAudit } from '../../src/claims/audit.ts';
import { startRuntime, type Runtime } from '../../src/http/runtime.ts';
import { PG_URL, api, form, photos, tempDir, waitForState } from '../http/helpers.ts';

const schema = `t_crash_${process.pid}_${randomBytes(3).toString('hex')}`;
const dataDir = tempDir();
let rt: Runtime | undefined;

after(async () => {
  await rt?.close();
  rmSync(dataDir, { recursive: true, force: true });
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await c.end();
});

test('a job whose worker process died is picked up again after its lease', async () => {
  // API process without workers: the claim waits in the queue.
  rt = await startRuntime({ dataDir, databaseUrl: PG_URL, schema, poolSize: 0, runJobs: false });
  const url = await rt.listen(0);
  const key = (await rt.service.createApiKey('t1', 'platform')).key;
  assert.equal((await api(url, key, 'POST', '/v1/orders', { id: 'o1', buyerId: 'b', merchantId: 'm1', sku: 'S', amount: 999, currency: 'CNY' })).status, 201);
  const sub = await api(url, key, 'POST', '/v1/claims', form({ claim: { orderId: 'o1', type: 'refund_only', reason: 'r', amount: 500 } }, [{ field: 'evidence', name: 'e.jpg', bytes: photos.natural() }]));
  assert.equal(sub.status, 202);

  const leaseMs = 1500;
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./doomed-worker.ts', import.meta.url)), PG_URL, schema, String(leaseMs), dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const db = rt.store.db;
  const t0 = Date.now();
  let job: any;
  while (Date.now() - t0 < 30_000) {
    job = (await db.query(`SELECT * FROM jobs WHERE task = 'analyze_claim'`)).rows[0];
    const claim = (await db.query('SELECT state FROM claims WHERE id = $1', [sub.body.id])).rows[0];
    if (job.locked_by === 'doomed' && claim.state === 'analysing') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(job.locked_by, 'doomed', 'the doomed worker took the job');
  assert.equal(job.state, 'running');
  const died = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await died;

  // A fresh worker process (here: this one) resumes the job once the lease has run out.
  await rt.close();
  rt = await startRuntime({ dataDir, databaseUrl: PG_URL, schema, poolSize: 1, runner: { pollMs: 100, leaseMs: 5000 } });
  const url2 = await rt.listen(0);
  const c = await waitForState(url2, key, sub.body.id, ['awaiting_merchant'], 60_000);
  assert.equal(c.analysis.images.length, 1);
  const j = (await rt.store.db.query(`SELECT state, attempts, locked_by FROM jobs WHERE task = 'analyze_claim'`)).rows[0];
  assert.equal(j.state, 'done');
  assert.equal(j.attempts, 2);
  assert.notEqual(j.locked_by, 'doomed');
  const audit = (await api(url2, key, 'GET', `/v1/claims/${sub.body.id}/audit`)).body.entries.map((e: any) => e.toState);
  assert.deepEqual(audit, ['submitted', 'analysing', 'awaiting_merchant'], 'analysis resumed, not restarted from scratch');

  // The rest of the workflow on PostgreSQL: the merchant answers, a reviewer decides.
  const merchantKey = (await rt.service.createApiKey('t1', 'merchant', 'm1')).key;
  const reviewerKey = (await rt.service.createApiKey('t1', 'reviewer')).key;
  const resp = await api(url2, merchantKey, 'POST', `/v1/claims/${sub.body.id}/responses`, { text: 'packed intact' }, { 'idempotency-key': 'r1' });
  assert.equal(resp.status, 201);
  assert.equal((await api(url2, merchantKey, 'POST', `/v1/claims/${sub.body.id}/responses`, { text: 'packed intact' }, { 'idempotency-key': 'r1' })).body.id, resp.body.id);
  const dec = await api(url2, reviewerKey, 'POST', `/v1/claims/${sub.body.id}/decisions`, { decision: 'reject', reason: 'photo predates delivery' });
  assert.equal(dec.status, 201);
  assert.equal((await api(url2, key, 'GET', `/v1/claims/${sub.body.id}`)).body.state, 'rejected');
  assert.equal((await verifyAudit(rt.store.db)).ok, true);
});
