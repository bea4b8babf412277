// Group commit of claim submissions (src/claims/submit-batch.ts), on PGlite (in-process and
// on its own thread, where the group's transaction script runs) and on the PostgreSQL server: concurrent submissions are written in fewer transactions than claims,
// each answered only after its commit; refused claims are left out with their typed error;
// a failed transaction stores nothing of its group, whose claims are then written one by one
// (only the one at fault fails); the audit chain stays intact.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { verifyAudit } from '../../src/claims/audit.ts';
import { ServiceError } from '../../src/claims/errors.ts';
import { ClaimsService } from '../../src/claims/service.ts';
import { SubmitBatcher } from '../../src/claims/submit-batch.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import type { SqlClient } from '../../src/store/sql.ts';
import { PG_URL, api, form, startTestServer, tempDir } from '../http/helpers.ts';
import sharp from 'sharp';

const file = (n: number) => ({ bytes: new Uint8Array(1000 + n), size: 1000 + n, sha256: n.toString(16).padStart(64, '0'), filename: `p${n}.jpg`, contentType: 'image/jpeg', width: 640, height: 480, format: 'jpeg' });
const claim = (orderId: string, amount = 10) => ({ orderId, type: 'refund_only' as const, reason: 'broken', amount });

async function count(db: SqlClient, sql: string): Promise<number> {
  return (await db.query(sql)).rows[0].n;
}

async function scenario(store: Store): Promise<void> {
  // the webhook below points at loopback (never called here: it only makes delivery jobs)
  const svc = new ClaimsService(store, { webhookAllowPrivate: true });
  const p = (await svc.authenticate((await svc.createApiKey('t1', 'platform')).key))!;
  const other = (await svc.authenticate((await svc.createApiKey('t2', 'platform')).key))!;
  await store.db.transaction((tx) => svc.createOrder(tx, p, { id: 'o1', buyerId: 'b1', merchantId: 'm1', sku: 'S', amount: 100, currency: 'CNY' } as any, []));
  await store.db.transaction((tx) => svc.createWebhook(tx, p, 'http://127.0.0.1:9/hook'));
  const batcher = new SubmitBatcher(store.db);

  // 40 at once: valid ones, an unknown order, an amount above the order's, another tenant's order.
  const kinds = Array.from({ length: 40 }, (_, i) => (i % 10 === 3 ? 'unknown' : i % 10 === 6 ? 'too_much' : i % 10 === 9 ? 'other_tenant' : 'ok'));
  const results = await Promise.allSettled(
    kinds.map((k, i) =>
      k === 'unknown' ? batcher.submit(p, claim('nope'), [file(i)])
      : k === 'too_much' ? batcher.submit(p, claim('o1', 1000), [file(i)])
      : k === 'other_tenant' ? batcher.submit(other, claim('o1'), [file(i)])
      : batcher.submit(p, claim('o1'), [file(i), file(100 + i)]),
    ),
  );
  const ids: string[] = [];
  results.forEach((r, i) => {
    if (kinds[i] === 'ok') {
      assert.equal(r.status, 'fulfilled', `claim ${i}: ${r.status === 'rejected' ? String(r.reason) : ''}`);
      const v = (r as PromiseFulfilledResult<any>).value;
      assert.equal(v.status, 202);
      assert.equal(v.body.state, 'submitted');
      ids.push(v.body.id);
    } else {
      assert.equal(r.status, 'rejected', `claim ${i} (${kinds[i]}) accepted`);
      const e = (r as PromiseRejectedResult).reason;
      assert.ok(e instanceof ServiceError);
      assert.equal(e.status, kinds[i] === 'too_much' ? 400 : 404, `${kinds[i]}: ${e.message}`);
    }
  });
  assert.equal(ids.length, 28);
  assert.ok(batcher.stats.batches < 28, `grouped: ${batcher.stats.batches} transactions for 28 claims`);
  assert.equal(await count(store.db, 'SELECT count(*)::int n FROM claims'), 28);
  assert.equal((await store.db.query('SELECT count(*)::int n FROM claims WHERE id = ANY($1::text[])', [ids])).rows[0].n, 28);
  assert.equal(await count(store.db, `SELECT count(*)::int n FROM media WHERE owner_type = 'claim'`), 56);
  assert.equal(await count(store.db, `SELECT count(*)::int n FROM jobs WHERE task = 'analyze_claim'`), 28);
  assert.equal(await count(store.db, `SELECT count(*)::int n FROM jobs WHERE task = 'deliver_webhook'`), 28);
  assert.equal(await count(store.db, `SELECT count(*)::int n FROM audit_log WHERE action = 'claim.submitted'`), 28);
  // Each claim's rows are its own: its order, its two photos, its audit entry.
  const row = (await store.db.query(`SELECT c.buyer_id, c.merchant_id, c.state, array_agg(m.filename ORDER BY m.filename) AS files FROM claims c JOIN media m ON m.owner_id = c.id WHERE c.id = $1 GROUP BY 1, 2, 3`, [ids[0]])).rows[0];
  assert.deepEqual([row.buyer_id, row.merchant_id, row.state, row.files], ['b1', 'm1', 'submitted', ['p0.jpg', 'p100.jpg']]);
  const audit = await verifyAudit(store.db);
  assert.ok(audit.ok, JSON.stringify(audit.problems));

  // A transaction that fails inside the database stores nothing of its group; each claim of it
  // is then written on its own, so only the one at fault fails (it may be another client's).
  // The failure is real: a trigger refuses one claim's row while the group's write is under
  // way, after the head was locked and other rows of the group were inserted.
  const headBefore = Number((await store.db.query('SELECT seq FROM audit_head')).rows[0].seq);
  await store.db.exec(`CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $f$
    BEGIN IF NEW.reason = 'boom' THEN RAISE EXCEPTION 'disk full (injected)' USING ERRCODE = '53100'; END IF; RETURN NEW; END $f$;
    CREATE TRIGGER refuse_boom BEFORE INSERT ON claims FOR EACH ROW EXECUTE FUNCTION refuse_boom()`);
  const b2 = new SubmitBatcher(store.db);
  const failed = await Promise.allSettled([1, 2, 3].map((i) => b2.submit(p, { ...claim('o1'), reason: i === 3 ? 'boom' : 'broken' }, [file(500 + i)])));
  assert.deepEqual(failed.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected']);
  assert.equal(b2.stats.retriedGroups, 1, 'the three were one group, and it did not commit');
  assert.equal(b2.stats.batches, 2, 'then each was written alone: two commits');
  const err = (failed[2] as PromiseRejectedResult).reason as { message: string; code?: string };
  assert.match(err.message, /disk full \(injected\)/);
  assert.equal(err.code, '53100', "the database's error code reaches the caller");
  const kept = failed.slice(0, 2).map((r) => (r as PromiseFulfilledResult<any>).value.body.id as string);
  assert.equal((await store.db.query('SELECT count(*)::int n FROM claims WHERE id = ANY($1::text[])', [kept])).rows[0].n, 2);
  assert.equal(await count(store.db, 'SELECT count(*)::int n FROM claims'), 30);
  assert.equal(await count(store.db, `SELECT count(*)::int n FROM claims WHERE reason = 'boom'`), 0);
  assert.equal(await count(store.db, `SELECT count(*)::int n FROM media WHERE owner_type = 'claim'`), 58);
  assert.equal(await count(store.db, `SELECT count(*)::int n FROM jobs WHERE task = 'analyze_claim'`), 30);
  assert.equal(Number((await store.db.query('SELECT seq FROM audit_head')).rows[0].seq), headBefore + 2);
  // A group where every claim fails alone too: all get the error, nothing is stored.
  const allBad = await Promise.allSettled([1, 2].map((i) => b2.submit(p, { ...claim('o1'), reason: 'boom' }, [file(700 + i)])));
  assert.deepEqual(allBad.map((r) => r.status), ['rejected', 'rejected']);
  assert.equal(await count(store.db, 'SELECT count(*)::int n FROM claims'), 30);
  await store.db.exec('DROP TRIGGER refuse_boom ON claims');
  const ok = await b2.submit(p, claim('o1'), [file(600)]);
  assert.equal(b2.stats.batches, 3);
  assert.equal(ok.status, 202);
  assert.equal(await count(store.db, 'SELECT count(*)::int n FROM claims'), 31);
  assert.ok((await verifyAudit(store.db)).ok);
}

test('group commit on PGlite: grouped, refusals isolated, failures store nothing, audit intact', async () => {
  const dir = tempDir();
  const store = await openStore({ dataDir: dir, memory: true });
  try {
    await scenario(store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("group commit on PGlite's own thread (the server's default): the group's transaction runs there", async () => {
  const dir = tempDir();
  const store = await openStore({ dataDir: dir, memory: true, pgliteThread: true });
  try {
    await scenario(store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('group commit on PostgreSQL: the same', async () => {
  const dir = tempDir();
  const schema = `test_group_commit_${process.pid}`;
  const store = await openStore({ dataDir: dir, databaseUrl: PG_URL, schema });
  try {
    await scenario(store);
  } finally {
    await store.db.exec(`DROP SCHEMA ${schema} CASCADE`).catch(() => {});
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('over HTTP: concurrent submissions with real photos are all stored; a bad file among them is refused alone', async () => {
  const s = await startTestServer({ runJobs: false, poolSize: 0 });
  try {
    const order = await api(s.url, s.keys.platform, 'POST', '/v1/orders', { id: 'o1', buyerId: 'b', merchantId: 'm1', sku: 'S', amount: 100, currency: 'CNY' });
    assert.equal(order.status, 201);
    const photo = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#7a6050' } }).jpeg().toBuffer();
    const truncated = photo.subarray(0, Math.floor(photo.length * 0.6));
    const sends = Array.from({ length: 12 }, (_, i) =>
      api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: claim('o1') }, [{ field: 'evidence', name: 'p.jpg', bytes: i === 5 ? truncated : photo }])),
    );
    const res = await Promise.all(sends);
    res.forEach((r, i) => assert.equal(r.status, i === 5 ? 422 : 202, `request ${i}: ${JSON.stringify(r.body)}`));
    assert.equal(res[5]!.body.error.code, 'truncated', res[5]!.body.error.message);
    const ids = res.filter((r) => r.status === 202).map((r) => r.body.id);
    assert.equal((await s.rt.store.db.query('SELECT count(*)::int n FROM claims WHERE id = ANY($1::text[])', [ids])).rows[0].n, 11);
    assert.equal(await count(s.rt.store.db, 'SELECT count(*)::int n FROM claims'), 11);
    for (const id of ids.slice(0, 3)) assert.equal((await api(s.url, s.keys.platform, 'GET', `/v1/claims/${id}`)).body.state, 'submitted');
  } finally {
    await s.close();
  }
});
