import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { ReuseInputError } from '../../../src/forensics/reuse/index.ts';
import { ensureReuseSchema, loadIndex as load, type ReuseStoreOptions, type SqlClient } from '../../../src/forensics/reuse/store.ts';

const PG_URL = process.env.CLAIMLENS_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

function hashFrom(seed: number): string {
  let x = seed * 2654435761 >>> 0 || 1;
  let s = '';
  for (let i = 0; i < 8; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    s += x.toString(16).padStart(8, '0');
  }
  return s;
}

/** `hex` with its first `d` bits flipped. */
function flip(hex: string, d: number): string {
  const digits = hex.split('').map((c) => parseInt(c, 16));
  for (let b = 0; b < d; b++) digits[b >> 2]! ^= 8 >> (b & 3);
  return digits.map((x) => x.toString(16)).join('');
}

interface Db {
  client: SqlClient;
  /** Runs fn in a transaction that is rolled back. */
  rolledBack(fn: (tx: SqlClient) => Promise<void>): Promise<void>;
}

async function exercise(db: Db, table: string, storeOpts: ReuseStoreOptions = {}) {
  const opened: Awaited<ReturnType<typeof load>>[] = [];
  const loadIndex = async (client: SqlClient, o: ReuseStoreOptions) => {
    const s = await load(client, { ...storeOpts, ...o });
    opened.push(s);
    return s;
  };
  try {
    await exerciseWith(db, table, loadIndex, (storeOpts.searchThreads ?? 0) > 0);
  } finally {
    for (const s of opened) await s.close();
  }
}

async function exerciseWith(db: Db, table: string, loadIndex: (client: SqlClient, o: ReuseStoreOptions) => ReturnType<typeof load>, threaded: boolean) {
  await ensureReuseSchema(db.client, { table });
  await ensureReuseSchema(db.client, { table }); // idempotent
  const store = await loadIndex(db.client, { table });
  assert.equal(store.size, 0);

  const H = hashFrom(1), R = hashFrom(2), F = hashFrom(3), FLAT = hashFrom(4);
  const [claim] = await store.add({ hash: H, quality: 90, ownerType: 'claim', ownerId: 'c1', buyerId: 'b1', sku: 'sku-1', tenantId: 't1' });
  await store.add([
    { hash: R, quality: 100, ownerType: 'reference', ownerId: 'r1', sku: 'sku-1', tenantId: 't1' },
    { hash: F, quality: 80, ownerType: 'fraud_list', ownerId: 'f1' },
    { hash: FLAT, quality: 10, ownerType: 'claim', ownerId: 'c2', buyerId: 'b2', tenantId: 't2' },
    { hash: hashFrom(5), ownerType: 'claim', ownerId: 'c3', tenantId: 't2' }, // quality unknown: matchable
  ]);
  assert.ok(claim && claim.id > 0 && claim.createdAt instanceof Date);
  assert.equal(store.size, 4, 'the quality-10 hash is stored but not matched on');

  const again = await store.add({ hash: H, quality: 90, ownerType: 'claim', ownerId: 'c1', buyerId: 'b1', tenantId: 't1' });
  assert.equal(again[0]!.id, claim.id, 'the same owner and hash is stored once');
  assert.equal(store.size, 4);

  // a query photo: variant 3 is the claim photo with 7 bits changed, variant 5 the fraud photo at 31
  const variants = Array.from({ length: 8 }, (_, i) => hashFrom(100 + i));
  variants[3] = flip(H, 7);
  variants[5] = flip(F, 31);
  variants[6] = flip(R, 32);
  const matches = await store.lookup(variants, 31);
  assert.equal(store.lastSearchThreads, threaded ? 2 : 0, 'where the lookup ran');
  assert.deepEqual(
    matches.map((m) => [m.owner.type, m.owner.id, m.owner.buyerId, m.distance, m.variant]),
    [['claim', 'c1', 'b1', 7, 3], ['fraud_list', 'f1', undefined, 31, 5]],
  );
  assert.equal(matches[0]!.entryId, claim.id);
  assert.equal(matches[0]!.owner.sku, 'sku-1');
  assert.deepEqual((await store.lookup([FLAT], 31)).length, 0, 'flat hashes never match');

  // tenant scope: t2 sees the shared fraud list but not t1's claim
  const t2 = await store.forTenant('t2').lookup(variants, 31);
  assert.deepEqual(t2.map((m) => m.owner.id), ['f1']);

  // survives a restart: a fresh load (small pages) gives the same answers
  const reopened = await loadIndex(db.client, { table, batchSize: 2 });
  assert.equal(reopened.size, 4);
  assert.deepEqual(await reopened.lookup(variants, 31), matches);

  // a write rolled back in the caller's transaction never shows up as a match
  const G = hashFrom(6);
  await db.rolledBack(async (tx) => {
    await store.add({ hash: G, quality: 99, ownerType: 'claim', ownerId: 'c9', tenantId: 't1' }, tx);
  });
  assert.deepEqual(await store.lookup([G], 0), []);
  await store.reload();
  assert.equal(store.size, 4);
  assert.deepEqual(await store.lookup(variants, 31), matches, 'same answers after a rebuild (new search threads)');
  assert.equal(store.lastSearchThreads, threaded ? 2 : 0);

  // deletes keep both sides in step
  assert.equal(await store.remove(claim.id), true);
  assert.equal(await store.remove(claim.id), false);
  assert.deepEqual((await store.lookup(variants, 31)).map((m) => m.owner.id), ['f1']);
  assert.equal(await store.removeOwner('fraud_list', 'f1'), 1);
  assert.deepEqual(await store.lookup(variants, 31), []);
  const reopened2 = await loadIndex(db.client, { table });
  assert.equal(reopened2.size, 2);
  assert.deepEqual(await reopened2.lookup(variants, 31), []);

  // One photo matched by many stored hashes (a photo sent in claim after claim): the closest 20
  // of each owner type come back, in id order, each saying how many of its type matched.
  const P = hashFrom(20);
  const copies = Array.from({ length: 45 }, (_, i) => ({ hash: flip(P, i % 30), quality: 90, ownerType: 'claim' as const, ownerId: `m${i}`, buyerId: 'b1', tenantId: 't1' }));
  await store.add([
    ...copies,
    { hash: flip(P, 29), quality: 90, ownerType: 'fraud_list' as const, ownerId: 'f-far' },
    { hash: P, quality: 90, ownerType: 'claim' as const, ownerId: 'other-tenant', tenantId: 't9' },
  ]);
  const all = await store.lookup([P], 31);
  const claimsKept = all.filter((m) => m.owner.type === 'claim');
  assert.equal(claimsKept.length, 20);
  assert.ok(claimsKept.every((m) => m.ofType === 46), 'the count is of every match, not only those kept');
  const closest = [...copies.map((_, i) => i % 30), 0].sort((a, b) => a - b).slice(0, 20);
  assert.deepEqual(claimsKept.map((m) => m.distance).sort((a, b) => a - b), closest, 'the closest are kept');
  assert.deepEqual(all.map((m) => m.entryId), [...all.map((m) => m.entryId!)].sort((a, b) => a - b), 'in id order');
  // a fraud-list match, far off, is not crowded out by the 46 closer claims
  assert.deepEqual(all.filter((m) => m.owner.type === 'fraud_list').map((m) => [m.owner.id, m.distance, m.ofType]), [['f-far', 29, 1]]);
  // one tenant's view, without the claim's own photo: neither shows up, nor counts
  const t1 = await store.forTenant('t1').lookup([P], 31, { excludeClaimId: 'm0' });
  assert.ok(t1.filter((m) => m.owner.type === 'claim').every((m) => m.ofType === 44));
  assert.ok(!t1.some((m) => m.owner.id === 'm0' || m.owner.id === 'other-tenant'));
  assert.equal((await store.search([P], { keepPerType: 3 })).filter((m) => m.owner.type === 'claim').length, 3);
  // the claim's own references, left out by the caller, do not crowd out another one further off
  const ownRefs = Array.from({ length: 22 }, (_, i) => ({ hash: flip(P, i), quality: 90, ownerType: 'reference' as const, ownerId: `own-${i}`, tenantId: 't1' }));
  await store.add([...ownRefs, { hash: flip(P, 28), quality: 90, ownerType: 'reference' as const, ownerId: 'other-sku', tenantId: 't1' }]);
  const refs = (r: Awaited<ReturnType<typeof store.lookup>>) => r.filter((m) => m.owner.type === 'reference');
  assert.ok(!refs(await store.lookup([P], 31)).some((m) => m.owner.id === 'other-sku'), 'without the exclusion the 20 closest are the own ones');
  const excluded = refs(await store.forTenant('t1').lookup([P], 31, { excludeReferenceIds: ownRefs.map((r) => r.ownerId) }));
  assert.deepEqual(excluded.map((m) => [m.owner.id, m.distance, m.ofType]), [['other-sku', 28, 1]]);
  for (const r of [...ownRefs, { ownerId: 'other-sku' }]) await store.removeOwner('reference', r.ownerId);
  await assert.rejects(store.search([P], { keepPerType: 0 }), ReuseInputError);
  for (const c of [...copies, { ownerId: 'other-tenant' }]) await store.removeOwner('claim', c.ownerId);
  await store.removeOwner('fraud_list', 'f-far');
  assert.deepEqual(await store.lookup([P], 31), []);

  // bad input: typed error, nothing written
  const count = async () => Number((await db.client.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n);
  const before = await count();
  for (const bad of [
    { hash: 'zz', ownerType: 'claim', ownerId: 'x' },
    { hash: H, quality: 101, ownerType: 'claim', ownerId: 'x' },
    { hash: H, ownerType: 'buyer', ownerId: 'x' },
    { hash: H, ownerType: 'claim', ownerId: '' },
  ]) {
    await assert.rejects(store.add([{ hash: hashFrom(7), ownerType: 'claim', ownerId: 'ok' }, bad as any]), ReuseInputError);
  }
  assert.equal(await count(), before);
  assert.equal(store.size, 2);
  await assert.rejects(loadIndex(db.client, { table: 'x; DROP TABLE y' }), ReuseInputError);
  await assert.rejects(loadIndex(db.client, { table, searchThreads: 9 }), ReuseInputError);
  // once closed, lookups still answer, on the calling thread
  await store.close();
  assert.deepEqual((await store.lookup(variants, 31)).map((m) => m.owner.id), []);
  assert.equal(store.lastSearchThreads, 0);
}

for (const [name, storeOpts] of [
  ['', {}],
  [', lookups in 2 search threads', { searchThreads: 2, parallelMinSize: 0 }],
] as const) {
test(`reuse store on PGlite (in memory)${name}`, async () => {
  const lite = new PGlite();
  try {
    await exercise(
      {
        client: lite,
        rolledBack: async (fn) => {
          await lite
            .transaction(async (tx) => {
              await fn(tx);
              throw new Error('roll back');
            })
            .catch((e) => assert.equal(e.message, 'roll back'));
        },
      },
      'reuse_hashes',
      storeOpts,
    );
  } finally {
    await lite.close();
  }
});
}

test('reuse store on the PostgreSQL server (own schema)', async () => {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 3 });
  const schema = `reuse_test_${process.pid}_${Date.now().toString(36)}`;
  try {
    await pool.query(`CREATE SCHEMA ${schema}`);
    await exercise(
      {
        client: pool,
        rolledBack: async (fn) => {
          const c = await pool.connect();
          try {
            await c.query('BEGIN');
            await fn(c);
          } finally {
            await c.query('ROLLBACK');
            c.release();
          }
        },
      },
      `${schema}.reuse_hashes`,
    );
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
  }
});

test('several processes on one table: each store catches up with the others’ inserts, late commits included (PostgreSQL)', async () => {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
  const schema = `reuse_sync_${process.pid}_${Date.now().toString(36)}`;
  const table = `${schema}.reuse_hashes`;
  try {
    await pool.query(`CREATE SCHEMA ${schema}`);
    await ensureReuseSchema(pool, { table });
    // two "processes": two stores loaded from the same table
    const a = await load(pool, { table, refreshMs: 0 });
    const b = await load(pool, { table, refreshMs: 0 });
    const never = await load(pool, { table, refreshMs: -1 });
    const X = hashFrom(11), LATE = hashFrom(12), Y = hashFrom(13);
    await a.add({ hash: X, quality: 90, ownerType: 'claim', ownerId: 'cx', tenantId: 't' });
    assert.deepEqual((await b.lookup([flip(X, 3)], 31)).map((m) => m.owner.id), ['cx'], 'b sees a’s insert');
    assert.deepEqual(await never.lookup([X], 31), [], 'a store that does not refresh does not');

    // a row whose transaction commits after a later id was read
    const slow = await pool.connect();
    try {
      await slow.query('BEGIN');
      await a.add({ hash: LATE, quality: 90, ownerType: 'claim', ownerId: 'c-late', tenantId: 't' }, slow); // lower id, not committed
      await a.add({ hash: Y, quality: 90, ownerType: 'claim', ownerId: 'cy', tenantId: 't' }); // higher id, committed
      assert.deepEqual((await b.lookup([Y], 31)).map((m) => m.owner.id), ['cy']);
      assert.deepEqual(await b.lookup([LATE], 31), [], 'not committed yet');
      await slow.query('COMMIT');
    } finally {
      slow.release();
    }
    assert.deepEqual((await b.lookup([LATE], 31)).map((m) => m.owner.id), ['c-late'], 'the late commit is found');
    // a delete by one process: the other never reports the row again
    const [entry] = await pool.query(`SELECT id FROM ${table} WHERE owner_id = 'cy'`).then((r) => r.rows);
    await a.remove(Number(entry.id));
    assert.deepEqual(await b.lookup([Y], 31), []);
    // a store loaded later starts with everything
    const c = await load(pool, { table });
    assert.equal(c.size, 2);
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.end();
  }
});

test('two stores on one PGlite database catch up with each other', async () => {
  const lite = new PGlite();
  try {
    await ensureReuseSchema(lite, {});
    const a = await load(lite, { refreshMs: 0 });
    const b = await load(lite, { refreshMs: 0 });
    await b.add({ hash: hashFrom(21), quality: 70, ownerType: 'reference', ownerId: 'r', tenantId: 't' });
    await b.add({ hash: hashFrom(22), quality: 10, ownerType: 'claim', ownerId: 'flat', tenantId: 't' });
    assert.deepEqual((await a.lookup([hashFrom(21)], 31)).map((m) => m.owner.id), ['r']);
    assert.deepEqual(await a.lookup([hashFrom(22)], 31), [], 'too flat to match, in either store');
    assert.equal(a.size, 1);
  } finally {
    await lite.close();
  }
});
