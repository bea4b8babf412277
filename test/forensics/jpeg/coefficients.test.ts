// Tests of the hand-written JPEG coefficient reader.
//
// Truth comes from libjpeg (through sharp): the coefficients we read, dequantized and
// inverse-transformed with a float IDCT, must give the same luma samples that sharp
// decodes; files that differ only in entropy coding (baseline vs progressive, optimised
// Huffman tables, optimised scans) must give identical coefficients; camera files and
// broken files from ../shared must decode or fail with a typed error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import sharp from 'sharp';
import { idctBlock, JpegCoefficientError, readJpegCoefficients, type JpegCoefficients } from '../../../src/forensics/jpeg/coefficients.ts';
import { readShared, sharedPath } from '../../helpers/shared.ts';
import { xorshift32 } from '../../helpers/xorshift.ts';

/** A deterministic test picture with smooth gradients, edges and noise, so that every
 *  frequency band and both DC signs occur. */
function testPicture(width: number, height: number, seed: number): Buffer {
  const rnd = xorshift32(seed);
  const px = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      const inDisc = (x - width / 2) ** 2 + (y - height / 3) ** 2 < (Math.min(width, height) / 4) ** 2;
      const noise = (rnd() & 31) - 16;
      px[o] = Math.max(0, Math.min(255, (x * 255) / width + noise + (inDisc ? 60 : 0)));
      px[o + 1] = Math.max(0, Math.min(255, (y * 255) / height - noise + ((x >> 3) & 1 ? 40 : 0)));
      px[o + 2] = Math.max(0, Math.min(255, 128 + 100 * Math.sin(x / 7 + y / 11) + (inDisc ? -80 : 0)));
    }
  }
  return px;
}

interface EncodeOptions {
  width: number;
  height: number;
  grey?: boolean;
  quality: number;
  progressive?: boolean;
  chroma?: '4:2:0' | '4:4:4';
  optimiseCoding?: boolean;
  optimiseScans?: boolean;
}

async function encode(o: EncodeOptions): Promise<Buffer> {
  let s = sharp(testPicture(o.width, o.height, o.width * 31 + o.height), { raw: { width: o.width, height: o.height, channels: 3 } });
  if (o.grey) s = s.toColourspace('b-w');
  return s
    .jpeg({
      quality: o.quality,
      progressive: o.progressive ?? false,
      chromaSubsampling: o.chroma ?? '4:2:0',
      optimiseCoding: o.optimiseCoding ?? true,
      optimiseScans: o.optimiseScans ?? false,
      trellisQuantisation: false,
      overshootDeringing: false,
    })
    .toBuffer();
}

/** The first component's samples after dequantization, float IDCT, level shift and clamp,
 *  cropped to its real extent (luma is full resolution in every file tested here). */
function lumaFromCoefficients(j: JpegCoefficients): { samples: Uint8Array; width: number; height: number } {
  const c = j.components[0]!;
  const width = Math.ceil((j.width * c.h) / Math.max(...j.components.map((x) => x.h)));
  const height = Math.ceil((j.height * c.v) / Math.max(...j.components.map((x) => x.v)));
  const samples = new Uint8Array(width * height);
  const out = new Float64Array(64);
  for (let by = 0; by < c.blocksHigh; by++) {
    for (let bx = 0; bx < c.blocksWide; bx++) {
      idctBlock(c.coefficients, (by * c.blocksPerLine + bx) * 64, c.quant, out);
      for (let y = 0; y < 8; y++) {
        const py = by * 8 + y;
        if (py >= height) break;
        for (let x = 0; x < 8; x++) {
          const px = bx * 8 + x;
          if (px >= width) break;
          samples[py * width + px] = Math.max(0, Math.min(255, Math.round(out[y * 8 + x]! + 128)));
        }
      }
    }
  }
  return { samples, width, height };
}

/**
 * Luma as sharp/libjpeg decodes it. Greyscale files: the single decoded channel. Colour files:
 * Y recomputed from the RGB output with the JFIF (BT.601 full-range) weights; the embedded ICC
 * profile is ignored, otherwise sharp converts to sRGB and the result is no longer the stored Y.
 */
async function sharpLuma(file: Buffer): Promise<{ samples: Float64Array; width: number; height: number }> {
  const { data, info } = await sharp(file, { ignoreIcc: true }).raw().toBuffer({ resolveWithObject: true });
  const n = info.width * info.height;
  const samples = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * info.channels;
    samples[i] = info.channels < 3 ? data[o]! : 0.299 * data[o]! + 0.587 * data[o + 1]! + 0.114 * data[o + 2]!;
  }
  return { samples, width: info.width, height: info.height };
}

function compare(a: { samples: Uint8Array; width: number; height: number }, b: { samples: Float64Array; width: number; height: number }): { mean: number; max: number } {
  assert.equal(a.width, b.width, 'luma width');
  assert.equal(a.height, b.height, 'luma height');
  let sum = 0;
  let max = 0;
  for (let i = 0; i < a.samples.length; i++) {
    const d = Math.abs(a.samples[i]! - b.samples[i]!);
    sum += d;
    if (d > max) max = d;
  }
  return { mean: sum / a.samples.length, max };
}

const SIZES = [
  { width: 333, height: 217 },
  // 100x75 makes the MCU-padded storage grid (14x10 luma blocks in 4:2:0) wider and taller than
  // the blocks that cover the picture (13x10), which is where scan geometry bugs show.
  { width: 100, height: 75 },
];

test('greyscale JPEGs: IDCT of our coefficients matches libjpeg within rounding', async () => {
  for (const size of SIZES) {
    for (const quality of [50, 75, 92]) {
      for (const progressive of [false, true]) {
        const file = await encode({ ...size, grey: true, quality, progressive });
        const j = readJpegCoefficients(file);
        assert.equal(j.components.length, 1);
        assert.equal(j.progressive, progressive);
        const d = compare(lumaFromCoefficients(j), await sharpLuma(file));
        const what = `${size.width}x${size.height} q${quality}${progressive ? ' progressive' : ''}`;
        // libjpeg's integer IDCT rounds differently from a float one: small mean, max of a few levels.
        assert.ok(d.mean < 0.6, `${what}: mean difference ${d.mean}`);
        assert.ok(d.max <= 3, `${what}: max difference ${d.max}`);
      }
    }
  }
});

test('colour JPEGs (4:2:0 and 4:4:4): luma from our coefficients matches Y from libjpeg RGB', async () => {
  for (const size of SIZES) {
    for (const quality of [60, 90]) {
      for (const chroma of ['4:2:0', '4:4:4'] as const) {
        for (const progressive of [false, true]) {
          const file = await encode({ ...size, quality, chroma, progressive });
          const j = readJpegCoefficients(file);
          assert.equal(j.components.length, 3);
          assert.deepEqual(
            j.components.map((c) => [c.h, c.v]),
            chroma === '4:4:4' ? [[1, 1], [1, 1], [1, 1]] : [[2, 2], [1, 1], [1, 1]],
          );
          const d = compare(lumaFromCoefficients(j), await sharpLuma(file));
          const what = `${size.width}x${size.height} q${quality} ${chroma}${progressive ? ' progressive' : ''}`;
          // Y recomputed from RGB carries the RGB rounding and clamping, and in 4:2:0 the
          // upsampled chroma's error leaks back into it (Y is not exactly recovered where R, G or B
          // clip), so the bound is looser than for greyscale files: observed means are ~0.2-0.5.
          assert.ok(d.mean < 1.5, `${what}: mean difference ${d.mean}`);
        }
      }
    }
  }
});

test('baseline and progressive encodings of the same picture give identical coefficients', async () => {
  const variants: { name: string; opts: Partial<EncodeOptions> }[] = [
    { name: 'progressive', opts: { progressive: true } },
    { name: 'progressive, default Huffman tables', opts: { progressive: true, optimiseCoding: false } },
    { name: 'progressive, optimised scans', opts: { progressive: true, optimiseScans: true } },
    { name: 'baseline, default Huffman tables', opts: { optimiseCoding: false } },
  ];
  for (const size of SIZES) {
    for (const grey of [false, true]) {
      for (const chroma of ['4:2:0', '4:4:4'] as const) {
        if (grey && chroma === '4:4:4') continue;
        const base: EncodeOptions = { ...size, grey, chroma, quality: 83 };
        const ref = readJpegCoefficients(await encode(base));
        assert.equal(ref.frameType, 0xc0);
        for (const v of variants) {
          const other = readJpegCoefficients(await encode({ ...base, ...v.opts }));
          const what = `${size.width}x${size.height} ${grey ? 'grey' : chroma} ${v.name}`;
          assert.equal(other.frameType, v.opts.progressive ? 0xc2 : 0xc0, what);
          assert.equal(other.damaged, false, `${what}: an intact file is not damaged (end-of-band runs end progressive scans without data)`);
          assert.equal(other.components.length, ref.components.length, what);
          for (let i = 0; i < ref.components.length; i++) {
            const a = ref.components[i]!;
            const b = other.components[i]!;
            assert.deepEqual(b.quant, a.quant, `${what}: quant of component ${i}`);
            assert.deepEqual([b.blocksPerLine, b.blocksPerColumn, b.blocksWide, b.blocksHigh], [a.blocksPerLine, a.blocksPerColumn, a.blocksWide, a.blocksHigh], what);
            // Compare only the blocks that cover the picture: the padding blocks of the MCU grid are
            // never coded in non-interleaved progressive scans (they stay zero here) while a baseline
            // interleaved scan codes them.
            for (let by = 0; by < a.blocksHigh; by++) {
              const o = by * a.blocksPerLine * 64;
              const n = a.blocksWide * 64;
              if (!sameRange(a.coefficients, b.coefficients, o, n)) assert.fail(`${what}: component ${i} differs in block row ${by}`);
            }
          }
        }
      }
    }
  }
});

function sameRange(a: Int16Array, b: Int16Array, off: number, n: number): boolean {
  for (let i = off; i < off + n; i++) if (a[i] !== b[i]) return false;
  return true;
}

const CAMERA_DIR = sharedPath('fixtures', 'camera');
const cameraFiles = readdirSync(CAMERA_DIR)
  .filter((f) => /\.jpe?g$/i.test(f))
  .sort();

test('camera fixtures decode and their luma matches libjpeg in stored orientation', async () => {
  assert.ok(cameraFiles.length > 0);
  const restartFiles: string[] = [];
  for (const f of cameraFiles) {
    const file = readShared('fixtures', 'camera', f);
    const j = readJpegCoefficients(file);
    assert.equal(j.damaged, false, f);
    if (j.restartInterval > 0) restartFiles.push(f);
    // sharp's raw output is in stored orientation unless .rotate()/autoOrient is asked for, so
    // files with EXIF orientation 2-8 compare pixel for pixel as well.
    const d = compare(lumaFromCoefficients(j), await sharpLuma(file));
    assert.ok(d.mean < 1.5, `${f}: mean luma difference ${d.mean}`);
  }
  // iphone6_8mp, nikon_e950 and samsung_s7_gps use DRI/RSTn; keep that path covered.
  assert.ok(restartFiles.length > 0, 'no camera fixture with a restart interval');
});

test('broken fixtures decode or fail with JpegCoefficientError', async () => {
  const dir = sharedPath('fixtures', 'broken');
  const outcome: Record<string, string> = {};
  for (const f of readdirSync(dir).sort()) {
    const bytes = readShared('fixtures', 'broken', f);
    let j: JpegCoefficients;
    try {
      j = readJpegCoefficients(bytes);
      outcome[f] = 'ok';
    } catch (e) {
      assert.ok(e instanceof JpegCoefficientError, `${f}: ${String(e)}`);
      outcome[f] = e.code;
      continue;
    }
    // Most of these are broken only in their metadata; where libjpeg decodes the picture, ours
    // must agree (bad_gps_entries.jpg is also the one real-world progressive file).
    let ref: Awaited<ReturnType<typeof sharpLuma>> | undefined;
    try {
      ref = await sharpLuma(bytes);
    } catch {
      continue;
    }
    const d = compare(lumaFromCoefficients(j), ref);
    assert.ok(d.mean < 1.5, `${f}: mean luma difference ${d.mean}`);
  }
  assert.equal(outcome['zero_bytes.jpg'], 'not_jpeg');
  assert.equal(outcome['text_not_image.jpg'], 'not_jpeg');
  assert.equal(outcome['iccp_bad_adler32.png'], 'not_jpeg');
  assert.equal(outcome['truncated_half.jpg'], 'truncated');
  assert.equal(outcome['truncated_headers_only.jpg'], 'truncated');
  assert.equal(outcome['bad_gps_entries.jpg'], 'ok');
  // Restart-interval file with a damaged byte pair (0xFF9F) in its scan: libjpeg reports
  // "premature end of data segment" / "found marker 0xd1 instead of RST5" and resyncs; so do we
  // (sharp refuses to return it even with failOn 'none', so there is no pixel comparison).
  assert.equal(outcome['corrupted_olympus.jpg'], 'ok');
  assert.equal(readJpegCoefficients(readShared('fixtures', 'broken', 'corrupted_olympus.jpg')).damaged, true, 'libjpeg warns about its scan data; so do we');
});

// --- hand-edited files -------------------------------------------------------------

/** Offsets of the marker segments before the first SOS (marker byte position). */
function segments(bytes: Uint8Array): { marker: number; at: number; length: number }[] {
  const out: { marker: number; at: number; length: number }[] = [];
  let p = 2;
  while (p + 4 <= bytes.length && bytes[p] === 0xff) {
    const marker = bytes[p + 1]!;
    const length = (bytes[p + 2]! << 8) | bytes[p + 3]!;
    out.push({ marker, at: p, length });
    if (marker === 0xda) break;
    p += 2 + length;
  }
  return out;
}

function splice(bytes: Uint8Array, at: number, remove: number, insert: Uint8Array): Uint8Array {
  return Buffer.concat([bytes.subarray(0, at), insert, bytes.subarray(at + remove)]);
}

function segment(marker: number, payload: number[] | Uint8Array): Uint8Array {
  const n = payload.length + 2;
  return Uint8Array.from([0xff, marker, n >> 8, n & 0xff, ...payload]);
}

test('16-bit DQT, split DQT/DHT segments, APPn/COM and fill bytes give the same coefficients', async () => {
  const file = await encode({ width: 100, height: 75, quality: 70, progressive: true });
  const ref = readJpegCoefficients(file);
  let edited: Uint8Array = file;
  // Rewrite every DQT as one segment per table with 16-bit entries.
  for (const s of segments(edited).reverse()) {
    if (s.marker !== 0xdb) continue;
    const body = edited.subarray(s.at + 4, s.at + 2 + s.length);
    const parts: Uint8Array[] = [];
    for (let p = 0; p < body.length; ) {
      const precision = body[p]! >> 4;
      const n = precision ? 128 : 64;
      const wide = [0x10 | (body[p]! & 15)];
      for (let i = 0; i < 64; i++) {
        const v = precision ? (body[p + 1 + 2 * i]! << 8) | body[p + 2 + 2 * i]! : body[p + 1 + i]!;
        wide.push(v >> 8, v & 0xff);
      }
      parts.push(segment(0xdb, wide));
      p += 1 + n;
    }
    edited = splice(edited, s.at, 2 + s.length, Buffer.concat(parts));
  }
  // A COM and an APP15 in front of the frame header, and fill bytes before SOF.
  const sof = segments(edited).find((s) => s.marker === 0xc2)!;
  edited = splice(edited, sof.at, 0, Buffer.concat([segment(0xfe, Buffer.from('hello')), segment(0xef, [1, 2, 3, 0xff, 0xd9]), Uint8Array.from([0xff, 0xff, 0xff])]));
  const got = readJpegCoefficients(edited);
  assert.ok(segments(edited).filter((s) => s.marker === 0xdb).length >= 2);
  for (let i = 0; i < ref.components.length; i++) {
    assert.deepEqual(got.components[i]!.quant, ref.components[i]!.quant);
    assert.deepEqual(got.components[i]!.coefficients, ref.components[i]!.coefficients);
  }
});

test('unsupported frame types, precision and oversized frames are refused with typed errors', async () => {
  const file = await encode({ width: 64, height: 48, quality: 80 });
  const sof = segments(file).find((s) => s.marker === 0xc0)!;
  const expectCode = (bytes: Uint8Array, code: string, what: string): void => {
    assert.throws(() => readJpegCoefficients(bytes), (e: unknown) => e instanceof JpegCoefficientError && e.code === code, what);
  };
  for (const m of [0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]) {
    const b = Buffer.from(file);
    b[sof.at + 1] = m;
    expectCode(b, 'unsupported', `SOF 0x${m.toString(16)}`);
  }
  {
    // SOF1 (extended sequential, 8-bit) is coded exactly like baseline.
    const b = Buffer.from(file);
    b[sof.at + 1] = 0xc1;
    const j = readJpegCoefficients(b);
    assert.equal(j.frameType, 0xc1);
    assert.equal(j.progressive, false);
    assert.deepEqual(j.components.map((c) => c.coefficients), readJpegCoefficients(file).components.map((c) => c.coefficients));
    b[sof.at + 4] = 12;
    expectCode(b, 'unsupported', '12-bit');
  }
  {
    // 60000x60000: refused from the header alone (the allocation would be 7 GB).
    const b = Buffer.from(file);
    b.writeUInt16BE(60000, sof.at + 5);
    b.writeUInt16BE(60000, sof.at + 7);
    const before = process.memoryUsage().arrayBuffers;
    expectCode(b, 'too_large', '60000x60000');
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024);
  }
  {
    const b = Buffer.from(file);
    b.writeUInt16BE(0, sof.at + 5);
    expectCode(b, 'corrupt', 'height 0');
  }
  {
    const b = Buffer.from(file);
    b[sof.at + 11] = 0x00; // sampling factors 0x0 of the first component
    expectCode(b, 'corrupt', 'sampling 0');
  }
  assert.throws(() => readJpegCoefficients(file, { maxPixels: 1000 }), (e: unknown) => e instanceof JpegCoefficientError && e.code === 'too_large');
  {
    // A DHT claiming three 1-bit codes cannot be a prefix code.
    const dht = segments(file).find((s) => s.marker === 0xc4)!;
    const b = Buffer.from(file);
    b[dht.at + 5] = 3;
    expectCode(b, 'corrupt', 'impossible DHT');
  }
});

test('fuzz: mutated and truncated JPEGs finish quickly with success or JpegCoefficientError', async () => {
  const seeds = [
    await encode({ width: 48, height: 40, quality: 75 }),
    await encode({ width: 48, height: 40, quality: 75, progressive: true }),
    await encode({ width: 40, height: 24, quality: 90, grey: true, progressive: true }),
    // sharp cannot write restart intervals; the DRI/RSTn paths have their own tests below.
  ];
  const rnd = xorshift32(20261206);
  const started = performance.now();
  const codes = new Map<string, number>();
  const CASES = 2000;
  for (let i = 0; i < CASES; i++) {
    const seed = seeds[i % seeds.length]!;
    const b = Buffer.from(seed);
    let input: Uint8Array = b;
    switch (rnd() % 5) {
      case 0: // truncation anywhere
        input = b.subarray(0, rnd() % b.length);
        break;
      case 1: // a few bit flips
        for (let k = 1 + (rnd() % 4); k > 0; k--) b[rnd() % b.length]! ^= 1 << (rnd() % 8);
        break;
      case 2: // an overwritten run of random bytes
        for (let k = 0, p = rnd() % b.length, n = 1 + (rnd() % 16); k < n && p + k < b.length; k++) b[p + k] = rnd() & 0xff;
        break;
      case 3: {
        // a corrupted header byte (segment lengths, table specs, SOF/SOS fields live there)
        const sos = segments(b).find((s) => s.marker === 0xda);
        const limit = sos ? sos.at + 2 + sos.length : b.length;
        b[rnd() % limit] = rnd() & 0xff;
        break;
      }
      default: // a random marker inserted in the entropy data
        {
          const p = b.length - 2 - (rnd() % Math.max(1, b.length >> 2));
          input = splice(b, p, 0, Uint8Array.from([0xff, 0xc0 + (rnd() % 64)]));
        }
        break;
    }
    try {
      readJpegCoefficients(input);
      codes.set('ok', (codes.get('ok') ?? 0) + 1);
    } catch (e) {
      if (!(e instanceof JpegCoefficientError)) assert.fail(`case ${i}: ${String(e)}`);
      codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
    }
  }
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 5000, `fuzz took ${elapsed} ms`);
  // Sanity: the mutations did reach the typed failure paths.
  assert.ok((codes.get('truncated') ?? 0) > 0 && (codes.get('corrupt') ?? 0) > 0, JSON.stringify([...codes]));
  if (process.env.CLAIMLENS_JPEG_FUZZ_VERBOSE) console.log(`fuzz: ${CASES} cases in ${elapsed.toFixed(0)} ms`, Object.fromEntries(codes));
});

test('restart-interval fixture survives truncation at every restart segment', () => {
  const file = readShared('fixtures', 'camera', 'nikon_e950.jpg');
  assert.equal(readJpegCoefficients(file).restartInterval, 100);
  // Cut right after each of the first RST markers: always `truncated`, never anything else.
  let cuts = 0;
  const sos = segments(file).find((s) => s.marker === 0xda)!;
  for (let p = sos.at + 2 + sos.length; p + 1 < file.length && cuts < 40; p++) {
    if (file[p] === 0xff && file[p + 1]! >= 0xd0 && file[p + 1]! <= 0xd7) {
      assert.throws(() => readJpegCoefficients(file.subarray(0, p + 2)), (e: unknown) => e instanceof JpegCoefficientError && e.code === 'truncated');
      cuts++;
    }
  }
  assert.ok(cuts > 0, 'no RST marker found');
});

/** Packs a string of '0'/'1' into entropy-coded bytes: 1-padded, 0xFF stuffed with 0x00. */
function packBits(bits: string): number[] {
  const out: number[] = [];
  const padded = bits + '1'.repeat((8 - (bits.length % 8)) % 8);
  for (let i = 0; i < padded.length; i += 8) {
    const b = parseInt(padded.slice(i, i + 8), 2);
    out.push(b);
    if (b === 0xff) out.push(0);
  }
  return out;
}

test('a small file with a large frame and endless EOB-run scans is refused, not decoded for ever', () => {
  // 4000x4000 greyscale progressive; each AC scan is a handful of EOB14 codes that skip every
  // block without reading input, so without a work bound a few kB could cost minutes.
  const parts: Uint8Array[] = [Uint8Array.from([0xff, 0xd8])];
  parts.push(segment(0xdb, [0x00, ...new Array<number>(64).fill(1)]));
  parts.push(segment(0xc2, [8, 4000 >> 8, 4000 & 0xff, 4000 >> 8, 4000 & 0xff, 1, 1, 0x11, 0]));
  const counts = new Array<number>(16).fill(0);
  counts[0] = 1; // one 1-bit code ('0') for EOB14
  parts.push(segment(0xc4, [0x10, ...counts, 0xe0]));
  const eob14 = '0' + '1'.repeat(14); // run 2^14 + 16383 blocks
  const scanData = Uint8Array.from(packBits(eob14.repeat(10)));
  for (let i = 0; i < 300; i++) {
    parts.push(segment(0xda, [1, 1, 0x00, 1, 63, 0x00]));
    parts.push(scanData);
  }
  parts.push(Uint8Array.from([0xff, 0xd9]));
  const file = Buffer.concat(parts);
  const t0 = performance.now();
  assert.throws(() => readJpegCoefficients(file), (e: unknown) => e instanceof JpegCoefficientError && e.code === 'corrupt' && /too many scans/.test(e.message));
  assert.ok(performance.now() - t0 < 5000);
  // The same construction with a few scans is a valid (all-zero) image.
  const few = Buffer.concat([...parts.slice(0, 4), ...parts.slice(4, 10), Uint8Array.from([0xff, 0xd9])]);
  const j = readJpegCoefficients(few);
  assert.equal(j.scans, 3);
  assert.equal(j.width, 4000);
});

test('a lost RST marker costs one restart interval and the decoder resynchronises', () => {
  const file = readShared('fixtures', 'camera', 'nikon_e950.jpg');
  const ref = readJpegCoefficients(file);
  const ri = ref.restartInterval;
  assert.ok(ri > 0);
  // Remove the 5th RST marker (the one after interval 4, 0-based): interval 4 then runs into
  // interval 5's data, the reader skips to RST5, which is one ahead of the expected RST4, so
  // interval 5 is left empty and decoding continues in step from interval 6.
  let seen = 0;
  let at = -1;
  const sos = segments(file).find((s) => s.marker === 0xda)!;
  // Start after the SOS header: the EXIF thumbnail in APP1 has its own marker-like bytes.
  for (let p = sos.at + 2 + sos.length; p + 1 < file.length; p++) {
    if (file[p] === 0xff && file[p + 1]! >= 0xd0 && file[p + 1]! <= 0xd7 && seen++ === 4) {
      at = p;
      break;
    }
  }
  assert.ok(at > 0);
  const damaged = readJpegCoefficients(Buffer.concat([file.subarray(0, at), file.subarray(at + 2)]));
  assert.equal(ref.damaged, false);
  assert.equal(damaged.damaged, true, 'the resynchronisation is reported');
  // Which MCUs differ? Expect exactly interval 5 (MCUs 500-599), whose blocks are now zero.
  const y = ref.components[0]!;
  const mcuCols = Math.ceil(ref.width / (8 * Math.max(...ref.components.map((c) => c.h))));
  const differing = new Set<number>();
  for (let ci = 0; ci < ref.components.length; ci++) {
    const a = ref.components[ci]!;
    const b = damaged.components[ci]!;
    for (let blk = 0; blk < a.blocksPerLine * a.blocksPerColumn; blk++) {
      if (!sameRange(a.coefficients, b.coefficients, blk * 64, 64)) {
        const bx = blk % a.blocksPerLine;
        const by = Math.floor(blk / a.blocksPerLine);
        differing.add(Math.floor(by / a.v) * mcuCols + Math.floor(bx / a.h));
        assert.ok(b.coefficients.subarray(blk * 64, blk * 64 + 64).every((v) => v === 0), 'a lost block is left zero');
      }
    }
  }
  assert.equal(y.h, 1);
  const lost = [...differing].sort((a, b) => a - b);
  assert.ok(lost.length > 0 && lost.length <= ri, `lost MCUs: ${lost.length}`);
  assert.ok(lost[0]! >= 5 * ri && lost.at(-1)! < 6 * ri, `lost MCUs ${lost[0]}..${lost.at(-1)}`);
});

test('MCU padding of a degenerate frame counts against the limit before allocation', async () => {
  // 1 x 60000 pixels is within maxPixels, but 4x4 sampling pads every MCU to 32 pixels wide.
  const file = await encode({ width: 64, height: 48, quality: 80, grey: true });
  const sof = segments(file).find((s) => s.marker === 0xc0)!;
  const b = Buffer.from(file);
  b.writeUInt16BE(60000, sof.at + 5);
  b.writeUInt16BE(1, sof.at + 7);
  b[sof.at + 11] = 0x44;
  assert.throws(() => readJpegCoefficients(b, { maxPixels: 100_000 }), (e: unknown) => e instanceof JpegCoefficientError && e.code === 'too_large');
});

// --- a minimal baseline writer --------------------------------------------------------
// sharp cannot write restart intervals, non-interleaved sequential scans or several DHTs, so
// these tests re-encode coefficients we read with a tiny writer of our own. Huffman tables are
// deliberately simple: every DC category gets a 4-bit code and every AC run/size symbol an
// 8-bit code (all 162 symbols), which is legal if not compact.

const AC_SYMBOLS = [0x00, 0xf0];
for (let r = 0; r < 16; r++) for (let s = 1; s <= 10; s++) AC_SYMBOLS.push((r << 4) | s);
const AC_CODE = new Map(AC_SYMBOLS.map((sym, i) => [sym, i]));

class BitWriter {
  bytes: number[] = [];
  private acc = 0;
  private n = 0;
  put(value: number, bits: number): void {
    for (let i = bits - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | ((value >> i) & 1);
      if (++this.n === 8) this.flushByte();
    }
  }
  private flushByte(): void {
    this.bytes.push(this.acc);
    if (this.acc === 0xff) this.bytes.push(0);
    this.acc = 0;
    this.n = 0;
  }
  /** Pads to a byte boundary with 1-bits, as the standard asks. */
  align(): void {
    while (this.n !== 0) this.put(1, 1);
  }
}

function category(v: number): number {
  let a = Math.abs(v);
  let s = 0;
  while (a > 0) {
    s++;
    a >>= 1;
  }
  return s;
}

function putValue(w: BitWriter, v: number, s: number): void {
  if (s > 0) w.put(v >= 0 ? v : v + (1 << s) - 1, s);
}

function writeBlock(w: BitWriter, coefs: Int16Array, off: number, pred: { dc: number }): void {
  const ZZ = [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63];
  const diff = coefs[off]! - pred.dc;
  pred.dc = coefs[off]!;
  const s = category(diff);
  w.put(s, 4);
  putValue(w, diff, s);
  let run = 0;
  for (let k = 1; k < 64; k++) {
    const v = coefs[off + ZZ[k]!]!;
    if (v === 0) {
      run++;
      continue;
    }
    while (run > 15) {
      w.put(AC_CODE.get(0xf0)!, 8);
      run -= 16;
    }
    const sz = category(v);
    w.put(AC_CODE.get((run << 4) | sz)!, 8);
    putValue(w, v, sz);
    run = 0;
  }
  if (run > 0) w.put(AC_CODE.get(0x00)!, 8);
}

function dhtSegments(): Uint8Array {
  const dcCounts = new Array<number>(16).fill(0);
  dcCounts[3] = 12;
  const acCounts = new Array<number>(16).fill(0);
  acCounts[7] = AC_SYMBOLS.length;
  return Buffer.concat([
    segment(0xc4, [0x00, ...dcCounts, ...Array.from({ length: 12 }, (_, i) => i)]),
    segment(0xc4, [0x10, ...acCounts, ...AC_SYMBOLS]),
  ]);
}

/** Re-encodes coefficients as a baseline JPEG: one interleaved scan, or one scan per component. */
function writeBaseline(j: JpegCoefficients, opts: { interleaved: boolean; restartInterval: number }): Buffer {
  const parts: Uint8Array[] = [Uint8Array.from([0xff, 0xd8])];
  j.components.forEach((c, i) => parts.push(segment(0xdb, [i, ...Array.from({ length: 64 }, (_, k) => c.quant[[0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63][k]!]!)])));
  parts.push(segment(0xc0, [8, j.height >> 8, j.height & 0xff, j.width >> 8, j.width & 0xff, j.components.length, ...j.components.flatMap((c, i) => [c.id, (c.h << 4) | c.v, i])]));
  const ri = opts.restartInterval;
  if (ri > 0) parts.push(segment(0xdd, [ri >> 8, ri & 0xff]));
  const scans = opts.interleaved ? [j.components] : j.components.map((c) => [c]);
  for (const comps of scans) {
    // Tables redefined before every scan (identical content, but the reader must accept it).
    parts.push(dhtSegments());
    parts.push(segment(0xda, [comps.length, ...comps.flatMap((c) => [c.id, 0x00]), 0, 63, 0]));
    const w = new BitWriter();
    const preds = comps.map(() => ({ dc: 0 }));
    const units: [number, number][] = [];
    const single = comps.length === 1;
    const c0 = comps[0]!;
    const hmax = Math.max(...j.components.map((c) => c.h));
    const vmax = Math.max(...j.components.map((c) => c.v));
    const mx = single ? c0.blocksWide : Math.ceil(j.width / (8 * hmax));
    const my = single ? c0.blocksHigh : Math.ceil(j.height / (8 * vmax));
    for (let y = 0; y < my; y++) for (let x = 0; x < mx; x++) units.push([x, y]);
    let rst = 0;
    units.forEach(([x, y], n) => {
      if (ri > 0 && n > 0 && n % ri === 0) {
        w.align();
        w.bytes.push(0xff, 0xd0 + (rst++ & 7));
        for (const p of preds) p.dc = 0;
      }
      comps.forEach((c, ci) => {
        const h = single ? 1 : c.h;
        const v = single ? 1 : c.v;
        for (let by = 0; by < v; by++) for (let bx = 0; bx < h; bx++) writeBlock(w, c.coefficients, ((y * v + by) * c.blocksPerLine + x * h + bx) * 64, preds[ci]!);
      });
    });
    w.align();
    parts.push(Uint8Array.from(w.bytes));
  }
  parts.push(Uint8Array.from([0xff, 0xd9]));
  return Buffer.concat(parts);
}

test('re-encoded baseline files: non-interleaved scans, restart intervals and redefined DHTs read back exactly', async () => {
  for (const size of SIZES) {
    for (const grey of [false, true]) {
      const src = readJpegCoefficients(await encode({ ...size, grey, quality: 85 }));
      for (const interleaved of [true, false]) {
        for (const restartInterval of [0, 1, 7]) {
          const file = writeBaseline(src, { interleaved, restartInterval });
          const got = readJpegCoefficients(file);
          const what = `${size.width}x${size.height} ${grey ? 'grey' : '4:2:0'} ${interleaved ? 'interleaved' : 'one scan per component'} DRI ${restartInterval}`;
          assert.equal(got.restartInterval, restartInterval, what);
          assert.equal(got.damaged, false, what);
          assert.equal(got.scans, interleaved ? 1 : src.components.length, what);
          for (let i = 0; i < src.components.length; i++) {
            const a = src.components[i]!;
            const b = got.components[i]!;
            assert.deepEqual(b.quant, a.quant, what);
            // Single-component scans cover the component's own grid, not the MCU padding.
            for (let by = 0; by < a.blocksHigh; by++) {
              if (!sameRange(a.coefficients, b.coefficients, by * a.blocksPerLine * 64, a.blocksWide * 64)) assert.fail(`${what}: component ${i} block row ${by}`);
            }
            if (interleaved) assert.ok(sameRange(a.coefficients, b.coefficients, 0, a.coefficients.length), `${what}: padding blocks`);
          }
          if (restartInterval === 1 && !interleaved && !grey) {
            // Damage: drop the third RST of the second scan; only that interval may be lost.
            let seen = 0;
            let at = -1;
            for (let p = 0, scansSeen = 0; p + 1 < file.length; p++) {
              if (file[p] !== 0xff) continue;
              if (file[p + 1] === 0xda) scansSeen++;
              if (scansSeen === 2 && file[p + 1]! >= 0xd0 && file[p + 1]! <= 0xd7 && seen++ === 2) {
                at = p;
                break;
              }
            }
            assert.ok(at > 0, 'RST marker in the second scan');
            const damaged = readJpegCoefficients(Buffer.concat([file.subarray(0, at), file.subarray(at + 2)]));
            assert.equal(damaged.damaged, true);
            const a = got.components[1]!.coefficients;
            const b = damaged.components[1]!.coefficients;
            let differing = 0;
            for (let blk = 0; blk < a.length / 64; blk++) if (!sameRange(a, b, blk * 64, 64)) differing++;
            assert.ok(differing <= 1, `${what}: ${differing} blocks lost`);
            // The first scan is untouched (compare against the undamaged re-encode: both leave the
            // MCU padding blocks of single-component scans empty).
            assert.deepEqual(damaged.components[0]!.coefficients, got.components[0]!.coefficients);
          }
        }
      }
    }
  }
});
