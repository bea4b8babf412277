// The storage suite, run against both databases: PGlite (embedded) and the PostgreSQL
// server on this machine (a fresh schema per run so parallel runs do not collide).

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { appendAudit, verifyAudit } from '../../src/claims/audit.ts';
import { completeJob, enqueue, failJob, heartbeat, takeJobs } from '../../src/jobs/queue.ts';
import { BlobNotFoundError, FsBlobStore, sha256Hex } from '../../src/store/blobs.ts';
import { MIGRATIONS, migrate } from '../../src/store/migrations.ts';
import { openPglite } from '../../src/store/pglite.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { DatabaseError, openPgliteThread } from '../../src/store/pglite-thread.ts';
import type { SqlClient } from '../../src/store/sql.ts';
import { PG_URL, tempDir } from '../http/helpers.ts';
import { threadId } from 'node:worker_threads';

const schema = `t_store_${process.pid}_${randomBytes(3).toString('hex')}`;
const backends: [string, () => Promise<SqlClient>][] = [
  ['pglite', () => openPglite(undefined)],
  // The same database on a worker thread of its own, as the server runs it.
  ['pglite on its own thread', () => openPgliteThread(undefined)],
  ['postgres', () => openPostgres({ url: PG_URL, schema })],
];

after(async () => {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await c.end();
});

for (const [name, open] of backends) {
  describe(`storage on ${name}`, () => {
    let db: SqlClient;
    test('migrations apply once and are recorded', async () => {
      db = await open();
      const first = await migrate(db, []);
      assert.deepEqual(first, MIGRATIONS.map((m) => m.version));
      const second = await migrate(db, []);
      assert.deepEqual(second, []);
      const r = await db.query('SELECT version FROM schema_migrations ORDER BY version');
      assert.deepEqual(r.rows.map((x: any) => x.version), MIGRATIONS.map((m) => m.version));
    });

    test('a failing transaction leaves nothing behind', async () => {
      await db.query(`INSERT INTO tenants (id, name) VALUES ('tx', 'tx')`);
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.query(`INSERT INTO webhook_endpoints (id, tenant_id, url, secret) VALUES ('w1','tx','http://x','s')`);
          await tx.query('SELECT no_such_column FROM tenants');
        }),
      );
      const r = await db.query(`SELECT count(*)::int n FROM webhook_endpoints WHERE id = 'w1'`);
      assert.equal(r.rows[0].n, 0);
    });

    test('parameters and values round-trip alike on every database', async () => {
      const at = new Date('2026-01-02T03:04:05.678Z');
      const tricky = ['a', 'b,c', '"q"', 'back\\slash', null, '', '{x}', 'NULL', '中文'];
      const r = await db.query(
        'SELECT $1::text[] AS a, $2::jsonb AS j, $3::int8 AS n, $4::bool AS b, $5::timestamptz AS t, $6::text AS nul, $7::numeric AS num, $8::int AS i, $9::text AS s',
        [tricky, { x: [1, { y: 'z"' }] }, 2 ** 40, true, at, null, 1.5, 7, "it's"],
      );
      assert.deepEqual(r.rows, [{ a: tricky, j: { x: [1, { y: 'z"' }] }, n: 2 ** 40, b: true, t: at, nul: null, num: 1.5, i: 7, s: "it's" }]);
      // Untyped parameters take the type the statement gives them, and a statement may return no rows.
      assert.deepEqual((await db.query('SELECT id FROM tenants WHERE id = ANY($1)', [['none']])).rows, []);
    });

    test('a failed statement leaves the connection usable, in or out of a transaction', async () => {
      const err = await db.query('SELECT no_such_column FROM tenants').then(() => assert.fail('resolved'), (e: { code?: string; message: string }) => e);
      assert.equal(err.code, '42703');
      assert.match(err.message, /no_such_column/);
      assert.deepEqual((await db.query('SELECT $1::int AS x', [1])).rows, [{ x: 1 }]);
      // The transaction's first statement fails: the transaction is rolled back, and the next
      // statement runs outside any transaction (it commits on its own).
      await assert.rejects(db.transaction((tx) => tx.query('INSERT INTO tenants (id, name) VALUES (NULL, NULL)')), (e: { code?: string }) => e.code === '23502');
      await db.query(`INSERT INTO tenants (id, name) VALUES ('after-fail', 'x')`);
      await db.transaction(async (tx) => {
        await tx.query(`UPDATE tenants SET name = 'y' WHERE id = 'after-fail'`);
      });
      assert.deepEqual((await db.query(`SELECT name FROM tenants WHERE id = 'after-fail'`)).rows, [{ name: 'y' }]);
      // A transaction that runs no statement commits nothing and resolves.
      assert.equal(await db.transaction(async () => 'empty'), 'empty');
    });

    test('statements started together in one transaction each get their own result', async () => {
      const [a, b, c] = await db.transaction((tx) =>
        Promise.all([tx.query('SELECT 1 AS a'), tx.query('SELECT $1::text AS b', ['two']), tx.query('SELECT generate_series(1, 3) AS c')]),
      );
      assert.deepEqual(a.rows, [{ a: 1 }]);
      assert.deepEqual(b.rows, [{ b: 'two' }]);
      assert.deepEqual(c.rows, [{ c: 1 }, { c: 2 }, { c: 3 }]);
      const [x, y] = await Promise.all([db.query('SELECT 10 AS x'), db.query('SELECT 20 AS y')]);
      assert.deepEqual([x.rows, y.rows], [[{ x: 10 }], [{ y: 20 }]]);
    });

    test('a transaction whose failed statement was caught rejects and keeps nothing', async () => {
      const err = await db
        .transaction(async (tx) => {
          await tx.query(`INSERT INTO tenants (id, name) VALUES ('caught', 'x')`);
          await tx.query('SELECT no_such_column FROM tenants').catch(() => {});
          return 'looked fine';
        })
        .then(() => assert.fail('an aborted transaction resolved as committed'), (e: { code?: string }) => e);
      assert.equal(err.code, '25P02');
      assert.deepEqual((await db.query(`SELECT id FROM tenants WHERE id = 'caught'`)).rows, []);
    });

    test('a transaction script runs whole or not at all, on the database thread where there is one', async () => {
      const mod = new URL('./fixtures/tx-scripts.ts', import.meta.url).href;
      const ok = await db.transactionScript<unknown, { inserted: number; threadId: number }>(mod, 'insertTenants', { ids: ['ts1', 'ts2'] });
      assert.equal(ok.inserted, 2);
      // On PGlite's own thread the script ran there, not on this (the calling, main) thread.
      assert.equal(ok.threadId !== threadId, name === 'pglite on its own thread', `ran on thread ${ok.threadId}`);
      const err = await db.transactionScript(mod, 'insertTenants', { ids: ['ts3', 'ts4', 'ts5'], failAfter: 2 }).then(
        () => assert.fail('the failing script resolved'),
        (e: { message: string; code?: string }) => e,
      );
      assert.match(err.message, /no_such_column/);
      assert.equal(err.code, '42703');
      const r = await db.query(`SELECT id FROM tenants WHERE id LIKE 'ts%' ORDER BY id`);
      assert.deepEqual(r.rows.map((x: any) => x.id), ['ts1', 'ts2']);
      await assert.rejects(db.transactionScript(mod, 'noSuchScript', {}), /has no transaction script noSuchScript/);
    });

    test('job queue: leases, skip-locked takes, retries with backoff, lease expiry', async () => {
      await db.transaction(async (tx) => {
        for (let i = 0; i < 6; i++) await enqueue(tx, 'demo', { i });
        await enqueue(tx, 'demo', { dup: true }, { dedupeKey: 'k1' });
        await enqueue(tx, 'demo', { dup: true }, { dedupeKey: 'k1' });
        await enqueue(tx, 'later', {}, { runAt: new Date(Date.now() + 3_600_000) });
      });
      // Two takers at once get disjoint jobs.
      const [a, b] = await Promise.all([takeJobs(db, 'A', 4, 60_000, ['demo']), takeJobs(db, 'B', 4, 60_000, ['demo'])]);
      const ids = [...a, ...b].map((j) => j.id);
      assert.equal(ids.length, 7);
      assert.equal(new Set(ids).size, 7);
      assert.deepEqual(await takeJobs(db, 'C', 10, 60_000), [], 'nothing due: the later job waits');
      assert.equal(await heartbeat(db, a[0]!.id, 'A', 60_000), true);
      assert.equal(await heartbeat(db, a[0]!.id, 'B', 60_000), false, 'only the holder renews');
      await completeJob(db, a[0]!.id, 'A');
      assert.equal(await failJob(db, a[1]!, 'A', 'boom', 60_000), 'retry');
      const st = (await db.query('SELECT state, last_error, run_at > now() + interval \'50 seconds\' AS later FROM jobs WHERE id = $1', [a[1]!.id])).rows[0];
      assert.deepEqual(st, { state: 'queued', last_error: 'boom', later: true });
      // A job whose holder stopped renewing is taken again after its lease.
      const short = await takeJobs(db, 'D', 1, 60_000, ['nothing']);
      assert.equal(short.length, 0);
      await db.query(`UPDATE jobs SET lease_until = now() - interval '1 second' WHERE id = $1`, [b[0]!.id]);
      const again = await takeJobs(db, 'E', 10, 60_000, ['demo']);
      assert.deepEqual(again.map((j) => j.id), [b[0]!.id]);
      assert.equal(again[0]!.attempts, 2);
    });

    test('audit chain: verify detects altered, deleted and truncated entries', async () => {
      await db.transaction(async (tx) => {
        for (let i = 0; i < 5; i++) await appendAudit(tx, { tenantId: 'tx', claimId: 'c1', actor: 'test', action: 'step', fromState: 'a', toState: 'b', data: { i, nested: { z: 1, a: [1, 2] } } });
      });
      const ok = await verifyAudit(db);
      assert.equal(ok.ok, true, JSON.stringify(ok.problems));
      assert.equal(ok.entries, 5);

      await db.query(`UPDATE audit_log SET data = '{"i": 99}' WHERE seq = 2`);
      const altered = await verifyAudit(db);
      assert.equal(altered.ok, false);
      assert.ok(altered.problems.some((p) => p.problem === 'altered' && p.seq === 2));

      // Re-hashing the altered entry does not help: the next entry's link breaks.
      const { entryHash, rowToEntry } = await import('../../src/claims/audit.ts');
      const row = rowToEntry((await db.query('SELECT * FROM audit_log WHERE seq = 2')).rows[0]);
      const { hash: _h, ...rest } = row;
      await db.query('UPDATE audit_log SET hash = $1 WHERE seq = 2', [entryHash(rest)]);
      const relinked = await verifyAudit(db);
      assert.ok(relinked.problems.some((p) => p.problem === 'broken_link' && p.seq === 3));

      await db.query('DELETE FROM audit_log WHERE seq = 2');
      const deleted = await verifyAudit(db);
      assert.ok(deleted.problems.some((p) => p.problem === 'missing' && p.seq === 2));
    });

    test('audit chain: deleting the newest entry is detected through the head', async () => {
      await db.query('DELETE FROM audit_log');
      await db.query(`UPDATE audit_head SET seq = 0, hash = $1`, ['0'.repeat(64)]);
      await db.transaction(async (tx) => {
        for (let i = 0; i < 3; i++) await appendAudit(tx, { tenantId: 'tx', actor: 'test', action: 'x', data: { i } });
      });
      assert.equal((await verifyAudit(db)).ok, true);
      await db.query('DELETE FROM audit_log WHERE seq = 3');
      const v = await verifyAudit(db);
      assert.equal(v.ok, false);
      assert.ok(v.problems.some((p) => p.problem === 'head_mismatch'));
      await db.close();
    });
  });
}

describe('PGlite on its own thread', () => {
  test('statements of a transaction wait for it; others queue behind it; errors keep their code', async () => {
    const db = await openPgliteThread(undefined);
    try {
      await db.exec('CREATE TABLE t (id int PRIMARY KEY, v text, at timestamptz, b bytea, j jsonb)');
      const order: string[] = [];
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const tx = db.transaction(async (q) => {
        await q.query('INSERT INTO t (id, v) VALUES (1, $1)', ['in tx']);
        order.push('tx insert');
        await gate;
        await q.query('UPDATE t SET v = $1 WHERE id = 1', ['tx done']);
        order.push('tx update');
        return 'committed';
      });
      // A statement outside the transaction runs only after it commits (one connection).
      await new Promise((r) => setTimeout(r, 30));
      const outside = db.query<{ v: string }>('SELECT v FROM t WHERE id = 1').then((r) => {
        order.push('outside read');
        return r.rows[0]?.v;
      });
      await new Promise((r) => setTimeout(r, 30));
      release();
      assert.equal(await tx, 'committed');
      assert.equal(await outside, 'tx done');
      assert.deepEqual(order, ['tx insert', 'tx update', 'outside read']);

      // Values cross the thread with their types.
      const at = new Date('2026-12-04T06:00:00.000Z');
      await db.query('INSERT INTO t (id, v, at, b, j) VALUES (2, $1, $2, $3, $4)', ['x', at, new Uint8Array([1, 2, 255]), JSON.stringify({ a: [1, 'z'] })]);
      const row = (await db.query('SELECT at, b, j FROM t WHERE id = 2')).rows[0];
      assert.ok(row.at instanceof Date && row.at.getTime() === at.getTime());
      assert.deepEqual([...row.b], [1, 2, 255]);
      assert.deepEqual(row.j, { a: [1, 'z'] });

      // A thrown error rolls back; a PostgreSQL error keeps its SQLSTATE.
      await assert.rejects(db.transaction(async (q) => {
        await q.query('INSERT INTO t (id, v) VALUES (3, $1)', ['rolled back']);
        throw new Error('stop');
      }), /stop/);
      assert.equal((await db.query('SELECT count(*)::int n FROM t WHERE id = 3')).rows[0].n, 0);
      // … with the ErrorResponse's other fields too (pg-wire.ts reads them; the thread passes them on).
      await assert.rejects(db.query('INSERT INTO t (id) VALUES (1)'), (e: unknown) => e instanceof DatabaseError && e.code === '23505' && e.table === 't' && e.constraint === 't_pkey' && e.severity === 'ERROR' && /already exists/.test(e.detail ?? ''));
      // The connection is usable after a failed statement inside a transaction.
      await assert.rejects(db.transaction(async (q) => {
        await q.query('INSERT INTO t (id) VALUES (1)');
      }), (e: unknown) => (e as DatabaseError).code === '23505');
      assert.equal((await db.query('SELECT count(*)::int n FROM t')).rows[0].n, 2);
    } finally {
      await db.close();
    }
    await assert.rejects(db.query('SELECT 1'), /exited|closed/);
  });

  test('a reply the serving thread cannot unpack fails the calls in flight instead of hanging them', async () => {
    const db = await openPgliteThread(undefined);
    try {
      // jsonb nested 3000 deep: packed on the database thread, too deep to unpack on this one
      const deep = '{"a":'.repeat(3000) + '1' + '}'.repeat(3000);
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.query('CREATE TABLE deep (j jsonb)');
          await tx.query('INSERT INTO deep VALUES ($1::jsonb)', [deep]);
          return tx.query('SELECT j FROM deep');
        }),
        /could not be read/,
      );
      // the transaction was rolled back, not left open: the next statements run
      assert.deepEqual((await db.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
      await assert.rejects(db.query('SELECT j FROM deep'), /does not exist/);
    } finally {
      await db.close();
    }
  });

  test('a data folder opened on the thread keeps its data for the next open', async () => {
    const dir = tempDir('claimlens-pglite-thread-');
    try {
      const a = await openPgliteThread(dir);
      await a.exec('CREATE TABLE k (v text)');
      await a.query('INSERT INTO k VALUES ($1)', ['kept']);
      await a.close();
      const b = await openPglite(dir);
      assert.deepEqual((await b.query('SELECT v FROM k')).rows, [{ v: 'kept' }]);
      await b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('new WAL segments are not zero-filled (no 16 MB write inside a commit)', async () => {
    const dir = tempDir('claimlens-pglite-wal-');
    try {
      for (const db of [await openPgliteThread(dir), await openPglite(undefined)]) {
        assert.equal((await db.query<{ wal_init_zero: string }>('SHOW wal_init_zero')).rows[0]!.wal_init_zero, 'off');
        await db.close();
      }
      // A segment switch, as under load: the new segment is created whole (sparse) and works.
      const segments = () => readdirSync(join(dir, 'pg_wal')).filter((f) => /^[0-9A-F]{24}$/.test(f)).length;
      const db = await openPglite(dir);
      await db.exec('CREATE TABLE w (v text)');
      const before = segments();
      await db.query('SELECT pg_switch_wal()');
      await db.query("INSERT INTO w SELECT repeat('x', 1000) FROM generate_series(1, 100)");
      assert.equal((await db.query('SELECT count(*)::int n FROM w')).rows[0].n, 100);
      await db.close();
      const after = segments();
      assert.ok(after > before, `a new segment (${before} → ${after})`);
      const again = await openPglite(dir);
      assert.equal((await again.query('SELECT count(*)::int n FROM w')).rows[0].n, 100, 'the data written after the switch is there on the next open');
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('file-system blobs', () => {
  const root = tempDir('claimlens-blobs-');
  after(() => rmSync(root, { recursive: true, force: true }));

  test('content-addressed, deduplicated, whole or absent', async () => {
    const store = new FsBlobStore(root);
    const bytes = randomBytes(300_000);
    const sha = await store.put(bytes);
    assert.equal(sha, sha256Hex(bytes));
    assert.equal(await store.put(bytes), sha);
    assert.deepEqual(await store.get(sha), bytes);
    assert.equal(await store.has(sha), true);
    assert.deepEqual(readdirSync(join(root, 'tmp')), [], 'no temporary file left');
    const missing = sha256Hex(Buffer.from('nope'));
    assert.equal(await store.has(missing), false);
    await assert.rejects(store.get(missing), BlobNotFoundError);
    // What a crash mid-write leaves: a partial temp file, never a file under a blob's name.
    const half = bytes.subarray(0, 1000);
    writeFileSync(join(root, 'tmp', `${sha256Hex(half)}.dead`), half);
    assert.equal(await store.has(sha256Hex(half)), false);
    assert.equal(existsSync(join(root, sha.slice(0, 2), sha.slice(2, 4), sha)), true);
    await assert.rejects(store.get('../../etc/passwd'));
  });
});
