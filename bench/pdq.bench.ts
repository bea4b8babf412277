// PDQ hashing time after decode, beside sharp's decode of the same files in the same run:
// the 12 MP phone-like JPEG of bench/photos.ts and the 33 conformance images of ../shared/pdq.
// Hashing includes everything pdqHashImage does after intake's decode (ICC check, sampling
// the 512×512 grid the reference resizes to, luma, filters, DCT, bits). BENCH keys:
// pdq_ms_per_image (12 MP JPEG) and pdq_over_decode (hash time / decode time, target ≤ 0.15).

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { intakeImage } from '../src/forensics/intake.ts';
import { pdqHashImage, pdqRehashedVariants } from '../src/forensics/pdq/index.ts';
import type { DecodedImage } from '../src/forensics/types.ts';
import { SHARED, median, photo12mp, sharpDecodeMs } from './photos.ts';

async function hashMs(image: DecodedImage, runs: number, dihedral = false): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await pdqHashImage(image, { dihedral });
    times.push(performance.now() - t0);
  }
  return median(times);
}

function listImages(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listImages(p));
    else if (/\.(jpe?g|png)$/i.test(name)) out.push(p);
  }
  return out;
}

export default async function (): Promise<Record<string, number>> {
  // 12 MP JPEG, no ICC profile (as most Android phone photos). Decode and hash are timed
  // alternately, round by round, so that both see the same machine load; the ratio is the
  // median of the per-round ratios.
  const jpeg = await photo12mp();
  const image = await intakeImage(jpeg, { name: 'bench.jpg' });
  await hashMs(image, 30); // warm-up: steady-state JIT code, as in a running service
  await sharpDecodeMs(jpeg, 2);
  const rounds = { hash: [] as number[], decode: [] as number[], ratio: [] as number[], hashCpu: [] as number[], decodeCpu: [] as number[] };
  for (let i = 0; i < 15; i++) {
    let c0 = process.cpuUsage();
    const d = await sharpDecodeMs(jpeg, 1);
    const dc = cpuMs(process.cpuUsage(c0));
    c0 = process.cpuUsage();
    const h = await hashMs(image, 1);
    const hc = cpuMs(process.cpuUsage(c0));
    rounds.hash.push(h);
    rounds.decode.push(d);
    rounds.ratio.push(h / d);
    rounds.hashCpu.push(hc);
    rounds.decodeCpu.push(dc);
  }
  const hash = median(rounds.hash);
  const decode = median(rounds.decode);
  const ratio = median(rounds.ratio);
  const cpuRatio = median(rounds.hashCpu) / median(rounds.decodeCpu);
  await hashMs(image, 10, true); // warm-up of the dihedral path
  const hashDih = await hashMs(image, 15, true);
  for (let i = 0; i < 5; i++) await pdqRehashedVariants(image); // warm-up
  const rehashTimes: number[] = [];
  for (let i = 0; i < 9; i++) {
    const t0 = performance.now();
    await pdqRehashedVariants(image);
    rehashTimes.push(performance.now() - t0);
  }
  const rehash = median(rehashTimes);
  console.log(`12 MP JPEG (${(jpeg.length / 1e6).toFixed(1)} MB): PDQ ${hash.toFixed(2)} ms (with 8 dihedral variants ${hashDih.toFixed(2)} ms), sharp decode ${decode.toFixed(0)} ms, hash/decode ${ratio.toFixed(3)} (wall, median of 15 alternating rounds); CPU time hash/decode ${cpuRatio.toFixed(3)} (libvips decodes on several threads); 8 re-hashed orientations ${rehash.toFixed(1)} ms`);

  // The same photo tagged with a Display P3 profile (as iPhone JPEGs): the hasher decodes the
  // stored values once more without colour management, as the reference does; reported, not hidden.
  const p3 = await sharp(jpeg).withIccProfile('p3').jpeg({ quality: 92 }).toBuffer();
  const p3Image = await intakeImage(p3, { name: 'p3.jpg' });
  await hashMs(p3Image, 1);
  const p3Decode = await sharpDecodeMs(p3, 5);
  const p3Hash = await hashMs(p3Image, 5);
  console.log(`12 MP JPEG with ICC profile: PDQ ${p3Hash.toFixed(0)} ms incl. the uncorrected re-decode, sharp decode ${p3Decode.toFixed(0)} ms, hash/decode ${(p3Hash / p3Decode).toFixed(2)}`);

  // The shared conformance images.
  const files = listImages(join(SHARED, 'pdq', 'images'));
  let sumHash = 0;
  let sumDecode = 0;
  const perFile: string[] = [];
  for (const f of files) {
    const bytes = readFileSync(f);
    const img = await intakeImage(bytes, { name: f });
    await hashMs(img, 1);
    const h = await hashMs(img, 5);
    const d = await sharpDecodeMs(bytes, 3);
    sumHash += h;
    sumDecode += d;
    perFile.push(`  ${relative(join(SHARED, 'pdq', 'images'), f)} ${img.width}×${img.height}: PDQ ${h.toFixed(2)} ms, decode ${d.toFixed(1)} ms`);
  }
  console.log(`${files.length} shared PDQ test images: PDQ ${(sumHash / files.length).toFixed(2)} ms/image, sharp decode ${(sumDecode / files.length).toFixed(1)} ms/image, hash/decode ${(sumHash / sumDecode).toFixed(3)}`);
  if (process.env.BENCH_VERBOSE) console.log(perFile.join('\n'));

  return {
    pdq_ms_per_image: round(hash),
    pdq_over_decode: round(ratio, 4),
    pdq_over_decode_cpu: round(cpuRatio, 4),
    pdq_dihedral_ms_per_image: round(hashDih),
    pdq_rehashed_variants_ms: round(rehash),
    pdq_icc_over_decode: round(p3Hash / p3Decode, 3),
    pdq_shared_ms_per_image: round(sumHash / files.length),
    pdq_shared_over_decode: round(sumHash / sumDecode, 4),
  };
}

function cpuMs(u: NodeJS.CpuUsage): number {
  return (u.user + u.system) / 1000;
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
