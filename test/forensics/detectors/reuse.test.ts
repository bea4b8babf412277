import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { readdirSync } from 'node:fs';
import { reuseDetector } from '../../../src/forensics/detectors/reuse.ts';
import { DETECTORS } from '../../../src/forensics/registry.ts';
import { intakeImage } from '../../../src/forensics/intake.ts';
import { hammingDistance, pdqHashImage } from '../../../src/forensics/pdq/index.ts';
import { reuseQueryHashes } from '../../../src/forensics/reuse/query-hashes.ts';
import { MemoryReuseLookup } from '../../../src/forensics/reuse/memory-lookup.ts';
import { ensureReuseSchema, loadIndex } from '../../../src/forensics/reuse/store.ts';
import { PGlite } from '@electric-sql/pglite';
import type { AnalysisContext, DecodedImage, ReferenceMedia, Signal } from '../../../src/forensics/types.ts';
import { readShared, sharedPath } from '../../helpers/shared.ts';

const classes = readdirSync(sharedPath('photos', 'natural')).sort();
const firstOf = (cls: string) => readdirSync(sharedPath('photos', 'natural', cls)).filter((f) => /\.jpe?g$/i.test(f)).sort()[0]!;
const natural = [classes[0]!, classes[5]!, classes[10]!].map((c) => `${c}/${firstOf(c)}`);
const listing = readdirSync(sharedPath('photos', 'listing')).filter((f) => /\.jpe?g$/i.test(f)).sort();

async function image(bytes: Uint8Array, name?: string): Promise<DecodedImage> {
  return intakeImage(bytes, name ? { name } : {});
}
async function hashOf(bytes: Uint8Array): Promise<{ hash: string; quality: number }> {
  return pdqHashImage(await image(bytes));
}
const byId = (signals: Signal[], id: string) => signals.find((s) => s.id === id);

// The claim photo, and what the index has seen before.
const claimPhoto = readShared('photos', 'natural', natural[0]!);
const otherPhoto = readShared('photos', 'natural', natural[1]!);
const fraudPhoto = readShared('photos', 'natural', natural[2]!);
const listingPhoto = readShared('photos', 'listing', listing[0]!);

async function setup() {
  const reuse = new MemoryReuseLookup();
  // an earlier claim used the same picture, turned 90° and re-saved smaller at JPEG quality 70
  const earlier = await sharp(claimPhoto).rotate(90).resize({ width: 800 }).jpeg({ quality: 70 }).toBuffer();
  const e = await hashOf(earlier);
  reuse.add(e.hash, { type: 'claim', id: 'claim-old', buyerId: 'buyer-a' }, e.quality);
  const l = await hashOf(listingPhoto);
  reuse.add(l.hash, { type: 'reference', id: 'ref-1', sku: 'sku-9' }, l.quality);
  const f = await hashOf(fraudPhoto);
  reuse.add(f.hash, { type: 'fraud_list', id: 'fraud-7' }, f.quality);
  return reuse;
}

test('reuse.seen_before: an earlier claim by another buyer, with distance, variant and claim id', async () => {
  const reuse = await setup();
  const img = await image(claimPhoto);
  const ctx: AnalysisContext = { reuse, claimId: 'claim-new', buyerId: 'buyer-b' };
  const signals = await reuseDetector.run(img, ctx);
  const s = byId(signals, 'reuse.seen_before');
  assert.ok(s, JSON.stringify(signals));
  assert.equal(s.verdict, 'suspicious');
  const m = (s.evidence.matches as any[])[0];
  assert.equal(m.ownerId, 'claim-old');
  assert.equal(m.buyer, 'other_buyer');
  assert.ok(m.distance <= 31);
  assert.notEqual(m.variant, 0, 'the stored copy is rotated, so a rotated variant matched');
  assert.equal(typeof m.variantName, 'string');
  assert.match(s.summary.en, /claim-old/);
  assert.match(s.summary.en, /another buyer/);
  assert.match(s.summary.zh, /另一位买家/);
  assert.ok(s.why?.en && s.why.zh);
  assert.equal(signals.length, 1, 'no reference or fraud signal for this photo');

  // the same buyer: still reported, said so, weaker
  const same = byId(await reuseDetector.run(img, { ...ctx, buyerId: 'buyer-a' }), 'reuse.seen_before')!;
  assert.equal((same.evidence.matches as any[])[0].buyer, 'same_buyer');
  assert.match(same.summary.en, /same buyer/);
  assert.ok(same.score < s.score);

  // the claim's own earlier hash is not reuse
  assert.deepEqual(await reuseDetector.run(img, { reuse, claimId: 'claim-old' }), []);
});

test('a photo seen in many earlier claims (the stored index): all counted, the closest listed, the claim itself left out', async () => {
  const lite = new PGlite();
  try {
    await ensureReuseSchema(lite, { table: 'reuse_hashes' });
    const store = await loadIndex(lite, { table: 'reuse_hashes' });
    try {
      const h = await hashOf(claimPhoto);
      await store.add(Array.from({ length: 30 }, (_, i) => ({ hash: h.hash, quality: h.quality, ownerType: 'claim' as const, ownerId: `old-${i}`, buyerId: 'buyer-a', tenantId: 't1' })));
      // the claim's own photo from its first round of evidence
      await store.add({ hash: h.hash, quality: h.quality, ownerType: 'claim', ownerId: 'claim-new', buyerId: 'buyer-b', tenantId: 't1' });
      const signals = await reuseDetector.run(await image(claimPhoto), { reuse: store.forTenant('t1'), claimId: 'claim-new', buyerId: 'buyer-b' });
      const s = byId(signals, 'reuse.seen_before')!;
      assert.ok(s, JSON.stringify(signals));
      // the store returned 20 of the 30, but says there were 30
      assert.match(s.summary.en, /\(and 29 more\)/);
      assert.match(s.summary.zh, /另有 29 起/);
      const listed = s.evidence.matches as any[];
      assert.equal(listed.length, 10);
      assert.ok(listed.every((m) => m.ownerId.startsWith('old-') && m.buyer === 'other_buyer'));
    } finally {
      await store.close();
    }
  } finally {
    await lite.close();
  }
});

test('reuse.reference_copy: the listing photo sent back, unless it is already a reference of this claim', async () => {
  const reuse = await setup();
  const sentBack = await image(await sharp(listingPhoto).jpeg({ quality: 60 }).toBuffer());
  const signals = await reuseDetector.run(sentBack, { reuse, claimId: 'claim-new' });
  const s = byId(signals, 'reuse.reference_copy');
  assert.ok(s, JSON.stringify(signals));
  assert.equal(s.verdict, 'suspicious');
  assert.equal((s.evidence.matches as any[])[0].ownerId, 'ref-1');
  assert.match(s.summary.zh, /参考图/);
  // passed in ctx.references: the reference-consistency detector reports it instead
  const refs: ReferenceMedia[] = [{ id: 'ref-1', kind: 'listing', image: await image(listingPhoto) }];
  assert.equal(byId(await reuseDetector.run(sentBack, { reuse, references: refs }), 'reuse.reference_copy'), undefined);
});

test('a fraud-list photo scores higher than a photo seen in a claim', async () => {
  const reuse = await setup();
  const fraud = byId(await reuseDetector.run(await image(fraudPhoto), { reuse }), 'reuse.fraud_list');
  assert.ok(fraud);
  assert.equal((fraud.evidence.matches as any[])[0].ownerId, 'fraud-7');
  const seen = byId(await reuseDetector.run(await image(claimPhoto), { reuse, buyerId: 'buyer-b' }), 'reuse.seen_before')!;
  assert.ok(fraud.score * fraud.confidence > seen.score * seen.confidence);
});

test('an unrelated photo gives no signal; no index gives none; a flat picture is only noted', async () => {
  const reuse = await setup();
  assert.deepEqual(await reuseDetector.run(await image(otherPhoto), { reuse }), []);
  assert.deepEqual(await reuseDetector.run(await image(claimPhoto), {}), []);
  const grey = await sharp({ create: { width: 300, height: 200, channels: 3, background: { r: 128, g: 128, b: 128 } } }).png().toBuffer();
  // a flat picture in the index must not make every flat picture a "reuse"
  reuse.add((await hashOf(grey)).hash, { type: 'claim', id: 'flat-claim' });
  const signals = await reuseDetector.run(await image(grey, 'grey.png'), { reuse });
  assert.deepEqual(signals.map((s) => [s.id, s.verdict]), [['reuse.too_flat', 'info']]);
  assert.match(signals[0]!.summary.en, /too flat to hash/);
});

test('the reuse detector is registered', () => {
  assert.ok(DETECTORS.includes(reuseDetector));
});

// Small (198 px) listing photos whose turned/mirrored copies the reference's DCT variants
// miss (36 bits; measured) while the re-hashed orientations find them within a few bits.
test('a 90°-rotated and a mirrored copy of a small real photo are found (re-hashed orientations)', async () => {
  const cases = [
    { file: 'Satsumas.jpg', turn: (s: ReturnType<typeof sharp>) => s.rotate(90), variantName: 'rotate90', text: /90° anticlockwise/ },
    { file: 'Cantaloupe.jpg', turn: (s: ReturnType<typeof sharp>) => s.flop(), variantName: 'flipY', text: /mirrored left to right/ },
  ];
  for (const c of cases) {
    const original = readShared('photos', 'listing', c.file);
    const earlier = await hashOf(original);
    const reuse = new MemoryReuseLookup();
    reuse.add(earlier.hash, { type: 'claim', id: 'claim-first', buyerId: 'buyer-a' }, earlier.quality);
    const copy = await image(await c.turn(sharp(original)).jpeg({ quality: 90 }).toBuffer());
    // the reference's DCT variants of the copy are too far: the case this test is about
    const dct = await reuseQueryHashes(copy, 'dct');
    assert.ok(Math.min(...dct.queries.map((h) => hammingDistance(h, earlier.hash))) > 31, `${c.file}: DCT variants already match`);
    const signals = await reuseDetector.run(copy, { reuse, claimId: 'claim-second', buyerId: 'buyer-b' });
    const s = byId(signals, 'reuse.seen_before');
    assert.ok(s, `${c.file}: ${JSON.stringify(signals)}`);
    const m = (s.evidence.matches as any[])[0];
    assert.equal(m.ownerId, 'claim-first');
    assert.equal(m.variantName, c.variantName);
    assert.ok(m.distance <= 10, `${c.file}: distance ${m.distance}`);
    assert.match(s.summary.en, c.text);
  }
});

test('reuse query hashes: the re-hashed original is the exchange hash; an EXIF-rotated file matches itself at 0', async () => {
  const bytes = readShared('photos', 'listing', 'Banana.jpg');
  const plain = await image(bytes);
  const q = await reuseQueryHashes(plain);
  assert.equal(q.queries.length, 8);
  assert.equal(q.queries[0], (await hashOf(bytes)).hash);
  // the same pixels stored turned, with EXIF orientation 6 telling the viewer to turn them back
  const stored = await sharp(bytes).rotate(270).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toBuffer();
  const exif = await image(stored);
  assert.equal(exif.orientation, 6);
  const qe = await reuseQueryHashes(exif);
  const exchange = (await hashOf(stored)).hash;
  assert.equal(qe.hash, exchange);
  const reuse = new MemoryReuseLookup();
  reuse.add(exchange, { type: 'claim', id: 'claim-exif' }, qe.quality);
  const s = byId(await reuseDetector.run(exif, { reuse, claimId: 'claim-new' }), 'reuse.seen_before')!;
  assert.equal((s.evidence.matches as any[])[0].distance, 0);
  assert.equal((s.evidence.matches as any[])[0].variant, 0);
});
