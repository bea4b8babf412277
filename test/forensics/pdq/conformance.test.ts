// Conformance of the PDQ hasher with Meta's C++ reference tool (../shared/pdq): every test
// image is decoded through intake and hashed; the hash and its 8 dihedral variants are
// compared with the reference tool's output (cpp-reference.tsv) and with the hashes that
// upstream publishes (expected.tsv). Upstream's rule for a correct implementation:
// quality ≥ 80 → within 10 bits of the C++ reference.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import sharp, { type Sharp } from 'sharp';
import { intakeImage } from '../../../src/forensics/intake.ts';
import { hammingDistance, pdqHashImage, pdqHashPixels, pdqRehashedVariants, type PdqResult } from '../../../src/forensics/pdq/index.ts';
import { dihedralDct } from '../../../src/forensics/pdq/hash.ts';
import { sharedPath } from '../../helpers/shared.ts';

interface RefRow { file: string; hash: string; quality: number; dihedral: string[] }

function readTsv(name: string): string[][] {
  const lines = readFileSync(sharedPath('pdq', name), 'utf8').split('\n').filter((l) => l.trim() !== '');
  return lines.slice(1).map((l) => l.split('\t'));
}

const reference: RefRow[] = readTsv('cpp-reference.tsv').map(([file, hash, quality, dih]) => ({
  file: file!, hash: hash!, quality: Number(quality), dihedral: dih!.split(','),
}));

/** Index k with variant_k = variant_v ∘ variant_base (applied to the DCT, base first). */
function composedVariant(base: number, v: number): number {
  const x = new Float32Array(256);
  for (let i = 0; i < 256; i++) x[i] = i + 1; // distinct values: the composition is identified uniquely
  const y = dihedralDct(dihedralDct(x, base), v);
  for (let k = 0; k < 8; k++) if (dihedralDct(x, k).every((val, i) => val === y[i])) return k;
  throw new Error('dihedral variants are not closed under composition');
}

function histogram(ds: number[]): string {
  const h = new Map<number, number>();
  for (const d of ds) h.set(d, (h.get(d) ?? 0) + 1);
  return [...h.entries()].sort((a, b) => a[0] - b[0]).map(([d, n]) => `d=${d}: ${n}`).join(', ');
}

const results = new Map<string, { image: Awaited<ReturnType<typeof intakeImage>>; pdq: PdqResult }>();
async function hashed(file: string) {
  let r = results.get(file);
  if (!r) {
    const bytes = readFileSync(sharedPath('pdq', 'images', file));
    const image = await intakeImage(bytes, { name: file });
    r = { image, pdq: await pdqHashImage(image, { dihedral: true }) };
    results.set(file, r);
  }
  return r;
}

test('cpp-reference.tsv lists all 33 test images', () => {
  assert.equal(reference.length, 33);
});

test('hash and dihedral variants match the C++ reference (upstream rule: quality ≥ 80 → ≤ 10 bits)', async (t) => {
  const plain: number[] = [];
  const variants: number[] = [];
  const lines: string[] = [];
  for (const ref of reference) {
    const { image, pdq } = await hashed(ref.file);
    assert.match(pdq.hash, /^[0-9a-f]{64}$/);
    assert.equal(pdq.dihedral?.length, 8);
    // The reference ignores EXIF orientation, claimlens hashes what a viewer sees: compare with
    // the reference's variant that the orientation stands for (identity for orientation 1).
    const toViewer = image.orientation === 1 ? 0 : composedVariant(0, orientationVariant(image.orientation));
    const d = hammingDistance(pdq.hash, ref.dihedral[toViewer]!);
    const dv = pdq.dihedral!.map((h, v) => hammingDistance(h, ref.dihedral[composedVariant(toViewer, v)]!));
    plain.push(d);
    variants.push(...dv);
    lines.push(`${ref.file}: d=${d} quality ${pdq.quality} (ref ${ref.quality}) variants ${dv.join(' ')}`);
    if (ref.quality >= 80) {
      assert.ok(d <= 10, `${ref.file}: distance ${d} to the reference`);
      for (const [v, dd] of dv.entries()) assert.ok(dd <= 10, `${ref.file} variant ${v}: distance ${dd}`);
      assert.ok(Math.abs(pdq.quality - ref.quality) <= 5, `${ref.file}: quality ${pdq.quality} vs ${ref.quality}`);
    }
  }
  t.diagnostic(`PDQ vs C++ reference, hash: ${histogram(plain)}`);
  t.diagnostic(`PDQ vs C++ reference, 8 dihedral variants × ${reference.length}: ${histogram(variants)}`);
  for (const l of lines) t.diagnostic(l);
  // Aim: exact for nearly all; only a decoder difference (ICC-less colour, chroma upsampling) may cost bits.
  assert.ok(plain.filter((d) => d === 0).length >= 31, `only ${plain.filter((d) => d === 0).length}/33 exact`);
});

/** The orientation → variant relation that the hasher uses, re-derived here from the test image geometry. */
function orientationVariant(o: number): number {
  return [0, 0, 5, 2, 4, 6, 3, 7, 1][o]!;
}

test('EXIF orientation 6: the hash equals the reference variant rotate270 of the stored pixels', async () => {
  const ref = reference.find((r) => r.file.endsWith('exif-rotn-6.jpg'))!;
  const { image, pdq } = await hashed(ref.file);
  assert.equal(image.orientation, 6);
  assert.equal(image.width, 3024); // displayed upright: portrait
  assert.equal(pdq.hash, ref.dihedral[3]);
  assert.notEqual(pdq.hash, ref.hash);
  // The displayed image rotated back by 90° (viewer's rotate90) is the stored image.
  assert.equal(pdq.dihedral![1], ref.hash);
});

test('every EXIF orientation maps to the dihedral variant of the same geometric transform', async () => {
  // A stored image, saved with each orientation: hashing what a viewer sees must equal the
  // variant of the stored image's hash for that orientation, and be close to hashing the
  // turned pixels directly (geometric truth; PDQ is not exactly rotation invariant).
  const src = readFileSync(sharedPath('pdq', 'images', 'bridge-mods', 'square-256x256.jpg'));
  const { data, info } = await sharp(src).resize(320, 256, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
  const stored = pdqHashPixels({ data, width: info.width, height: info.height, channels: 3 }, { dihedral: true });
  for (let o = 1; o <= 8; o++) {
    const png = await sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } }).png().withMetadata({ orientation: o }).toBuffer();
    const image = await intakeImage(png);
    assert.equal(image.orientation, o);
    const viewer = await pdqHashImage(image);
    assert.equal(viewer.hash, stored.dihedral![orientationVariant(o)], `orientation ${o}`);
    const direct = pdqHashPixels(await image.rgb());
    const dists = stored.dihedral!.map((h) => hammingDistance(h, direct.hash));
    const nearest = dists.indexOf(Math.min(...dists));
    assert.equal(nearest, orientationVariant(o), `orientation ${o}: nearest variant ${nearest}, distances ${dists.join(' ')}`);
  }
});

test('upstream published hashes (expected.tsv) are within the tolerances upstream uses', async (t) => {
  const rows = readTsv('expected.tsv');
  const ds: number[] = [];
  for (const [file, hash, , origin] of rows) {
    const { image, pdq } = await hashed(file!);
    if (image.orientation !== 1) continue; // upstream's outputs ignore EXIF orientation
    const d = hammingDistance(pdq.hash, hash!);
    ds.push(d);
    // Upstream's python test tolerance is 16 for every file; old outputs differ by up to 12 from today's C++.
    assert.ok(d <= 16, `${file} vs ${origin}: distance ${d}`);
  }
  t.diagnostic(`PDQ vs ${ds.length} upstream published hashes: ${histogram(ds)}`);
});

test('hashes of pixels as given: too small images hash to zero with quality 0; grey equals RGB grey', () => {
  const tiny = pdqHashPixels({ data: new Uint8Array(4 * 4 * 3).fill(200), width: 4, height: 4, channels: 3 });
  assert.deepEqual(tiny, { hash: '0'.repeat(64), quality: 0 });
  const w = 80, h = 60;
  const grey = new Uint8Array(w * h);
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    const v = ((i % w) * 3 + Math.floor(i / w) * 5 + ((i * 7919) % 31)) & 255;
    grey[i] = v;
    rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = v;
  }
  const a = pdqHashPixels({ data: grey, width: w, height: h, channels: 1 });
  const b = pdqHashPixels({ data: rgb, width: w, height: h, channels: 3 });
  assert.equal(a.hash, b.hash);
  assert.ok(a.quality > 50);
  const rgba = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    rgba[4 * i] = (i * 13) & 255; rgba[4 * i + 1] = (i * 7) & 255; rgba[4 * i + 2] = (i * 3) & 255; rgba[4 * i + 3] = i & 255;
    rgb[3 * i] = rgba[4 * i]!; rgb[3 * i + 1] = rgba[4 * i + 1]!; rgb[3 * i + 2] = rgba[4 * i + 2]!;
  }
  // Alpha is ignored, as by the reference.
  assert.equal(pdqHashPixels({ data: rgba, width: w, height: h, channels: 4 }).hash, pdqHashPixels({ data: rgb, width: w, height: h, channels: 3 }).hash);
  assert.throws(() => pdqHashPixels({ data: new Uint8Array(10), width: 80, height: 60, channels: 3 }), RangeError);
});

test('re-hashed orientations follow the pixels: a losslessly rotated/mirrored photo hashes back exactly', async () => {
  const base = await sharp(sharedPath('photos', 'listing', 'Banana.jpg')).png().toBuffer();
  const source = await pdqHashImage(await intakeImage(base));
  const cases: Array<[string, (s: Sharp) => Sharp, number]> = [
    ['rotate 90° clockwise', (s) => s.rotate(90), 1],
    ['rotate 180°', (s) => s.rotate(180), 2],
    ['rotate 90° counter-clockwise', (s) => s.rotate(270), 3],
    ['flip top-bottom', (s) => s.flip(), 4],
    ['mirror left-right', (s) => s.flop(), 5],
  ];
  for (const [name, turn, back] of cases) {
    const image = await intakeImage(await turn(sharp(base)).png().toBuffer());
    const rehashed = await pdqRehashedVariants(image);
    assert.equal(rehashed.dihedral![back], source.hash, name);
    assert.equal(rehashed.hash, (await pdqHashImage(image)).hash, `${name}: variant 0 is the plain hash`);
    // The reference's DCT variant for the same turn is close but, on this 198 px photo, not exact.
    const viaDct = (await pdqHashImage(image, { dihedral: true })).dihedral![back]!;
    assert.ok(hammingDistance(viaDct, source.hash) < 64, `${name}: DCT variant ${hammingDistance(viaDct, source.hash)} bits away`);
  }
  // With an EXIF orientation the plane is first turned as a viewer sees it.
  const six = await intakeImage(readFileSync(sharedPath('pdq', 'images', 'reg-test-input', 'exif-rotn', 'exif-rotn-6.jpg')));
  const r6 = await pdqRehashedVariants(six);
  const ref6 = reference.find((r) => r.file.endsWith('exif-rotn-6.jpg'))!;
  assert.ok(hammingDistance(r6.hash, ref6.dihedral[3]!) <= 31, 'viewer orientation');
  assert.equal(r6.dihedral![1], ref6.hash, 'turned back to the stored frame: the reference hash of the file as stored');
});
