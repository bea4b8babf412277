import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { parseIndexFile, IndexFileError } from '../../src/forensics/reuse/index-file.ts';
import { REPO_ROOT, readShared, sharedPath } from '../helpers/shared.ts';

function claimlens(...args: string[]) {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'claimlens.mjs'), ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const H1 = 'a'.repeat(64);
const H2 = '0123456789abcdef'.repeat(4);

test('index file lines: tab forms, the hash tool\'s CSV and --dihedral lines, header, comments', () => {
  const dih = Array.from({ length: 8 }, (_, i) => (i === 0 ? H1 : H2)).join(',');
  const entries = parseIndexFile(
    ['hash\tid', '# a comment', '', `${H1}\tclaim-1`, `${H2.toUpperCase()}\t77\tref 2`, `${H1},100,photos/a,b.jpg`, `${dih},95,dih.jpg`, H2].join('\n'),
  );
  assert.deepEqual(
    entries.map((e) => [e.hash, e.quality, e.id]),
    [
      [H1, undefined, 'claim-1'],
      [H2, 77, 'ref 2'],
      [H1, 100, 'photos/a,b.jpg'],
      [H1, 95, 'dih.jpg'],
      [H2, undefined, '8'],
    ],
  );
  assert.throws(() => parseIndexFile(`${H1}\tid\n${H1.slice(2)}\tbroken\n`, 'x.tsv'), (e: unknown) => e instanceof IndexFileError && /x\.tsv:2/.test(e.message));
  assert.throws(() => parseIndexFile(`${H1},101,f.jpg\n`), IndexFileError, 'quality above 100');
});

test('claimlens match finds a rotated, re-saved listing photo in `claimlens hash` output and a TSV', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'claimlens-match-'));
  try {
    const listing = ['Anjou.jpg', 'Banana.jpg', 'Aubergine.jpg'].map((f) => sharedPath('photos', 'listing', f));
    const hashed = claimlens('hash', ...listing);
    assert.equal(hashed.code, 0, hashed.stderr);
    const csv = join(dir, 'seen.csv');
    writeFileSync(csv, hashed.stdout);
    const tsv = join(dir, 'more.tsv');
    const [bananaHash] = hashed.stdout.split('\n')[1]!.split(',');
    writeFileSync(tsv, `${bananaHash}\t20\tflat-entry\n${H2}\tunrelated\n`);

    const copy = join(dir, 'claim.jpg');
    writeFileSync(copy, await sharp(readShared('photos', 'listing', 'Anjou.jpg')).rotate(270).jpeg({ quality: 60 }).toBuffer());
    const flat = join(dir, 'flat.png');
    writeFileSync(flat, await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } }).png().toBuffer());
    const broken = join(dir, 'broken.jpg');
    writeFileSync(broken, Buffer.from('not an image'));

    const r = claimlens('match', '--index', csv, '--index', tsv, '--json', copy, flat);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.maxDistance, 31);
    assert.equal(out.index.entries, 4);
    assert.equal(out.index.skippedTooFlat, 1, 'the quality-20 entry is not matched on');
    const [claim, flatImg] = out.images;
    assert.equal(claim.matches.length, 1, JSON.stringify(claim));
    assert.equal(claim.matches[0].id, listing[0]);
    assert.ok(claim.matches[0].distance <= 31);
    assert.notEqual(claim.matches[0].variantName, 'original');
    assert.equal(flatImg.tooFlat, true);
    assert.deepEqual(flatImg.matches, []);

    // human output, a tighter distance, and a photo that cannot be read
    const d = claim.matches[0].distance;
    const tight = claimlens('match', '--index', csv, '--max-distance', String(Math.max(0, d - 1)), copy, broken);
    assert.equal(tight.code, 1, 'a photo could not be checked');
    assert.match(tight.stdout, /no match/);
    assert.match(tight.stdout, /not checked/);

    const bad = claimlens('match', '--index', tsv, '--max-distance', 'many', copy);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--max-distance/);
    const noIndex = claimlens('match', copy);
    assert.equal(noIndex.code, 2);
    assert.match(noIndex.stderr, /--index/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('claimlens match re-hashes the turned photo by default; --dct-variants uses the reference variants', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'claimlens-match-'));
  try {
    const original = sharedPath('photos', 'listing', 'Satsumas.jpg');
    const hashed = claimlens('hash', original);
    assert.equal(hashed.code, 0, hashed.stderr);
    const csv = join(dir, 'seen.csv');
    writeFileSync(csv, hashed.stdout);
    const copy = join(dir, 'turned.jpg');
    writeFileSync(copy, await sharp(readShared('photos', 'listing', 'Satsumas.jpg')).rotate(90).jpeg({ quality: 90 }).toBuffer());
    const byDefault = JSON.parse(claimlens('match', '--index', csv, '--json', copy).stdout);
    const m = byDefault.images[0].matches;
    assert.equal(m.length, 1, JSON.stringify(byDefault));
    assert.equal(m[0].variantName, 'rotate90');
    assert.ok(m[0].distance <= 10, `distance ${m[0].distance}`);
    // this 198 px photo's DCT rotate90 variant is 36 bits off: not found that way
    const dct = JSON.parse(claimlens('match', '--index', csv, '--json', '--dct-variants', copy).stdout);
    assert.deepEqual(dct.images[0].matches, []);
    assert.match(claimlens('match', '--help').stdout, /--dct-variants/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
