// Tenant and merchant isolation (whatever id is guessed), roles, idempotency and
// pagination, through the real HTTP server.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, form, photos, startTestServer, type TestServer } from './helpers.ts';

let s: TestServer;
const claims: Record<string, string> = {};
before(async () => {
  // No job runner: these tests look at access rules, not analysis.
  s = await startTestServer({ runJobs: false, poolSize: 0 });
  for (const m of ['m1', 'm2']) {
    const key = m === 'm1' ? s.keys.merchant : s.keys.merchant2;
    const r = await api(s.url, key, 'POST', '/v1/skus/SKU/references', form({}, [{ field: 'file', name: `${m}.jpg`, bytes: photos.listing() }]));
    assert.equal(r.status, 201);
    const o = await api(s.url, s.keys.platform, 'POST', '/v1/orders', { id: `o-${m}`, buyerId: 'b', merchantId: m, sku: 'SKU', amount: 100, currency: 'CNY' });
    assert.equal(o.status, 201);
    const c = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: { orderId: `o-${m}`, type: 'refund_only', reason: 'r', amount: 10 } }, [{ field: 'evidence', name: 'e.jpg', bytes: photos.natural() }]));
    assert.equal(c.status, 202);
    claims[m] = c.body.id;
  }
});
after(async () => {
  await s?.close();
});

test('a merchant never sees or changes another merchant’s claims, orders or media', async () => {
  const mine = await api(s.url, s.keys.merchant, 'GET', `/v1/claims/${claims.m1}`);
  assert.equal(mine.status, 200);
  const theirs = await api(s.url, s.keys.merchant, 'GET', `/v1/claims/${claims.m2}`);
  assert.equal(theirs.status, 404);
  assert.equal(theirs.body.error.code, 'not_found');
  const guessed = await api(s.url, s.keys.merchant, 'GET', `/v1/claims/clm_doesnotexist`);
  assert.deepEqual(guessed.body, theirs.body.error.code === 'not_found' ? { error: { code: 'not_found', message: 'claim not found' } } : null, 'same answer for a foreign and a missing id');
  const list = await api(s.url, s.keys.merchant, 'GET', '/v1/claims');
  assert.deepEqual(list.body.items.map((c: any) => c.id), [claims.m1]);
  const filtered = await api(s.url, s.keys.merchant, 'GET', '/v1/claims?merchantId=m2');
  assert.deepEqual(filtered.body.items, []);
  assert.equal((await api(s.url, s.keys.merchant, 'GET', `/v1/claims/${claims.m2}/audit`)).status, 404);
  assert.equal((await api(s.url, s.keys.merchant, 'GET', '/v1/orders/o-m2')).status, 404);
  assert.equal((await api(s.url, s.keys.merchant, 'POST', `/v1/claims/${claims.m2}/responses`, { text: 'not mine' })).status, 404);
  const otherMedia = (await api(s.url, s.keys.merchant2, 'GET', `/v1/claims/${claims.m2}`)).body.evidence[0].url;
  assert.equal((await api(s.url, s.keys.merchant, 'GET', otherMedia)).status, 404);
  // Acting for another merchant is refused.
  const r = await api(s.url, s.keys.merchant, 'POST', '/v1/skus/SKU/references?merchantId=m2', form({}, [{ field: 'file', name: 'x.jpg', bytes: photos.listing() }]));
  assert.equal(r.status, 403);
  const refs = await api(s.url, s.keys.merchant, 'GET', '/v1/skus/SKU/references?merchantId=m2');
  assert.equal(refs.body.merchantId, 'm1', 'a merchant key reads its own references whatever merchantId says');
  // Two merchants with the same SKU code keep separate references (the analysis of m2's claims never sees m1's).
  assert.deepEqual(refs.body.references.map((r: any) => r.filename), ['m1.jpg']);
  const refs2 = await api(s.url, s.keys.platform, 'GET', '/v1/skus/SKU/references?merchantId=m2');
  assert.deepEqual(refs2.body.references.map((r: any) => r.filename), ['m2.jpg']);
  // A SKU code with a slash cannot reach into another merchant's references.
  await api(s.url, s.keys.merchant, 'POST', '/v1/skus/x%2FSKU/references', form({}, [{ field: 'file', name: 'sneaky.jpg', bytes: photos.listing() }]));
  const refs3 = await api(s.url, s.keys.platform, 'GET', '/v1/skus/SKU/references?merchantId=m1%2Fx');
  assert.deepEqual(refs3.body.references, []);
  // A merchant cannot submit claims or make decisions.
  assert.equal((await api(s.url, s.keys.merchant, 'POST', `/v1/claims/${claims.m1}/decisions`, { decision: 'approve', reason: 'mine' })).status, 403);
  assert.equal((await api(s.url, s.keys.merchant, 'GET', '/v1/review-queue')).status, 403);
});

test('tenants are isolated, whatever id is guessed', async () => {
  for (const id of Object.values(claims)) {
    const r = await api(s.url, s.keys.otherTenant, 'GET', `/v1/claims/${id}`);
    assert.equal(r.status, 404);
    assert.equal((await api(s.url, s.keys.otherTenant, 'POST', `/v1/claims/${id}/decisions`, { decision: 'reject', reason: 'x' })).status, 404);
  }
  assert.deepEqual((await api(s.url, s.keys.otherTenant, 'GET', '/v1/claims')).body.items, []);
  assert.equal((await api(s.url, s.keys.otherTenant, 'GET', '/v1/orders/o-m1')).status, 404);
  // An order id reused in another tenant is that tenant's own order.
  const o = await api(s.url, s.keys.otherTenant, 'POST', '/v1/orders', { id: 'o-m1', buyerId: 'x', merchantId: 'mx', sku: 'S', amount: 1, currency: 'CNY' });
  assert.equal(o.status, 201);
  assert.equal((await api(s.url, s.keys.platform, 'GET', '/v1/orders/o-m1')).body.merchantId, 'm1');
  assert.equal((await api(s.url, 'clk_made_up', 'GET', '/v1/claims')).status, 401);
});

test('Idempotency-Key: same request → same response once; different body → 409', async () => {
  const body = { id: 'o-idem', buyerId: 'b', merchantId: 'm1', sku: 'SKU', amount: 50, currency: 'CNY' };
  const h = { 'idempotency-key': 'abc-1' };
  const a = await api(s.url, s.keys.platform, 'POST', '/v1/orders', body, h);
  const b = await api(s.url, s.keys.platform, 'POST', '/v1/orders', body, h);
  assert.equal(a.status, 201);
  assert.equal(b.status, 201);
  assert.deepEqual(b.body, a.body);
  assert.equal(b.headers.get('idempotent-replayed'), 'true');
  const c = await api(s.url, s.keys.platform, 'POST', '/v1/orders', { ...body, amount: 60 }, h);
  assert.equal(c.status, 409);
  assert.equal(c.body.error.code, 'idempotency_key_reused');
  // Without the key the second create is a conflict: the first one really happened once.
  assert.equal((await api(s.url, s.keys.platform, 'POST', '/v1/orders', body)).status, 409);

  // Multipart claim submissions: a retried upload creates one claim.
  const count = async () => (await s.rt.store.db.query(`SELECT count(*)::int n FROM claims WHERE order_id = 'o-idem'`)).rows[0].n;
  const mk = () => form({ claim: { orderId: 'o-idem', type: 'repair', reason: 'r', amount: 5 } }, [{ field: 'evidence', name: 'e.jpg', bytes: photos.natural() }]);
  const k = { 'idempotency-key': 'claim-1' };
  const r1 = await api(s.url, s.keys.platform, 'POST', '/v1/claims', mk(), k);
  const r2 = await api(s.url, s.keys.platform, 'POST', '/v1/claims', mk(), k);
  assert.equal(r1.status, 202);
  assert.deepEqual(r2.body, r1.body);
  assert.equal(await count(), 1);
  const other = form({ claim: { orderId: 'o-idem', type: 'repair', reason: 'r', amount: 5 } }, [{ field: 'evidence', name: 'e.jpg', bytes: photos.natural2() }]);
  assert.equal((await api(s.url, s.keys.platform, 'POST', '/v1/claims', other, k)).status, 409);
  assert.equal(await count(), 1);
  // Keys are per API key: another key may use the same Idempotency-Key freely.
  const r3 = await api(s.url, s.keys.otherTenant, 'POST', '/v1/orders', { ...body, id: 'o-idem-t2' }, h);
  assert.equal(r3.status, 201);
});

test('cursor pagination and filters', async () => {
  for (let i = 0; i < 5; i++) {
    const r = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: { orderId: 'o-m1', type: 'refund_only', reason: `p${i}`, amount: 1 } }, [{ field: 'evidence', name: 'e.jpg', bytes: photos.natural() }]));
    assert.equal(r.status, 202);
  }
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const q: string = `/v1/claims?merchantId=m1&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
    const page = await api(s.url, s.keys.platform, 'GET', q);
    assert.equal(page.status, 200);
    assert.ok(page.body.items.length <= 2);
    seen.push(...page.body.items.map((c: any) => c.id));
    cursor = page.body.nextCursor;
  } while (cursor);
  const all = (await s.rt.store.db.query(`SELECT id FROM claims WHERE tenant_id = 't1' AND merchant_id = 'm1' ORDER BY created_at DESC, id DESC`)).rows.map((r: any) => r.id);
  assert.deepEqual(seen, all);
  const byState = await api(s.url, s.keys.platform, 'GET', '/v1/claims?state=approved');
  assert.deepEqual(byState.body.items, []);
  assert.equal((await api(s.url, s.keys.platform, 'GET', '/v1/claims?state=bogus')).status, 400);
  assert.equal((await api(s.url, s.keys.platform, 'GET', '/v1/claims?cursor=garbage')).status, 400);
});

test('a claim whose analysis keeps failing goes to people, not stuck in analysing', async () => {
  const { JobRunner } = await import('../../src/jobs/runner.ts');
  await s.rt.store.db.query(`UPDATE jobs SET max_attempts = 2 WHERE task = 'analyze_claim'`);
  // This server has no analysis pool: every analysis attempt fails.
  const runner = new JobRunner(s.rt.store.db, s.rt.service.handlers(), { pollMs: 20, backoffBaseMs: 10, tasks: ['analyze_claim'] });
  runner.start();
  try {
    const t0 = Date.now();
    let c: any;
    while (Date.now() - t0 < 20_000) {
      c = (await api(s.url, s.keys.platform, 'GET', `/v1/claims/${claims.m1}`)).body;
      if (c.state === 'in_review') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(c.state, 'in_review');
    assert.match(c.policy.reasons[0], /analysis failed after 2 attempts/);
    const audit = (await api(s.url, s.keys.platform, 'GET', `/v1/claims/${claims.m1}/audit`)).body.entries;
    assert.deepEqual(audit.map((e: any) => e.action), ['claim.submitted', 'analysis.started', 'analysis.failed']);
  } finally {
    await runner.stop();
  }
});

test('API keys: a platform key lists and revokes its tenant’s keys; a revoked key stops at once', async () => {
  const mine = await api(s.url, s.keys.platform, 'GET', '/v1/keys');
  assert.equal(mine.status, 200);
  assert.ok(mine.body.items.length >= 3);
  assert.ok(mine.body.items.every((k: any) => k.tenantId === 't1' && !('key' in k) && !('keyHash' in k)));
  assert.equal((await api(s.url, s.keys.merchant, 'GET', '/v1/keys')).status, 403);
  assert.equal((await api(s.url, s.keys.reviewer, 'GET', '/v1/keys')).status, 403);
  // a key of this tenant, made for the test, is revoked
  const extra = await s.rt.service.createApiKey('t1', 'merchant', 'm1');
  assert.equal((await api(s.url, extra.key, 'GET', '/v1/me')).status, 200);
  assert.equal((await api(s.url, s.keys.merchant, 'DELETE', `/v1/keys/${extra.id}`)).status, 403, 'merchants do not manage keys');
  const r = await api(s.url, s.keys.platform, 'DELETE', `/v1/keys/${extra.id}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.alreadyRevoked, false);
  assert.equal((await api(s.url, extra.key, 'GET', '/v1/me')).status, 401, 'refused at once, despite the key cache');
  assert.equal((await api(s.url, s.keys.platform, 'DELETE', `/v1/keys/${extra.id}`)).body.alreadyRevoked, true);
  // another tenant's key id is answered exactly like a missing one, and stays valid
  const other = await s.rt.service.createApiKey('t-other', 'platform');
  const foreign = await api(s.url, s.keys.platform, 'DELETE', `/v1/keys/${other.id}`);
  const missing = await api(s.url, s.keys.platform, 'DELETE', '/v1/keys/key_doesnotexist');
  assert.equal(foreign.status, 404);
  assert.deepEqual(foreign.body, missing.body);
  assert.equal((await api(s.url, other.key, 'GET', '/v1/me')).status, 200);
  const audit = (await s.rt.store.db.query(`SELECT action, data FROM audit_log WHERE action = 'api_key.revoked'`)).rows;
  assert.equal(audit.length, 1);
});
