// Analysis of a 12 MP phone JPEG beside sharp's own decode of the same file.

import { analyzeBytes } from '../src/forensics/engine.ts';
import { median, photo12mp, sharpDecodeMs } from './photos.ts';

export default async function (): Promise<Record<string, number>> {
  const jpeg = await photo12mp();
  await analyzeBytes(jpeg, 'warmup.jpg');
  const decode = await sharpDecodeMs(jpeg, 5);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const r = await analyzeBytes(jpeg, 'bench.jpg');
    times.push(performance.now() - t0);
    if (r.error) throw new Error(`analysis failed: ${r.error.message}`);
  }
  const analyze = median(times);
  const ratio = analyze / decode;
  console.log(`12 MP JPEG (${(jpeg.length / 1e6).toFixed(1)} MB): analyze ${analyze.toFixed(0)} ms, sharp decode ${decode.toFixed(0)} ms, ratio ${ratio.toFixed(2)}×`);
  return { analyze_12mp_ms: round(analyze), decode_12mp_ms: round(decode), analyze_12mp_ratio: round(ratio) };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
