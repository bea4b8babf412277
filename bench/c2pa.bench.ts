// C2PA detector cost: (1) a 12 MP phone JPEG without C2PA, which must cost next to nothing
// (structural pre-scan only, the validator is never started); (2) the 12 MP camera-signed
// Truepic sample, validated by the WASM c2pa-rs build; both beside sharp's decode of the
// same file, measured in the same run.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { intakeImage } from '../src/forensics/intake.ts';
import { c2paDetector } from '../src/forensics/detectors/c2pa.ts';
import { SHARED, median, photo12mp, sharpDecodeMs } from './photos.ts';

async function detectorMs(bytes: Uint8Array, name: string, runs: number): Promise<number> {
  const image = await intakeImage(bytes, { name });
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await c2paDetector.run(image, {});
    times.push(performance.now() - t0);
  }
  return median(times);
}

export default async function (): Promise<Record<string, number>> {
  const plain = await photo12mp();
  const plainDecode = await sharpDecodeMs(plain, 5);
  const scan = await detectorMs(plain, 'plain.jpg', 50);
  console.log(
    `12 MP JPEG without C2PA (${(plain.length / 1e6).toFixed(1)} MB): c2pa detector ${scan.toFixed(3)} ms, sharp decode ${plainDecode.toFixed(0)} ms, ratio ${(scan / plainDecode).toFixed(4)}×`,
  );

  const signed = readFileSync(resolve(SHARED, 'fixtures/c2pa/truepic_camera.jpg'));
  const image = await intakeImage(signed, { name: 'truepic_camera.jpg' });
  const t0 = performance.now();
  await c2paDetector.run(image, {}); // first call compiles the 8 MB WebAssembly module
  const first = performance.now() - t0;
  const validate = await detectorMs(signed, 'truepic_camera.jpg', 9);
  const signedDecode = await sharpDecodeMs(signed, 5);
  console.log(
    `12 MP signed camera JPEG (${(signed.length / 1e6).toFixed(1)} MB): c2pa validation ${validate.toFixed(0)} ms (first call incl. WASM start ${first.toFixed(0)} ms), sharp decode ${signedDecode.toFixed(0)} ms, ratio ${(validate / signedDecode).toFixed(2)}×`,
  );

  return {
    c2pa_scan_12mp_ms: round(scan, 4),
    c2pa_scan_12mp_ratio: round(scan / plainDecode, 5),
    c2pa_validate_12mp_ms: round(validate),
    c2pa_validate_12mp_ratio: round(validate / signedDecode),
    c2pa_first_call_ms: round(first),
  };
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
