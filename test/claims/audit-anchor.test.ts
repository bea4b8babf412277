// Audit anchors: the chain's head kept outside the database. A rewrite of the chain that keeps
// it consistent (every hash recomputed, the head moved) passes the plain check, as it must,
// and is caught by the anchors; on PGlite and on the PostgreSQL server here, through the
// library, the CLI on a data folder, and the running server's admin routes.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appendAudit, auditAnchor, entryHash, GENESIS_HASH, parseAnchors, rowToEntry, verifyAudit } from '../../src/claims/audit.ts';
import { migrate } from '../../src/store/migrations.ts';
import { openPglite } from '../../src/store/pglite.ts';
import type { SqlClient, SqlQueryable } from '../../src/store/sql.ts';
import { testDatabases } from '../helpers/databases.ts';
import { cli } from '../helpers/cli-process.ts';
import { startTestServer, tempDir } from '../http/helpers.ts';

const backends = testDatabases('anchor');

/**
 * What someone with write access to the database can do: change entry `seq`'s data (or, with
 * `truncateAfter`, drop every entry after that one) and recompute every later hash and the
 * head, so that the chain is consistent again.
 */
async function rewriteChain(db: SqlQueryable, o: { alter?: number; truncateAfter?: number }): Promise<void> {
  if (o.truncateAfter !== undefined) await db.query('DELETE FROM audit_log WHERE seq > $1', [o.truncateAfter]);
  const rows = (await db.query('SELECT * FROM audit_log ORDER BY seq')).rows;
  let prev = GENESIS_HASH;
  let last = { seq: 0, hash: GENESIS_HASH };
  for (const r of rows) {
    const e = rowToEntry(r);
    const data = e.seq === o.alter ? { ...(e.data as object), rewritten: true } : e.data;
    const { hash: _old, ...rest } = { ...e, data, prevHash: prev };
    const hash = entryHash(rest);
    await db.query('UPDATE audit_log SET data = $2, prev_hash = $3, hash = $4 WHERE seq = $1', [e.seq, JSON.stringify(data), prev, hash]);
    prev = hash;
    last = { seq: e.seq, hash };
  }
  await db.query('UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1', [last.seq, last.hash]);
}

async function append(db: SqlClient, n: number): Promise<void> {
  await db.transaction(async (tx) => {
    for (let i = 0; i < n; i++) await appendAudit(tx, { tenantId: 'tx', actor: 'test', action: 'step', data: { i } });
  });
}

for (const [name, open] of backends) {
  describe(`audit anchors on ${name}`, () => {
    test('entries slipped in below the chain (seq 0 or less) are reported, though no link leads to them', async () => {
      const db = await open();
      await migrate(db, []);
      await db.query(`INSERT INTO tenants (id, name) VALUES ('tx', 'tx') ON CONFLICT DO NOTHING`);
      await db.query('DELETE FROM audit_log');
      await db.query('UPDATE audit_head SET seq = 0, hash = $1 WHERE id = 1', [GENESIS_HASH]);
      await append(db, 4);
      assert.equal((await verifyAudit(db, 2)).ok, true);
      // a forged decision entry, as it would show first in a claim's history
      for (const seq of [0, -1]) {
        await db.query(
          `INSERT INTO audit_log (seq, tenant_id, claim_id, at, actor, action, from_state, to_state, data, prev_hash, hash)
           SELECT $1, tenant_id, claim_id, at, actor, 'decision.approve', from_state, to_state, data, prev_hash, hash FROM audit_log WHERE seq = 1`,
          [seq],
        );
      }
      const v = await verifyAudit(db, 2);
      assert.equal(v.ok, false);
      assert.deepEqual(v.problems.map((p) => [p.seq, p.problem]), [[-1, 'outside_chain'], [0, 'outside_chain']]);
      assert.equal(v.entries, 6);
      // the next test starts from an empty chain (on PostgreSQL the schema is shared)
      await db.query('DELETE FROM audit_log');
      await db.query('UPDATE audit_head SET seq = 0, hash = $1 WHERE id = 1', [GENESIS_HASH]);
    });

    test('a consistent rewrite passes the plain check and is caught by an anchor; so is a consistent truncation', async () => {
      const db = await open();
      await migrate(db, []);
      await db.query(`INSERT INTO tenants (id, name) VALUES ('tx', 'tx') ON CONFLICT DO NOTHING`);
      const empty = await auditAnchor(db);
      assert.deepEqual([empty.seq, empty.hash], [0, GENESIS_HASH]);
      await append(db, 5);
      const a5 = await auditAnchor(db);
      assert.equal(a5.seq, 5);
      await append(db, 3);
      const a8 = await auditAnchor(db);
      const intact = await verifyAudit(db, 3, [empty, a5, a8]);
      assert.deepEqual([intact.ok, intact.entries, intact.anchors], [true, 8, 3]);

      await rewriteChain(db, { alter: 3 });
      const plain = await verifyAudit(db);
      assert.equal(plain.ok, true, 'a consistent rewrite is invisible to the chain alone');
      const anchored = await verifyAudit(db, 3, [a5, a8]);
      assert.equal(anchored.ok, false);
      assert.deepEqual(anchored.problems.map((p) => [p.seq, p.problem]), [[5, 'anchor_mismatch'], [8, 'anchor_mismatch']]);
      assert.match(anchored.problems[0]!.message, /entry 5 no longer has the hash it was anchored at \S+ with: the chain was rewritten/);

      // Re-anchored after the rewrite, then the newest entries dropped and the head moved back.
      const b8 = await auditAnchor(db);
      await rewriteChain(db, { truncateAfter: 6 });
      assert.equal((await verifyAudit(db)).ok, true, 'a consistent truncation is invisible to the chain alone');
      const cut = await verifyAudit(db, 5000, [b8]);
      assert.deepEqual(cut.problems.map((p) => [p.seq, p.problem]), [[8, 'anchor_mismatch']]);
      assert.match(cut.problems[0]!.message, /entry 8, anchored at \S+, is gone/);
    });
  });
}

test('anchors are read one JSON object a line, strictly', () => {
  const h = 'a'.repeat(64);
  assert.deepEqual(parseAnchors(`{"seq":3,"hash":"${h}","at":"x"}\n\n{"seq":0,"hash":"${h}"}\n`), [
    { seq: 3, hash: h, at: 'x' },
    { seq: 0, hash: h, at: '' },
  ]);
  assert.throws(() => parseAnchors('not json'), /anchor line 1 is not JSON/);
  assert.throws(() => parseAnchors(`{"seq":1,"hash":"${h}"}\n{"seq":-1,"hash":"${h}"}`), /anchor line 2 needs a whole "seq" ≥ 0 and a 64-hex "hash"/);
  assert.throws(() => parseAnchors('{"seq":1,"hash":"abc"}'), /64-hex/);
});

test('audit anchor and verify --anchors: on the data folder, and through the running server', async () => {
  const dataDir = tempDir();
  const adminToken = randomBytes(16).toString('hex');
  const s = await startTestServer({ dataDir, adminToken }); // its keys are audit entries
  const admin = { 'x-admin-token': adminToken };
  const head = await (await fetch(`${s.url}/admin/audit/head`, { headers: admin })).json();
  assert.ok(head.seq >= 5, JSON.stringify(head));
  const viaServer = await fetch(`${s.url}/admin/audit/verify`, { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ anchors: [head] }) });
  assert.equal(viaServer.status, 200);
  assert.deepEqual(await viaServer.json(), { ok: true, entries: head.seq, headSeq: head.seq, problems: [], anchors: 1 });
  const badBody = await fetch(`${s.url}/admin/audit/verify`, { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ anchors: [{ seq: 1, hash: 'x' }] }) });
  assert.equal(badBody.status, 400);
  assert.equal((await fetch(`${s.url}/admin/audit/head`, { headers: { 'x-admin-token': 'nope' } })).status, 401);
  // (the blob sweep's admin route, on the same server: a grace past 10 years is the caller's error, not a 500)
  const hugeGrace = await fetch(`${s.url}/admin/blobs/sweep`, { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ graceMs: 999_999_999 * 86_400_000, dryRun: true }) });
  assert.equal(hugeGrace.status, 400, await hugeGrace.text());
  await s.close({ keepData: true });

  // Stopped: the commands open the folder themselves.
  const anchorRun = cli('audit', 'anchor', '--data', dataDir);
  assert.equal(anchorRun.status, 0, anchorRun.stderr);
  const anchor = JSON.parse(anchorRun.stdout);
  assert.deepEqual([anchor.seq, anchor.hash], [head.seq, head.hash]);
  const anchorDir = tempDir();
  const anchors = join(anchorDir, 'anchors.jsonl');
  writeFileSync(anchors, anchorRun.stdout);
  const ok = cli('audit', 'verify', '--data', dataDir, '--anchors', anchors);
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, new RegExp(`audit chain intact: ${head.seq} entries; 1 anchors match`));

  const db = await openPglite(join(dataDir, 'pgdata'));
  await rewriteChain(db, { alter: 2 });
  await db.close();
  assert.equal(cli('audit', 'verify', '--data', dataDir).status, 0, 'the rewrite is consistent');
  const caught = cli('audit', 'verify', '--data', dataDir, '--anchors', anchors);
  assert.equal(caught.status, 1, caught.stdout);
  assert.match(caught.stdout, new RegExp(`entry ${head.seq}: anchor_mismatch: entry ${head.seq} no longer has the hash`));

  writeFileSync(anchors, '{"seq":1}\n');
  const malformed = cli('audit', 'verify', '--data', dataDir, '--anchors', anchors);
  assert.equal(malformed.status, 2);
  assert.match(malformed.stderr, /--anchors: anchor line 1 needs a whole "seq"/);
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(anchorDir, { recursive: true, force: true });
});
