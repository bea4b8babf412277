// The orphan-blob sweep on the file-system blob store, with PGlite and with the PostgreSQL
// server on this machine: what no `blobs` row names and is older than the grace period goes,
// everything else stays; a blob written again meanwhile stays; stale temp files go.
// (The S3 store's side is in s3.test.ts, against moto's S3 server.)

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FsBlobStore, sha256Hex } from '../../src/store/blobs.ts';
import { GraceTooShortError, SWEEP_TASK, parseDuration, scheduleNextSweep, sweepIntervalFromEnv, sweepOrphanBlobs, type BlobSweepReport } from '../../src/store/blob-sweep.ts';
import { enqueue } from '../../src/jobs/queue.ts';
import { migrate } from '../../src/store/migrations.ts';
import { startTestServer, tempDir } from '../http/helpers.ts';
import { testDatabases } from '../helpers/databases.ts';

const HOUR = 3_600_000;
const backends = testDatabases('sweep');

/** Sets a file's times to `ms` before now. */
function age(path: string, ms: number): void {
  const t = new Date(Date.now() - ms);
  utimesSync(path, t, t);
}

for (const [name, open] of backends) {
  describe(`blob sweep, file system + ${name}`, () => {
    test('removes old unnamed blobs and stale temp files, keeps named and recent ones', async () => {
      const db = await open();
      await migrate(db, []);
      const root = tempDir();
      const store = new FsBlobStore(root, { fsync: false });
      const named = randomBytes(5000);
      const orphan = randomBytes(7000);
      const recentOrphan = randomBytes(3000);
      const [shaNamed, shaOrphan, shaRecent] = [await store.put(named), await store.put(orphan), await store.put(recentOrphan)];
      await db.query('INSERT INTO blobs (sha256, size) VALUES ($1, $2)', [shaNamed, named.length]);
      age(store.filePath(shaNamed), 2 * HOUR);
      age(store.filePath(shaOrphan), 2 * HOUR);
      // A write a crash cut off, and one in progress.
      const staleTmp = join(root, 'tmp', `${sha256Hex(Buffer.from('x'))}.aaaaaaaaaaaa`);
      const liveTmp = join(root, 'tmp', `${sha256Hex(Buffer.from('y'))}.bbbbbbbbbbbb`);
      writeFileSync(staleTmp, Buffer.alloc(1234));
      writeFileSync(liveTmp, Buffer.alloc(99));
      age(staleTmp, 2 * HOUR);
      // Not blobs: left alone whatever their age.
      writeFileSync(join(root, 'README'), 'not a blob');
      age(join(root, 'README'), 2 * HOUR);

      const dry = await sweepOrphanBlobs(db, store, { dryRun: true });
      assert.deepEqual(
        { scanned: dry.scanned, recent: dry.recent, referenced: dry.referenced, orphans: dry.orphans, orphanBytes: dry.orphanBytes, removed: dry.removed, tempFilesRemoved: dry.tempFilesRemoved },
        { scanned: 3, recent: 1, referenced: 1, orphans: 1, orphanBytes: 7000, removed: 0, tempFilesRemoved: 0 },
      );
      assert.equal(existsSync(store.filePath(shaOrphan)), true, 'a dry run removes nothing');
      assert.equal(existsSync(staleTmp), true);

      const r = await sweepOrphanBlobs(db, store, { batch: 1 });
      assert.deepEqual(
        { orphans: r.orphans, removed: r.removed, bytesFreed: r.bytesFreed, tempFilesRemoved: r.tempFilesRemoved, tempBytesFreed: r.tempBytesFreed, dryRun: r.dryRun, graceMs: r.graceMs },
        { orphans: 1, removed: 1, bytesFreed: 7000, tempFilesRemoved: 1, tempBytesFreed: 1234, dryRun: false, graceMs: HOUR },
      );
      assert.equal(existsSync(store.filePath(shaOrphan)), false);
      assert.deepEqual(await store.get(shaNamed), named);
      assert.deepEqual(await store.get(shaRecent), recentOrphan);
      assert.equal(existsSync(staleTmp), false);
      assert.equal(existsSync(liveTmp), true);
      assert.equal(existsSync(join(root, 'README')), true);
      assert.deepEqual(readdirSync(join(root, 'tmp')).sort(), [liveTmp.split('/').pop()], 'nothing of the sweep left in tmp');

      // Two hours on, the recent orphan is old enough too; the named blob stays whatever its age.
      const later = await sweepOrphanBlobs(db, store, { now: Date.now() + 2 * HOUR });
      assert.equal(later.removed, 1);
      assert.equal(existsSync(store.filePath(shaRecent)), false);
      assert.deepEqual(await store.get(shaNamed), named);
      const again = await sweepOrphanBlobs(db, store, { now: Date.now() + 2 * HOUR });
      assert.deepEqual({ scanned: again.scanned, orphans: again.orphans, removed: again.removed }, { scanned: 1, orphans: 0, removed: 0 });
    });
  });
}

test('a blob written again after it was listed is kept (the upload of the same bytes wins)', async () => {
  const store = new FsBlobStore(tempDir(), { fsync: false });
  const bytes = randomBytes(4096);
  const sha = await store.put(bytes);
  age(store.filePath(sha), 2 * HOUR);
  const cutoff = Date.now() - HOUR;
  const listed = [];
  for await (const b of store.list()) listed.push(b);
  assert.deepEqual(listed.map((b) => [b.sha256, b.size, b.writtenAt < cutoff]), [[sha, 4096, true]], 'listed as old');
  await store.put(bytes); // a new upload of the same photo, between the listing and the removal
  assert.equal(await store.removeIfWrittenBefore(sha, cutoff), 0);
  assert.deepEqual(await store.get(sha), bytes);
  assert.deepEqual(readdirSync(join(store.root, 'tmp')), [], 'the file moved aside went back');
  // Once old again, it goes; a second removal finds nothing.
  age(store.filePath(sha), 2 * HOUR);
  assert.equal(await store.removeIfWrittenBefore(sha, cutoff), 4096);
  assert.equal(await store.removeIfWrittenBefore(sha, cutoff), 0);
  assert.equal(await store.has(sha), false);
});

test('a blob a crashed sweep left set aside goes back under its name, and is then judged like any other', async () => {
  const db = await backends[0]![1]();
  await migrate(db, []);
  const store = new FsBlobStore(tempDir(), { fsync: false });
  const named = randomBytes(3000);
  const sha = sha256Hex(named);
  await db.query('INSERT INTO blobs (sha256, size) VALUES ($1, $2)', [sha, named.length]);
  // As if a sweep had moved the file aside and the process died before it looked again.
  const aside = join(store.root, 'tmp', `sweep-${sha}.0123456789ab`);
  writeFileSync(aside, named);
  age(aside, 3 * HOUR);
  const r = await sweepOrphanBlobs(db, store);
  assert.deepEqual([r.restored, r.scanned, r.referenced, r.orphans, r.tempFilesRemoved], [1, 1, 1, 0, 0]);
  assert.deepEqual(await store.get(sha), named);
  assert.equal(existsSync(aside), false);
});

test('the grace period has a floor, and durations are parsed strictly', async () => {
  const store = new FsBlobStore(tempDir(), { fsync: false });
  const db = await backends[0]![1]();
  await assert.rejects(sweepOrphanBlobs(db, store, { graceMs: 59_000 }), GraceTooShortError);
  await assert.rejects(sweepOrphanBlobs(db, store, { graceMs: Number.NaN }), GraceTooShortError);
  assert.equal(parseDuration('90m'), 90 * 60_000);
  assert.equal(parseDuration('2h'), 2 * HOUR);
  assert.equal(parseDuration('1d'), 24 * HOUR);
  assert.equal(parseDuration('75s'), 75_000);
  for (const bad of ['', '1', '1.5h', '-1h', '1w', 'h', '2 h x']) assert.throws(() => parseDuration(bad), /a duration is a whole number/, bad);
});

test('the scheduled sweep: a named background job per slot, queued once, which sweeps and queues the next', async () => {
  const reports: BlobSweepReport[] = [];
  const s = await startTestServer({ blobSweepIntervalMs: HOUR, service: { onBlobSweep: (r) => reports.push(r) } });
  try {
    const db = s.rt.store.db;
    const slotJobs = async () =>
      (await db.query<{ dedupe_key: string; run_at: Date | string; state: string }>(`SELECT dedupe_key, run_at, state FROM jobs WHERE task = $1 ORDER BY run_at`, [SWEEP_TASK])).rows;
    // The start queued the next slot: the next whole hour.
    const first = await slotJobs();
    assert.equal(first.length, 1);
    const next = Math.floor(Date.now() / HOUR + 1) * HOUR;
    assert.equal(new Date(first[0]!.run_at).getTime(), next);
    assert.equal(s.rt.nextBlobSweep?.getTime(), next);
    // Another process starting (or a sweep finishing) queues the same slot: still one job.
    await scheduleNextSweep(db, HOUR);
    assert.equal((await slotJobs()).length, 1);

    // An old orphan and an old named blob; then the job of a slot that is due now.
    const blobs = s.rt.store.blobs as FsBlobStore;
    const orphan = await blobs.put(randomBytes(2048));
    const named = await blobs.put(randomBytes(1024));
    await db.query('INSERT INTO blobs (sha256, size) VALUES ($1, 1024)', [named]);
    age(blobs.filePath(orphan), 2 * HOUR);
    age(blobs.filePath(named), 2 * HOUR);
    await enqueue(db, SWEEP_TASK, { slot: 0, intervalMs: HOUR }, { dedupeKey: `${SWEEP_TASK}:test-now` });
    s.rt.runner!.wake();
    const t0 = Date.now();
    while (reports.length === 0 && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 50));
    assert.equal(reports.length, 1, 'the due job ran');
    assert.deepEqual([reports[0]!.orphans, reports[0]!.removed, reports[0]!.bytesFreed], [1, 1, 2048]);
    assert.equal(await blobs.has(orphan), false);
    assert.equal(await blobs.has(named), true);
    const after = await slotJobs();
    assert.deepEqual(after.map((j) => j.state).sort(), ['done', 'queued'], 'the due job done, the next slot still queued once');
  } finally {
    await s.close();
  }
});

test('a process whose schedule is off runs a due sweep job but queues no next one; the daily slot is 20:00 UTC', async () => {
  const reports: BlobSweepReport[] = [];
  const s = await startTestServer({ service: { onBlobSweep: (r) => reports.push(r) } });
  try {
    const db = s.rt.store.db;
    // Queued by a process that had a daily schedule; run by this one, which has none.
    await enqueue(db, SWEEP_TASK, { slot: 1, intervalMs: 24 * HOUR }, { dedupeKey: `${SWEEP_TASK}:old-schedule` });
    s.rt.runner!.wake();
    const t0 = Date.now();
    while (reports.length === 0 && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 50));
    assert.equal(reports.length, 1);
    const rows = (await db.query<{ state: string }>('SELECT state FROM jobs WHERE task = $1', [SWEEP_TASK])).rows;
    assert.deepEqual(rows.map((r) => r.state), ['done'], 'the schedule ended');
    // The daily slot: 20:00 UTC (04:00 in China), the next one after `now`.
    const at = await scheduleNextSweep(db, 24 * HOUR, Date.parse('2026-12-05T20:00:00.000Z'));
    assert.equal(at.toISOString(), '2026-12-06T20:00:00.000Z');
    const at2 = await scheduleNextSweep(db, 24 * HOUR, Date.parse('2026-12-05T19:59:59.000Z'));
    assert.equal(at2.toISOString(), '2026-12-05T20:00:00.000Z');
    assert.equal((await scheduleNextSweep(db, 6 * HOUR, Date.parse('2026-12-05T03:00:00.000Z'))).toISOString(), '2026-12-05T08:00:00.000Z');
  } finally {
    await s.close();
  }
});

test('CLAIMLENS_BLOB_SWEEP_HOURS: 24 by default, 0 for none, refused otherwise', () => {
  assert.equal(sweepIntervalFromEnv({}), 24 * HOUR);
  assert.equal(sweepIntervalFromEnv({ CLAIMLENS_BLOB_SWEEP_HOURS: '6' }), 6 * HOUR);
  assert.equal(sweepIntervalFromEnv({ CLAIMLENS_BLOB_SWEEP_HOURS: '0' }), 0);
  for (const bad of ['-1', '1.5', 'daily']) assert.throws(() => sweepIntervalFromEnv({ CLAIMLENS_BLOB_SWEEP_HOURS: bad }), /CLAIMLENS_BLOB_SWEEP_HOURS must be a whole number of hours/);
});
