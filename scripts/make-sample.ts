// Re-makes the bundled demo photos samples/reference.jpg and samples/claim.jpg (our own
// work, drawn here from SVG; nothing from ../shared is shipped).
//
//   reference.jpg  the merchant's listing photo: a white mug on a white background
//   claim.jpg      the "damage photo" a buyer made from it with an AI image tool: the same
//                  picture with a crack painted on, carrying the implicit AIGC label that
//                  GB 45438-2025 obliges AI services to embed (XMP TC260:AIGC, Label "1")
//
// Usage: node --import tsx scripts/make-sample.ts [outDir]   (default: samples/)
// See docs/samples.md for what `claimlens analyze` shows on them.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';

const WIDTH = 960;
const HEIGHT = 720;

/** The GB 45438-2025 implicit label as an AI service writes it (JSON in XMP, XML-escaped). */
export const SAMPLE_AIGC_LABEL = {
  Label: '1',
  ContentProducer: '001191110108MA01CLAIMLENS00',
  ProduceID: 'claimlens-sample-0001',
  ReservedCode1: '',
  ContentPropagator: '',
  PropagateID: '',
  ReservedCode2: '',
};

function xmpWithLabel(label: object): string {
  const json = JSON.stringify(label).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  return [
    `<x:xmpmeta xmlns:x="adobe:ns:meta/">`,
    `<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">`,
    ` <rdf:Description rdf:about="" xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/">`,
    `  <TC260:AIGC>${json}</TC260:AIGC>`,
    ` </rdf:Description>`,
    `</rdf:RDF>`,
    `</x:xmpmeta>`,
  ].join('\n');
}

/** A product shot: a glazed white mug with a blue band on a white sweep, soft shadow. */
function mugSvg(withCrack: boolean): string {
  const crack = withCrack
    ? `<g>
        <path d="M512 262 L498 300 L521 331 L503 372 L527 405 L509 446 L530 482 L517 517"
              fill="none" stroke="#2b2118" stroke-width="4.5" stroke-linejoin="miter" stroke-linecap="round"/>
        <path d="M521 331 L552 350 L566 384" fill="none" stroke="#2b2118" stroke-width="2.6" stroke-linecap="round"/>
        <path d="M503 372 L474 394 L466 421" fill="none" stroke="#2b2118" stroke-width="2.2" stroke-linecap="round"/>
        <path d="M514 263 L500 300 L523 331 L505 372 L529 405 L511 446 L532 482"
              fill="none" stroke="#ffffff" stroke-opacity="0.55" stroke-width="1.4" transform="translate(3 1)"/>
        <path d="M498 300 L486 306 M527 405 L541 412 M509 446 L494 452" stroke="#3a2e24" stroke-width="1.5"/>
      </g>`
    : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}">
  <defs>
    <linearGradient id="sweep" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#ffffff"/><stop offset="0.72" stop-color="#f6f6f4"/><stop offset="1" stop-color="#e9e9e6"/>
    </linearGradient>
    <radialGradient id="shadow" cx="0.5" cy="0.5" r="0.5">
      <stop offset="0" stop-color="#000" stop-opacity="0.28"/><stop offset="1" stop-color="#000" stop-opacity="0"/>
    </radialGradient>
    <linearGradient id="glaze" x1="0" y1="0" x2="1" y2="0">
      <stop offset="0" stop-color="#d9d9d6"/><stop offset="0.18" stop-color="#f4f4f2"/><stop offset="0.38" stop-color="#ffffff"/>
      <stop offset="0.62" stop-color="#f1f1ef"/><stop offset="0.88" stop-color="#cfcfcb"/><stop offset="1" stop-color="#b9b9b4"/>
    </linearGradient>
    <linearGradient id="band" x1="0" y1="0" x2="1" y2="0">
      <stop offset="0" stop-color="#1f3f73"/><stop offset="0.35" stop-color="#3d6db3"/><stop offset="0.7" stop-color="#2c548f"/><stop offset="1" stop-color="#172f56"/>
    </linearGradient>
    <linearGradient id="inside" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#bdbdb8"/><stop offset="1" stop-color="#e8e8e4"/>
    </linearGradient>
  </defs>
  <rect width="100%" height="100%" fill="url(#sweep)"/>
  <ellipse cx="500" cy="585" rx="250" ry="38" fill="url(#shadow)"/>
  <path d="M655 300 C770 290 780 470 650 478" fill="none" stroke="#c9c9c5" stroke-width="34" stroke-linecap="round"/>
  <path d="M655 300 C755 296 764 462 650 470" fill="none" stroke="#f3f3f1" stroke-width="18" stroke-linecap="round"/>
  <path d="M330 220 L670 220 L655 560 C655 585 345 585 345 560 Z" fill="url(#glaze)"/>
  <path d="M337 380 L663 380 L660 440 L340 440 Z" fill="url(#band)"/>
  <ellipse cx="500" cy="220" rx="170" ry="34" fill="#f7f7f5" stroke="#d0d0cc" stroke-width="3"/>
  <ellipse cx="500" cy="224" rx="152" ry="25" fill="url(#inside)"/>
  <path d="M372 250 L382 540" stroke="#ffffff" stroke-opacity="0.8" stroke-width="14" stroke-linecap="round"/>
  ${crack}
</svg>`;
}

/** Deterministic sensor-like noise so the picture compresses like a photo, not a drawing. */
function addNoise(data: Buffer, seed: number, amplitude: number): void {
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const n = ((s >>> 24) / 255 - 0.5) * 2 * amplitude;
    data[i] = Math.max(0, Math.min(255, Math.round(data[i]! + n)));
  }
}

async function render(withCrack: boolean, seed: number): Promise<Buffer> {
  const { data, info } = await sharp(Buffer.from(mugSvg(withCrack))).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  addNoise(data, seed, 3);
  return sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } }).blur(0.6).raw().toBuffer();
}

export async function makeSamples(outDir: string): Promise<{ reference: string; claim: string }> {
  mkdirSync(outDir, { recursive: true });
  const raw = { raw: { width: WIDTH, height: HEIGHT, channels: 3 as const } };
  const reference = await sharp(await render(false, 7), raw).jpeg({ quality: 86, mozjpeg: true }).toBuffer();
  // The buyer's tool re-rendered the whole picture (different noise) and labelled its output.
  const claim = await sharp(await render(true, 11), raw)
    .jpeg({ quality: 84, mozjpeg: true })
    .withXmp(xmpWithLabel(SAMPLE_AIGC_LABEL))
    .toBuffer();
  const paths = { reference: join(outDir, 'reference.jpg'), claim: join(outDir, 'claim.jpg') };
  writeFileSync(paths.reference, reference);
  writeFileSync(paths.claim, claim);
  return paths;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('make-sample.ts')) {
  const out = resolve(process.argv[2] ?? 'samples');
  const paths = await makeSamples(out);
  for (const p of Object.values(paths)) process.stdout.write(`wrote ${p}\n`);
}
