// Both upload checks against intakeImage (the full decode), on every shared fixture (the
// broken ones included) and on a few hundred mutated JPEG, progressive JPEG, WebP and PNG files:
// * 'full' (validateImage: JPEG/WebP decoded at reduced scale) refuses exactly what
//   intakeImage refuses, with the same error code, and accepts what it accepts, same size;
// * 'structural' (validateStructure: no decode) never refuses what intakeImage accepts, and
//   accepts it with the same format, size and hash; what it refuses intakeImage refuses too;
//   the named bad inputs (empty, not an image, lying type, pixel bomb, truncated) are refused
//   with intakeImage's code. What it lets through and intakeImage refuses (damage inside the
//   compressed data) is counted here and caught by the background analysis (e2e test).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { intakeImage, validateImage, type IntakeOptions } from '../../src/forensics/intake.ts';
import { IntakeError } from '../../src/forensics/errors.ts';
import { validateStructure } from '../../src/forensics/structure.ts';
import { fixtureManifest, readShared } from '../helpers/shared.ts';

type Outcome = { ok: true; format: string; width: number; height: number; sha256: string } | { ok: false; code: string };

async function outcome(f: () => Promise<{ format: string; width: number; height: number; sha256: string }>): Promise<Outcome> {
  try {
    const r = await f();
    return { ok: true, format: r.format, width: r.width, height: r.height, sha256: r.sha256 };
  } catch (e) {
    assert.ok(e instanceof IntakeError, `not an IntakeError: ${String(e)}`);
    return { ok: false, code: e.code };
  }
}

async function compare(bytes: Uint8Array, label: string, opts: IntakeOptions = {}): Promise<Outcome> {
  const full = await outcome(() => intakeImage(bytes, opts));
  const cheap = await outcome(() => validateImage(bytes, opts));
  assert.deepEqual(cheap, full, `${label}: validateImage ${JSON.stringify(cheap)} vs intakeImage ${JSON.stringify(full)}`);
  const st = await outcome(() =>
    validateStructure(bytes, opts).catch((e) => {
      if (e instanceof IntakeError && /EXIF/.test(e.message)) exifRefused.add(bytes);
      throw e;
    }),
  );
  if ((full.ok && !exifRefused.has(bytes)) || !st.ok) assert.deepEqual(st, full.ok ? full : st, `${label}: validateStructure ${JSON.stringify(st)} vs intakeImage ${JSON.stringify(full)}`);
  // The one deliberate difference: a malformed EXIF header or first directory is refused by the
  // structural check (libvips ignores such a block and decodes the pixels); tested below.
  const exifRefusal = !st.ok && exifRefused.has(bytes);
  if (!st.ok && !exifRefusal) assert.equal(full.ok, false, `${label}: validateStructure refused (${st.ok || st.code}) what intakeImage accepts`);
  if (st.ok && !full.ok) structuralMissed.push(`${label}:${full.code}`);
  if (!st.ok && !full.ok && st.code !== full.code) structuralOtherCode.push(`${label}:${st.code}/${full.code}`);
  return full;
}

/** Same, and the structural check must refuse it too with intakeImage's code. */
async function compareRefused(bytes: Uint8Array, label: string, opts: IntakeOptions = {}): Promise<Outcome> {
  const full = await compare(bytes, label, opts);
  const st = await outcome(() => validateStructure(bytes, opts));
  assert.deepEqual(st, full, `${label}: validateStructure must refuse like intakeImage`);
  return full;
}

const structuralMissed: string[] = [];
/** Inputs whose structural refusal is an EXIF refusal (the message names the EXIF block). */
const exifRefused = new WeakSet<Uint8Array>();
const structuralOtherCode: string[] = [];

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One random damage: truncation, bit flips, an overwritten run, inserted or removed bytes. */
function mutate(src: Buffer, rnd: () => number): Buffer {
  const b = Buffer.from(src);
  const at = (lo = 0) => lo + Math.floor(rnd() * (b.length - lo));
  switch (Math.floor(rnd() * 6)) {
    case 0: // truncated anywhere, mostly in the entropy-coded data
      return b.subarray(0, Math.max(1, Math.floor(b.length * (0.05 + rnd() * 0.94))));
    case 1: // a few bit flips
      for (let i = 0, n = 1 + Math.floor(rnd() * 4); i < n; i++) b[at()]! ^= 1 << Math.floor(rnd() * 8);
      return b;
    case 2: { // an overwritten run
      const p = at(), n = 1 + Math.floor(rnd() * 64);
      for (let i = p; i < Math.min(b.length, p + n); i++) b[i] = Math.floor(rnd() * 256);
      return b;
    }
    case 3: { // inserted garbage
      const p = at(), n = 1 + Math.floor(rnd() * 32);
      const ins = Buffer.alloc(n, 0).map(() => Math.floor(rnd() * 256));
      return Buffer.concat([b.subarray(0, p), ins, b.subarray(p)]);
    }
    case 4: { // removed bytes
      const p = at(), n = 1 + Math.floor(rnd() * 32);
      return Buffer.concat([b.subarray(0, p), b.subarray(Math.min(b.length, p + n))]);
    }
    default: // a damaged header byte (first 1 KB: markers, lengths, sizes)
      b[Math.floor(rnd() * Math.min(1024, b.length))] = Math.floor(rnd() * 256);
      return b;
  }
}

test('validateImage and intakeImage agree on every shared fixture, broken ones included', async () => {
  const broken = ['zero_bytes.jpg', 'text_not_image.jpg', 'truncated_half.jpg', 'truncated_headers_only.jpg', 'corrupted_olympus.jpg', 'invalid_00971.jpg', 'invalid_01137.jpg', 'invalid_01713.jpg', 'iccp_bad_adler32.png', 'bad_gps_entries.jpg', 'exifoffset_wrong_type.jpg', 'offset_outside_bounds.jpg', 'segment_unreachable.jpg'];
  const refused: string[] = [];
  for (const name of broken) {
    const o = await compare(readShared('fixtures/broken', name), name, { name });
    if (!o.ok) refused.push(`${name}:${o.code}`);
  }
  // The cases the service must refuse at submission are refused (and not only equal).
  for (const must of ['zero_bytes.jpg:empty_file', 'text_not_image.jpg:unsupported_format', 'truncated_half.jpg:truncated', 'truncated_headers_only.jpg:truncated', 'corrupted_olympus.jpg:corrupt']) {
    assert.ok(refused.includes(must), `${must} not refused: ${refused.join(', ')}`);
    const name = must.split(':')[0]!;
    await compareRefused(readShared('fixtures/broken', name), name, { name });
  }
  for (const entry of fixtureManifest()) {
    if (/\.(heic|heif|avif)$/i.test(entry.file)) continue; // validateImage runs intakeImage itself for these
    await compare(readShared('fixtures', entry.file), entry.file, { name: entry.file });
  }
});

test('a lying content type, a pixel bomb header and garbage are refused like intakeImage does', async () => {
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toBuffer();
  const jpg = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#a05030' } }).jpeg().toBuffer();
  assert.deepEqual(await compareRefused(png, 'png as jpeg', { contentType: 'image/jpeg' }), { ok: false, code: 'format_mismatch' });
  assert.deepEqual(await compareRefused(jpg, 'jpeg as png', { contentType: 'image/png' }), { ok: false, code: 'format_mismatch' });
  assert.deepEqual(await compareRefused(jpg, 'jpeg named webp', { name: 'x.webp' }), { ok: false, code: 'format_mismatch' });
  // A JPEG whose SOF declares 60000×60000: refused from the header.
  const bomb = Buffer.from(jpg);
  const sof = bomb.indexOf(Buffer.from([0xff, 0xc0]));
  bomb.writeUInt16BE(60000, sof + 5);
  bomb.writeUInt16BE(60000, sof + 7);
  assert.deepEqual(await compareRefused(bomb, 'jpeg bomb'), { ok: false, code: 'pixel_limit' });
  const webp = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#3050a0' } }).webp().toBuffer();
  assert.deepEqual(await compareRefused(webp, 'webp small limit', { limits: { maxPixels: 1000 } }), { ok: false, code: 'pixel_limit' });
  assert.deepEqual(await compareRefused(Buffer.from('hello, this is not an image at all'), 'text', { name: 'a.jpg' }), { ok: false, code: 'unsupported_format' });
  assert.deepEqual(await compareRefused(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]), 'jpeg magic then nothing'), { ok: false, code: 'truncated' });
  assert.equal((await compare(jpg, 'jpeg too large', { limits: { maxBytes: 100 } }) as any).code, 'too_large');
});

test('a malformed EXIF block is refused by the structural check; the full check ignores it and decodes', async () => {
  const jpg = await sharp({ create: { width: 80, height: 40, channels: 3, background: '#406080' } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
  const at = jpg.indexOf(Buffer.from('Exif\0\0')) + 6;
  const cases: [string, (b: Buffer) => void][] = [
    ['first directory outside the block', (b) => b.writeUInt32BE(0x7fffff00, at + 4)],
    ['no byte order mark', (b) => b.write('XX', at)],
    ['not TIFF', (b) => b.writeUInt16BE(43, at + 2)],
    ['directory runs past the block', (b) => b.writeUInt16BE(0xffff, at + 8)],
  ];
  for (const [label, damage] of cases) {
    const b = Buffer.from(jpg);
    damage(b);
    await assert.rejects(validateStructure(b), (e: any) => e instanceof IntakeError && e.code === 'corrupt' && /EXIF/.test(e.message), label);
    assert.equal((await outcome(() => validateImage(b))).ok, true, `${label}: the full check decodes it`);
  }
});

test('validateImage reports the oriented size of a rotated JPEG, like intakeImage', async () => {
  const jpg = await sharp({ create: { width: 80, height: 40, channels: 3, background: '#406080' } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
  const o = await compare(jpg, 'orientation 6');
  assert.deepEqual(o.ok && [o.width, o.height], [40, 80]);
});

test('validateImage refuses what intakeImage refuses on a few hundred mutated JPEG/WebP/PNG files', async () => {
  const photo = readShared('photos/natural/Green-Bell-Pepper/Green-Bell-Pepper_001.jpg');
  const base = sharp(photo).rotate().resize(320, 240);
  const seeds: [string, Buffer][] = [
    ['jpeg', await base.clone().jpeg({ quality: 85 }).withMetadata({ orientation: 3 }).toBuffer()],
    ['progressive jpeg', await base.clone().jpeg({ quality: 80, progressive: true }).toBuffer()],
    ['jpeg 4:4:4 restart', await base.clone().jpeg({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer()],
    ['webp lossy', await base.clone().webp({ quality: 75 }).toBuffer()],
    ['webp lossless', await base.clone().resize(96, 72).webp({ lossless: true }).toBuffer()],
    ['png', await base.clone().resize(96, 72).png().toBuffer()],
  ];
  const rnd = mulberry32(20261123);
  const tally: Record<string, number> = {};
  let refused = 0;
  let cases = 0;
  for (const [label, seed] of seeds) {
    assert.equal((await compare(seed, `${label} seed`)).ok, true, `${label} seed must be accepted`);
    for (let i = 0; i < Number(process.env.VALIDATE_CASES ?? 50); i++) {
      const o = await compare(mutate(seed, rnd), `${label} mutation ${i}`);
      cases++;
      if (!o.ok) {
        refused++;
        tally[o.code] = (tally[o.code] ?? 0) + 1;
      }
    }
  }
  // The mutations must actually exercise refusals (truncated and corrupt both), not only accepted files.
  assert.ok(refused > cases / 4, `only ${refused}/${cases} mutated files refused`);
  assert.ok((tally.truncated ?? 0) > 10 && (tally.corrupt ?? 0) > 10, JSON.stringify(tally));
  // Every truncation is refused by the structural check too (the end marker is missing).
  const cut = await compare(seeds[0]![1].subarray(0, Math.floor(seeds[0]![1].length * 0.6)), 'jpeg cut at 60 %');
  assert.deepEqual(cut, { ok: false, code: 'truncated' });
  await compareRefused(seeds[0]![1].subarray(0, Math.floor(seeds[0]![1].length * 0.6)), 'jpeg cut at 60 %');
  // (libwebp and libpng call a cut file 'corrupt'; the structural check says 'truncated', which it is.)
  const webpCut = seeds[3]![1].subarray(0, Math.floor(seeds[3]![1].length * 0.6));
  assert.equal((await compare(webpCut, 'webp cut at 60 %')).ok, false);
  assert.equal((await outcome(() => validateStructure(webpCut))).ok, false, 'webp cut at 60 %: validateStructure must refuse it');
  const pngCut = seeds[5]![1].subarray(0, Math.floor(seeds[5]![1].length * 0.6));
  assert.equal((await compare(pngCut, 'png cut at 60 %')).ok, false);
  assert.equal((await outcome(() => validateStructure(pngCut))).ok, false, 'png cut at 60 %: validateStructure must refuse it');
  // What the structural check lets through is damage inside the compressed data only; it is
  // reported, and must stay a minority of what the full decode refuses.
  console.log(`structural check: ${structuralMissed.length} of ${refused} refused mutations left to the background decode; other code on ${structuralOtherCode.length}: ${structuralOtherCode.slice(0, 10).join(', ')}`);
  assert.ok(structuralMissed.length < refused / 2, structuralMissed.join(', '));
});
