// `claimlens hash` end to end: the real CLI in a child process, compared with the C++
// reference tool's output for the same files (../shared/pdq/cpp-reference.tsv).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, sharedPath } from '../helpers/shared.ts';

const run = promisify(execFile);

async function claimlens(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(REPO_ROOT, 'bin', 'claimlens.mjs'), ...args], { cwd: REPO_ROOT, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const reference = new Map(
  readFileSync(sharedPath('pdq', 'cpp-reference.tsv'), 'utf8').trim().split('\n').slice(1)
    .map((l) => l.split('\t'))
    .map(([file, hash, quality, dih]) => [file!, { hash: hash!, quality: Number(quality), dihedral: dih!.split(',') }]),
);
const img = (f: string) => sharedPath('pdq', 'images', f);

test('prints hash,quality,file lines like the reference tool', async () => {
  const files = ['bridge-mods/aaa-orig.jpg', 'misc-images/c.png', 'reg-test-input/labelme-subset/q0003.jpg'];
  const r = await claimlens('hash', ...files.map(img));
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 3);
  for (const [i, f] of files.entries()) {
    const ref = reference.get(f)!;
    assert.equal(lines[i], `${ref.hash},${ref.quality},${img(f)}`);
  }
});

test('--dihedral prints the 8 variants on one line, --json the documented shape', async () => {
  const f = 'reg-test-input/dih/bridge-1-original.jpg';
  const ref = reference.get(f)!;
  const text = await claimlens('hash', '--dihedral', img(f));
  assert.equal(text.code, 0);
  assert.equal(text.stdout.trim(), `${ref.dihedral.join(',')},${ref.quality},${img(f)}`);

  const json = await claimlens('hash', '--json', '--dihedral', img(f));
  assert.equal(json.code, 0);
  const doc = JSON.parse(json.stdout) as { images: Array<Record<string, unknown>> };
  assert.deepEqual(doc, { images: [{ file: img(f), hash: ref.hash, quality: ref.quality, dihedral: ref.dihedral }] });

  const plain = JSON.parse((await claimlens('hash', '--json', img(f))).stdout) as { images: Array<Record<string, unknown>> };
  assert.deepEqual(plain.images[0], { file: img(f), hash: ref.hash, quality: ref.quality });
});

test('EXIF-rotated photo: the hash is the reference variant of what a viewer sees', async () => {
  const f = 'reg-test-input/exif-rotn/exif-rotn-6.jpg';
  const r = await claimlens('hash', img(f));
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), `${reference.get(f)!.dihedral[3]},100,${img(f)}`);
});

test('a file that cannot be hashed: typed error, the others still hashed, exit code 1', async () => {
  const bad = join(REPO_ROOT, 'package.json');
  const missing = join(REPO_ROOT, 'no-such-image.jpg');
  const good = img('misc-images/wee.jpg');
  const text = await claimlens('hash', bad, good, missing);
  assert.equal(text.code, 1);
  assert.equal(text.stdout.trim(), `${reference.get('misc-images/wee.jpg')!.hash},100,${good}`);
  assert.match(text.stderr, /package\.json: unsupported_format:/);
  assert.match(text.stderr, /no-such-image\.jpg: read_failed:/);

  const json = await claimlens('hash', '--json', bad, good);
  assert.equal(json.code, 1);
  const doc = JSON.parse(json.stdout) as { images: Array<{ file: string; hash?: string; error?: { code: string; message: string } }> };
  assert.equal(doc.images.length, 2);
  assert.equal(doc.images[0]!.error?.code, 'unsupported_format');
  assert.ok(doc.images[0]!.error!.message.length > 0);
  assert.equal(doc.images[0]!.hash, undefined);
  assert.equal(doc.images[1]!.hash, reference.get('misc-images/wee.jpg')!.hash);
});

test('bad usage exits 2', async () => {
  assert.equal((await claimlens('hash')).code, 2);
  assert.equal((await claimlens('hash', '--nope', img('misc-images/wee.jpg'))).code, 2);
});
