// The warm-up before the server listens (src/http/warm-up.ts): it must really send
// submissions through the route and rehearse group writes, and leave nothing behind — no
// row, no audit entry, no job, no blob file, no working key — on PGlite (in-process and on
// its thread) and on PostgreSQL.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startRuntime } from '../../src/http/runtime.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { FsBlobStore } from '../../src/store/blobs.ts';
import { REHEARSAL_ROLLBACK, SUBMIT_WRITE_MODULE } from '../../src/claims/submit-write.ts';
import { verifyAudit } from '../../src/claims/audit.ts';
import { warmUpFromEnv } from '../../src/http/warm-up.ts';
import { pictureJpeg } from '../helpers/labels.ts';
import { api, form, PG_URL, tempDir } from './helpers.ts';

const TABLES = ['tenants', 'api_keys', 'blobs', 'media', 'orders', 'claims', 'audit_log', 'jobs', 'idempotency', 'webhook_deliveries'];

async function counts(store: Store): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of TABLES) out[t] = (await store.db.query(`SELECT count(*)::int n FROM ${t}`)).rows[0].n;
  out.audit_head_seq = Number((await store.db.query('SELECT seq FROM audit_head WHERE id = 1')).rows[0]?.seq ?? 0);
  return out;
}

/** Every file under a folder (recursively). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

test('the warm-up sends refused submissions and rolled-back group writes, leaves nothing behind, and the server then serves', async () => {
  const dataDir = tempDir();
  const rt = await startRuntime({ dataDir, poolSize: 0, intakeThreads: 1, runner: { pollMs: 50 }, warmUp: { ms: 700, concurrency: 4 } });
  try {
    // Something in the audit chain and the blob store already, as on a server restarted.
    const key = (await rt.service.createApiKey('t1', 'platform')).key;
    const blobRoot = (rt.store.blobs as FsBlobStore).root;
    await rt.store.blobs.put(Buffer.from('an earlier blob'));
    const before = await counts(rt.store);
    const filesBefore = filesUnder(blobRoot);

    const url = await rt.listen(0);
    const w = rt.warmUpReport!;
    assert.ok(w, 'a warm-up report');
    assert.equal(w.error, undefined, w.error);
    assert.ok(w.requests >= 4, `submissions sent: ${w.requests}`);
    assert.equal(w.refused, w.requests, 'every warm-up submission was refused (no such order)');
    assert.ok(w.groups >= 1, `rehearsed groups: ${w.groups}`);
    assert.ok(w.ms >= 700 && w.ms < 20_000, `${w.ms} ms`);

    assert.deepEqual(await counts(rt.store), before, 'no row, audit entry or job was left');
    const audit = await verifyAudit(rt.store.db);
    assert.deepEqual(audit.problems, []);
    assert.deepEqual(filesUnder(blobRoot).sort(), filesBefore.sort(), 'no blob or temp file was left');

    // The server takes real traffic afterwards.
    const o = await api(url, key, 'POST', '/v1/orders', { id: 'o-w', buyerId: 'b1', merchantId: 'm1', sku: 'S1', amount: 50, currency: 'CNY' });
    assert.equal(o.status, 201, JSON.stringify(o.body));
    const photo = await pictureJpeg(640, 480, 7);
    const c = await api(url, key, 'POST', '/v1/claims', form({ claim: { orderId: 'o-w', type: 'refund_only', reason: 'broken', amount: 20 } }, [{ field: 'evidence', name: 'p.jpg', bytes: photo }]));
    assert.equal(c.status, 202, JSON.stringify(c.body));
    assert.equal((await counts(rt.store)).claims, before.claims + 1);
    assert.deepEqual((await verifyAudit(rt.store.db)).problems, []);
  } finally {
    await rt.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a transient key works until dropped, and was never a row', async () => {
  const dataDir = tempDir();
  const rt = await startRuntime({ dataDir, memory: true, poolSize: 0, intakeThreads: 0, runJobs: false });
  try {
    const k = rt.service.admitTransientKey({ tenantId: 'tx', role: 'platform', merchantId: null });
    assert.deepEqual(await rt.service.authenticate(k.key), { keyId: k.keyId, tenantId: 'tx', role: 'platform', merchantId: null });
    assert.equal((await rt.store.db.query('SELECT count(*)::int n FROM api_keys')).rows[0].n, 0);
    k.drop();
    assert.equal(await rt.service.authenticate(k.key), null);
  } finally {
    await rt.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

for (const [name, open] of [
  ['PGlite in-process', (dir: string) => openStore({ dataDir: dir, memory: true })],
  ["PGlite on its thread", (dir: string) => openStore({ dataDir: dir, memory: true, pgliteThread: true })],
  ['PostgreSQL', (dir: string) => openStore({ dataDir: dir, databaseUrl: PG_URL, schema: `test_warm_up_${process.pid}` })],
] as const) {
  test(`a rehearsed group write rolls back whole (${name})`, async () => {
    const dir = tempDir();
    const store = await open(dir);
    try {
      const before = await counts(store);
      await assert.rejects(store.db.transactionScript(SUBMIT_WRITE_MODULE, 'rehearseClaimGroup', 5), (e: Error) => e.message === REHEARSAL_ROLLBACK);
      assert.deepEqual(await counts(store), before);
    } finally {
      if (store.db.kind === 'postgres') await store.db.exec(`DROP SCHEMA test_warm_up_${process.pid} CASCADE`).catch(() => {});
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('CLAIMLENS_WARMUP_MS: 3 s by default, 0 turns the warm-up off, anything else is refused', () => {
  assert.deepEqual(warmUpFromEnv({}), { ms: 3000 });
  assert.deepEqual(warmUpFromEnv({ CLAIMLENS_WARMUP_MS: '500' }), { ms: 500 });
  assert.equal(warmUpFromEnv({ CLAIMLENS_WARMUP_MS: '0' }), false);
  assert.throws(() => warmUpFromEnv({ CLAIMLENS_WARMUP_MS: 'soon' }), /CLAIMLENS_WARMUP_MS/);
  assert.throws(() => warmUpFromEnv({ CLAIMLENS_WARMUP_MS: '-1' }), /CLAIMLENS_WARMUP_MS/);
});
