// The intake thread pool: what comes back from a thread, and what it leaves in the blob store.
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { IntakeError } from '../../src/forensics/errors.ts';
import { IntakePool } from '../../src/jobs/intake-pool.ts';
import { FsBlobStore } from '../../src/store/blobs.ts';
import { pictureJpeg } from '../helpers/labels.ts';

let pool: IntakePool;
let dir: string;
let store: FsBlobStore;
let photo: Buffer;

before(async () => {
  pool = new IntakePool(1, 'structural');
  dir = mkdtempSync(join(tmpdir(), 'claimlens-intake-pool-'));
  store = new FsBlobStore(join(dir, 'blobs'));
  photo = await pictureJpeg(320, 240, 7);
});
after(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('without a blob placement the bytes are moved to the thread and back', async () => {
  const input = Buffer.from(photo); // a buffer of its own, so it is moved, not copied
  const s = await pool.intake(input, { name: 'p.jpg' });
  assert.equal(s.sha256, sha(photo));
  assert.deepEqual([s.width, s.height, s.format], [320, 240, 'jpeg']);
  assert.equal(input.byteLength, 0, "the caller's view is detached by the move");
  assert.ok(s.bytes && Buffer.from(s.bytes).equals(photo), 'the bytes come back whole');
  assert.equal(s.stored, undefined);
});

test('a stored upload is not sent back: the thread wrote it and the caller needs only the summary', async () => {
  const s = await pool.intake(Buffer.from(photo), { name: 'p.jpg' }, { ...store.direct, place: true });
  assert.equal(s.stored, true);
  assert.equal(s.bytes, undefined);
  assert.ok((await store.get(sha(photo))).equals(photo), 'the blob is in the store under its hash');
});

test('with several files the thread leaves a temp file to be named, and sends no bytes back', async () => {
  const other = await pictureJpeg(200, 100, 8);
  const s = await pool.intake(Buffer.from(other), {}, { ...store.direct, place: false });
  assert.equal(s.bytes, undefined);
  assert.ok(s.tmpPath && existsSync(s.tmpPath));
  assert.ok(readFileSync(s.tmpPath).equals(other));
  await store.adopt(s.tmpPath, s.sha256);
  assert.ok((await store.get(sha(other))).equals(other));
});

test('a truncated upload is refused with a typed error and leaves nothing in the store', async () => {
  const before = readdirSync(store.direct.tmp).length;
  const cut = photo.subarray(0, Math.floor(photo.length / 2));
  await assert.rejects(pool.intake(Buffer.from(cut), {}, { ...store.direct, place: true }), (e: unknown) => e instanceof IntakeError && e.code === 'truncated');
  assert.equal(readdirSync(store.direct.tmp).length, before, 'no temp file left');
  await assert.rejects(store.get(sha(cut)));
});
