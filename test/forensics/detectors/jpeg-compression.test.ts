import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import sharp from 'sharp';
import { jpegCompressionDetector } from '../../../src/forensics/detectors/jpeg-compression.ts';
import { analyseDoubleCompression } from '../../../src/forensics/jpeg/double-compression.ts';
import { readJpegCoefficients } from '../../../src/forensics/jpeg/coefficients.ts';
import { ZIGZAG } from '../../../src/forensics/jpeg/dct.ts';
import { estimateQuality, matchQuality, standardLumaStep, TABLE_FAMILIES } from '../../../src/forensics/jpeg/quality.ts';
import { dihedral, orientBox, ORIENTATION_VARIANT } from '../../../src/forensics/orientation.ts';
import type { Signal } from '../../../src/forensics/types.ts';
import { overlapsMask } from '../../../bench/forgery/dataset.ts';
import { jpegCases, jpegSources } from '../../../bench/forgery/jpeg-set.ts';
import { TAG, assertExplained, jpegWithExif, runDetector, short } from '../../helpers/labels.ts';
import { readShared, sharedPath } from '../../helpers/shared.ts';

async function signals(bytes: Uint8Array, name = 'claim.jpg'): Promise<Signal[]> {
  const out = await runDetector(jpegCompressionDetector, bytes, name);
  out.forEach(assertExplained);
  return out;
}

// Two in-store photos from ../shared, each made into the labelled cases of the eval set.
const sources = jpegSources(41, 1).filter((_, i) => i === 3 || i === 17);
const casesOf = Promise.all(sources.map((p) => jpegCases(p))).then((x) => x.flat());

test('a damage edit painted between two saves (second save finer) → jpeg.local_edit with a box on the edit and a heatmap', async () => {
  const forged = (await casesOf).filter((c) => c.kind === 'forged' && c.finerSecond && c.q1! <= 80);
  assert.ok(forged.length >= 4);
  for (const c of forged) {
    const out = await signals(c.bytes);
    const local = out.find((s) => s.id === 'jpeg.local_edit');
    assert.ok(local, `${c.id}: no jpeg.local_edit (${out.map((s) => s.id).join(', ')})`);
    assert.equal(local.verdict, 'suspicious', 'a compression trace recommends review; it never decides alone');
    const n = local.evidence.regions!.length;
    assert.match(local.summary.en, n === 1 ? /^One region \([\d.]+ % of the photo\) shows /u : new RegExp(`^${n} regions \\([\\d.]+ % of the photo\\) show `, 'u'));
    assert.ok(overlapsMask(local.evidence.regions!, c.mask!, c.width), `${c.id}: no box on the edit`);
    for (const r of local.evidence.regions!) assert.ok(r.x >= 0 && r.y >= 0 && r.x + r.width <= c.width && r.y + r.height <= c.height);
    const hm = local.evidence.heatmap!;
    assert.equal(hm.mime, 'image/png');
    const meta = await sharp(Buffer.from(hm.data, 'base64')).metadata();
    assert.deepEqual([meta.width, meta.height], [Math.ceil(c.width / 8), Math.ceil(c.height / 8)]);
    const re = out.find((s) => s.id === 'jpeg.recompressed')!;
    assert.equal(re.verdict, 'info');
    assert.equal(re.evidence.firstQuality, c.q1, `${c.id}: first quality`);
    assert.equal(re.evidence.lastQuality, c.q2, `${c.id}: last quality`);
  }
});

test('the same photos re-saved without an edit → jpeg.recompressed only; saved once → silent', async () => {
  for (const c of await casesOf) {
    if (c.kind === 'forged') continue;
    const ids = (await signals(c.bytes)).map((s) => s.id);
    assert.ok(!ids.includes('jpeg.local_edit'), `${c.id}: accused an unedited photo`);
    if (c.kind === 'once') assert.deepEqual(ids, [], `${c.id}: a single save must say nothing`);
    if (c.kind === 'resaved' && c.finerSecond) assert.deepEqual(ids, ['jpeg.recompressed'], c.id);
  }
});

test('camera photos, as they are and re-saved once, are never accused of a local edit', async () => {
  const dir = sharedPath('fixtures', 'camera');
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.jpg'))) {
    const bytes = readShared('fixtures', 'camera', f);
    assert.deepEqual((await signals(bytes)).map((s) => s.id), [], `${f}: a camera original was saved once`);
    const resaved = await sharp(bytes).jpeg({ quality: 90 }).toBuffer();
    assert.ok(!(await signals(resaved)).some((s) => s.id === 'jpeg.local_edit'), `${f} re-saved`);
  }
});

test('regions and heatmap follow EXIF orientation (boxes in the pixels a viewer sees)', async () => {
  const c = (await casesOf).find((x) => x.kind === 'forged' && x.q1 === 70)!;
  const upright = (await signals(c.bytes)).find((s) => s.id === 'jpeg.local_edit')!;
  for (const orientation of [3, 6, 8]) {
    // the same stored pixels, only an EXIF orientation added (no re-encode: the trace stays)
    const tagged = jpegWithExif(c.bytes, { ifd0: { [TAG.Orientation]: short(orientation) } });
    const local = (await signals(tagged)).find((s) => s.id === 'jpeg.local_edit');
    assert.ok(local, `orientation ${orientation}`);
    const expected = upright.evidence.regions!.map((r) => orientBox(r, c.width, c.height, orientation));
    assert.deepEqual(local.evidence.regions!.map(({ x, y, width, height }) => ({ x, y, width, height })), expected);
    const meta = await sharp(Buffer.from(local.evidence.heatmap!.data, 'base64')).metadata();
    const swap = orientation >= 5;
    assert.deepEqual([meta.width, meta.height], swap ? [Math.ceil(c.height / 8), Math.ceil(c.width / 8)] : [Math.ceil(c.width / 8), Math.ceil(c.height / 8)]);
  }
});

test('orientBox and dihedral(ORIENTATION_VARIANT) agree with sharp about where a stored pixel is shown', async () => {
  const w = 5;
  const h = 3;
  for (let orientation = 1; orientation <= 8; orientation++) {
    for (const [x, y] of [[0, 0], [4, 0], [1, 2], [3, 1]] as const) {
      const grid = new Uint8Array(w * h);
      grid[y * w + x] = 255;
      const o = dihedral({ data: grid, width: w, height: h }, ORIENTATION_VARIANT[orientation]!);
      const at = o.data.indexOf(255);
      const box = orientBox({ x, y, width: 1, height: 1 }, w, h, orientation);
      assert.deepEqual([at % o.width, Math.floor(at / o.width)], [box.x, box.y], `orientation ${orientation}`);
      // sharp's auto-orientation of a losslessly stored picture carrying the same EXIF tag
      const png = await sharp(Buffer.from(grid), { raw: { width: w, height: h, channels: 1 } }).withMetadata({ orientation }).png().toBuffer();
      const shown = await sharp(png).rotate().raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual([shown.info.width, shown.info.height], [o.width, o.height]);
      const sat = shown.data.indexOf(255) / shown.info.channels;
      assert.deepEqual([sat % o.width, Math.floor(sat / o.width)], [box.x, box.y], `sharp, orientation ${orientation}`);
    }
  }
});

test('quality estimate: the standard table at a quality gives that quality back, in every family sharp writes', async () => {
  for (const q of [50, 70, 75, 80, 85, 90, 92, 95]) {
    const steps = Array.from({ length: 64 }, (_, index) => ({ index, step: standardLumaStep(q, index) }));
    assert.equal(estimateQuality(steps, 0.9), q);
  }
  // the other eight families, as this project's encoder writes them (quantisationTable 1–8)
  const img = sharp({ create: { width: 16, height: 16, channels: 3, background: '#808080' } });
  for (let table = 1; table < TABLE_FAMILIES; table++) {
    for (const q of [60, 75, 90]) {
      const quant = readJpegCoefficients(await img.clone().jpeg({ quality: q, quantisationTable: table }).toBuffer()).components[0]!.quant;
      const m = matchQuality(Array.from(quant, (step, index) => ({ index, step })))!;
      // a few high-frequency entries of families 3, 5 and 6 exceed 255 before scaling and are
      // kept clipped (see quality.ts); the low frequencies the model uses must all agree
      assert.ok(m.agreement >= 0.9, `table ${table} at ${q}: ${m.agreement}`);
      // a flat or coarse family can share its steps between neighbouring qualities: the match
      // must give the same steps back, not necessarily the same number
      for (let z = 0; z <= 20; z++) assert.equal(standardLumaStep(m.quality, ZIGZAG[z]!, m.table), quant[ZIGZAG[z]!], `table ${table} at ${q}, zig-zag ${z}`);
    }
  }
  assert.equal(estimateQuality([{ index: 0, step: 3 }, { index: 1, step: 50 }, { index: 2, step: 1 }]), undefined, 'a table no quality makes');
});

test('double-compression fit: names the first step on a coarser first save and nothing on a single save', async () => {
  const [c] = (await casesOf).filter((x) => x.kind === 'resaved' && x.q1 === 70);
  const y = readJpegCoefficients(c!.bytes).components[0]!;
  const a = analyseDoubleCompression(y)!;
  assert.ok(a.compressedTwice);
  // steps close to each other explain a histogram almost equally well: most must be exact, none far off
  const off = a.used.map((f) => f.q1! - standardLumaStep(70, ZIGZAG[f.zigzag]!));
  assert.ok(off.filter((d) => d === 0).length >= 0.8 * off.length, `first steps off by ${off.join(',')}`);
  assert.ok(off.every((d) => Math.abs(d) <= 1), `first steps off by ${off.join(',')}`);
  assert.ok(a.used.length >= 10);
  const once = (await casesOf).find((x) => x.kind === 'once')!;
  const b = analyseDoubleCompression(readJpegCoefficients(once.bytes).components[0]!)!;
  assert.equal(b.compressedTwice, false);
  assert.equal(b.evidence, 0);
});

test('PNG and a JPEG too small to judge → silent', async () => {
  const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#808080' } }).png().toBuffer();
  assert.deepEqual(await signals(png, 'claim.png'), []);
  const tiny = await sharp({ create: { width: 40, height: 40, channels: 3, background: '#804020' } }).jpeg().toBuffer();
  assert.deepEqual(await signals(tiny), []);
});
