// The S3 blob store against a real S3-compatible HTTP server on 127.0.0.1: moto's server
// (Python), when it is installed on the machine; skipped with a message otherwise.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { BlobNotFoundError, S3BlobStore, s3SettingsFromEnv, sha256Hex } from '../../src/store/blobs.ts';
import { sweepOrphanBlobs } from '../../src/store/blob-sweep.ts';
import { migrate } from '../../src/store/migrations.ts';
import { openPglite } from '../../src/store/pglite.ts';

const hasMoto = spawnSync('python3', ['-c', 'import moto.server'], { encoding: 'utf8' }).status === 0;
let server: ChildProcess | undefined;
let endpoint = '';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

before(async () => {
  if (!hasMoto) return;
  const port = await freePort();
  endpoint = `http://127.0.0.1:${port}`;
  server = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const t0 = Date.now();
  while (Date.now() - t0 < 30_000) {
    try {
      await fetch(endpoint);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
});
after(() => {
  server?.kill();
});

test('S3 blob store: put, dedupe, get, has, missing', { skip: hasMoto ? false : 'moto (python3 -m moto.server) is not installed' }, async () => {
  process.env.AWS_ACCESS_KEY_ID = 'test';
  process.env.AWS_SECRET_ACCESS_KEY = 'test';
  const settings = s3SettingsFromEnv({ S3_BUCKET: 'claimlens-test', S3_ENDPOINT: endpoint, S3_REGION: 'us-east-1' });
  assert.ok(settings);
  assert.equal(settings.forcePathStyle, true);
  const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
  await new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true }).send(new CreateBucketCommand({ Bucket: 'claimlens-test' }));
  const store = new S3BlobStore(settings);
  const bytes = randomBytes(300_000);
  const sha = await store.put(bytes);
  assert.equal(sha, sha256Hex(bytes));
  assert.equal(await store.put(bytes), sha);
  assert.equal(await store.has(sha), true);
  assert.deepEqual(await store.get(sha), bytes);
  const missing = sha256Hex(Buffer.from('missing'));
  assert.equal(await store.has(missing), false);
  await assert.rejects(store.get(missing), BlobNotFoundError);
});

test('S3 blob store: the orphan sweep removes unnamed objects only, and a put renews an object', { skip: hasMoto ? false : 'moto (python3 -m moto.server) is not installed' }, async () => {
  process.env.AWS_ACCESS_KEY_ID = 'test';
  process.env.AWS_SECRET_ACCESS_KEY = 'test';
  const bucket = 'claimlens-sweep';
  const settings = s3SettingsFromEnv({ S3_BUCKET: bucket, S3_ENDPOINT: endpoint, S3_REGION: 'us-east-1', S3_PREFIX: 'blobs/' });
  assert.ok(settings);
  const { S3Client, CreateBucketCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  // Not a blob of ours (another prefix, and a name under ours that is not a hash): never listed.
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'other/readme.txt', Body: 'x' }));
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'blobs/readme.txt', Body: 'x' }));
  const store = new S3BlobStore(settings);
  const named = randomBytes(2000);
  const orphan = randomBytes(3000);
  const [shaNamed, shaOrphan] = [await store.put(named), await store.put(orphan)];
  const listed = [];
  for await (const b of store.list()) listed.push([b.sha256, b.size]);
  assert.deepEqual(listed.sort(), [[shaNamed, 2000], [shaOrphan, 3000]].sort());

  const db = await openPglite(undefined);
  await migrate(db, []);
  await db.query('INSERT INTO blobs (sha256, size) VALUES ($1, $2)', [shaNamed, named.length]);
  const later = Date.now() + 2 * 3_600_000; // both objects are then older than the grace period
  const dry = await sweepOrphanBlobs(db, store, { now: later, dryRun: true });
  assert.deepEqual([dry.scanned, dry.referenced, dry.orphans, dry.removed], [2, 1, 1, 0]);
  assert.equal(await store.has(shaOrphan), true);
  const r = await sweepOrphanBlobs(db, store, { now: later });
  assert.deepEqual([r.orphans, r.removed, r.bytesFreed], [1, 1, 3000]);
  assert.equal(await store.has(shaOrphan), false);
  assert.deepEqual(await store.get(shaNamed), named);

  // A put of stored bytes writes them again: an object listed as old and uploaded again
  // before its removal is kept. (LastModified has whole seconds.)
  const before = Date.now() - 5000;
  await store.put(named);
  assert.equal(await store.removeIfWrittenBefore(shaNamed, before), 0);
  assert.equal(await store.removeIfWrittenBefore(shaOrphan, later), 0, 'gone already');
  await db.close();
});
