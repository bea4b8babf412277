// The S3 blob store against a real S3-compatible HTTP server on 127.0.0.1: moto's server
// (Python), when it is installed on the machine; skipped with a message otherwise.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { BlobNotFoundError, S3BlobStore, s3SettingsFromEnv, sha256Hex } from '../../src/store/blobs.ts';

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
