// Blob durability on the file system, checked on the system calls themselves (strace): with
// fsync on (PostgreSQL), each blob's bytes are flushed before the rename that names it, its
// folder after the rename, and a new fan-out folder's parents when it is made; with fsync off
// (PGlite, which never flushes) no fsync at all. Skipped where strace is missing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const hasStrace = spawnSync('strace', ['-V']).status === 0;
const fixture = new URL('./fixtures/put-blob.ts', import.meta.url).pathname;

function trace(fsync: boolean): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'claimlens-blob-sync-'));
  try {
    const out = join(dir, 'trace.txt');
    const r = spawnSync('strace', ['-f', '-y', '-e', 'trace=fsync,fdatasync,rename,renameat,renameat2', '-o', out, process.execPath, '--import', 'tsx', fixture, join(dir, 'blobs'), fsync ? '1' : '0'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    // Only the calls on the blob store's own files (not Node's or tsx's).
    return readFileSync(out, 'utf8').split('\n').filter((l) => l.includes(join(dir, 'blobs')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('with fsync on: bytes flushed before the rename, the folder after it, new folders in their parents', { skip: !hasStrace && 'strace is not installed' }, () => {
  const lines = trace(true);
  const renames = lines.map((l, i) => [l, i] as const).filter(([l]) => /rename/.test(l));
  assert.equal(renames.length, 2, lines.join('\n'));
  for (const [line, at] of renames) {
    const [, from, to] = line.match(/"([^"]+)", [^"]*"([^"]+)"/)!;
    const folder = to!.slice(0, to!.lastIndexOf('/'));
    const fileSync = lines.findIndex((l) => /fsync/.test(l) && l.includes(`<${from}>`));
    const folderSync = lines.findIndex((l, i) => i > at && /fsync/.test(l) && l.includes(`<${folder}>`));
    assert.ok(fileSync >= 0 && fileSync < at, `the bytes of ${from} are flushed before the rename`);
    assert.ok(folderSync > at, `${folder} is flushed after the rename`);
    // Each blob went to a new fan-out folder: its parent and the store's root were flushed.
    const parent = folder.slice(0, folder.lastIndexOf('/'));
    assert.ok(lines.some((l, i) => i < at && /fsync/.test(l) && l.includes(`<${parent}>`)), `${parent} flushed for its new folder`);
  }
});

test('with fsync off: no fsync of any blob file or folder', { skip: !hasStrace && 'strace is not installed' }, () => {
  const lines = trace(false);
  assert.equal(lines.filter((l) => /rename/.test(l)).length, 2, lines.join('\n'));
  assert.deepEqual(lines.filter((l) => /fsync|fdatasync/.test(l)), []);
});
