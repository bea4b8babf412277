// Blob files written with O_DIRECT by the intake threads (src/store/direct-write.ts): the
// bytes on disk are the upload's, whatever its size against the 1 MiB staging memory and the
// 4096-byte block; the flag is really used (strace) for a large upload and not for a small
// one or with direct writes off; and when the file system refuses O_DIRECT (an EINVAL injected
// by strace into the real write), the blob is written through the page cache instead, and
// the thread stops trying.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsBlobStore } from '../../src/store/blobs.ts';

const fixture = new URL('./fixtures/write-blobs.ts', import.meta.url).pathname;
const hasStrace = spawnSync('strace', ['-V']).status === 0;

interface Written {
  sha256: string;
  size: number;
  tmpPath?: string;
}

function writeBlobs(root: string, o: { fsync: boolean; direct: boolean; sizes: number[]; place?: boolean }, strace?: string[]): Written[] {
  const args = ['--import', 'tsx', fixture, root, o.fsync ? '1' : '0', o.direct ? '1' : '0', o.sizes.join(','), o.place === false ? '0' : '1'];
  const r = strace ? spawnSync('strace', [...strace, process.execPath, ...args], { encoding: 'utf8' }) : spawnSync(process.execPath, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Written[];
}

function blobPath(root: string, sha: string): string {
  return join(root, sha.slice(0, 2), sha.slice(2, 4), sha);
}

/** The file holds exactly the bytes named by its hash, readable only by its owner. */
function assertBlob(path: string, w: Written): void {
  const bytes = readFileSync(path);
  assert.equal(bytes.length, w.size, `${path}: size`);
  assert.equal(createHash('sha256').update(bytes).digest('hex'), w.sha256, `${path}: content`);
  assert.equal(statSync(path).mode & 0o777, 0o600);
}

// Around the block (4096) and the staging memory (1 MiB): exact multiples, one byte over, several chunks.
const SIZES = [65_536, 300_000, 4096 * 100 + 1, 1 << 20, (1 << 20) + 1, 2_621_447, 1000];

for (const fsync of [false, true]) {
  test(`O_DIRECT blob files hold exactly the upload's bytes (fsync ${fsync ? 'on' : 'off'})`, () => {
    const root = mkdtempSync(join(tmpdir(), 'claimlens-direct-'));
    try {
      const written = writeBlobs(root, { fsync, direct: true, sizes: SIZES });
      assert.equal(written.length, SIZES.length);
      for (const w of written) assertBlob(blobPath(root, w.sha256), w);
      assert.deepEqual(readdirSync(join(root, 'tmp')), [], 'no temp file left');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}

test('an O_DIRECT temp file (several files in one request) is named by adopt with its bytes intact', async () => {
  const root = mkdtempSync(join(tmpdir(), 'claimlens-direct-'));
  try {
    const written = writeBlobs(root, { fsync: false, direct: true, sizes: [300_000, 1_500_001], place: false });
    const store = new FsBlobStore(root, { fsync: false });
    for (const w of written) {
      assert.ok(w.tmpPath, 'a temp file is returned');
      assertBlob(w.tmpPath!, w);
      await store.adopt(w.tmpPath!, w.sha256);
      assertBlob(blobPath(root, w.sha256), w);
      assert.deepEqual(await store.get(w.sha256), readFileSync(blobPath(root, w.sha256)));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

/** The flags each blob temp file was opened with, in order (strace). */
function openFlags(trace: string, root: string): { path: string; direct: boolean }[] {
  return readFileSync(trace, 'utf8')
    .split('\n')
    .filter((l) => /openat\(/.test(l) && l.includes(join(root, 'tmp') + '/') && /O_CREAT/.test(l))
    .map((l) => ({ path: l.match(/"([^"]+)"/)![1]!, direct: /O_DIRECT/.test(l) }));
}

test('O_DIRECT is used for a large upload, not for a small one nor with direct writes off', { skip: !hasStrace && 'strace is not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'claimlens-direct-'));
  try {
    const trace = join(dir, 'trace.txt');
    const on = join(dir, 'on');
    writeBlobs(on, { fsync: false, direct: true, sizes: [300_000, 4] }, ['-f', '-e', 'trace=openat', '-o', trace]);
    assert.deepEqual(openFlags(trace, on).map((o) => o.direct), [true, false]);
    const off = join(dir, 'off');
    writeBlobs(off, { fsync: false, direct: false, sizes: [300_000] }, ['-f', '-e', 'trace=openat', '-o', trace]);
    assert.deepEqual(openFlags(trace, off).map((o) => o.direct), [false]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file system that refuses O_DIRECT: the blob is written through the page cache, and later ones too', { skip: !hasStrace && 'strace is not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'claimlens-direct-'));
  try {
    const trace = join(dir, 'trace.txt');
    const root = join(dir, 'blobs');
    // The first positional write of the process is the blob's O_DIRECT write (the page-cache
    // path writes without a position); the kernel is made to answer it with EINVAL.
    const written = writeBlobs(root, { fsync: true, direct: true, sizes: [300_000, 200_000] }, ['-f', '-e', 'trace=openat,pwrite64', '-e', 'inject=pwrite64:error=EINVAL:when=1', '-o', trace]);
    const lines = readFileSync(trace, 'utf8').split('\n');
    const injected = lines.filter((l) => /INJECTED/.test(l));
    assert.equal(injected.length, 1, 'one write refused');
    const opens = openFlags(trace, root);
    // The refused file again without O_DIRECT, under the same name; the next blob never tries it.
    assert.deepEqual(opens.map((o) => o.direct), [true, false, false]);
    assert.equal(opens[0]!.path, opens[1]!.path);
    for (const w of written) assertBlob(blobPath(root, w.sha256), w);
    assert.deepEqual(readdirSync(join(root, 'tmp')), [], 'no temp file left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
