import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeDecoded } from '../../../src/forensics/engine.ts';
import { intakeImage } from '../../../src/forensics/intake.ts';
import { DETECTORS } from '../../../src/forensics/registry.ts';
import { c2paDetector, analyzeC2pa } from '../../../src/forensics/detectors/c2pa.ts';
import { findC2paContainer, jpegSegments } from '../../../src/forensics/c2pa/container.ts';
import { dataHashBinding, excludedNonC2paSegments, lenientDataHashMatches } from '../../../src/forensics/c2pa/interpret.ts';
import { discardC2paInstance, readC2pa } from '../../../src/forensics/c2pa/reader.ts';
import type { Signal } from '../../../src/forensics/types.ts';
import { fixtureManifest, readShared } from '../../helpers/shared.ts';

const C2PA_IDS = ['c2pa.manifest', 'c2pa.ai_generated', 'c2pa.invalid'];

async function c2paSignals(bytes: Uint8Array, name: string): Promise<Signal[]> {
  const image = await intakeImage(bytes, { name });
  return c2paDetector.run(image, {});
}

function byId(signals: Signal[], id: string): Signal | undefined {
  return signals.find((s) => s.id === id);
}

function assertWellFormed(s: Signal, where: string): void {
  assert.ok(C2PA_IDS.includes(s.id), `${where}: unexpected id ${s.id}`);
  assert.ok(s.summary.en.length > 20 && s.summary.zh.length > 10, `${where}: summary`);
  assert.ok(s.why && s.why.en.length > 20 && s.why.zh.length > 10, `${where}: why`);
  assert.ok(Array.isArray(s.evidence.tags) && s.evidence.tags.length > 0, `${where}: tags`);
  assert.ok(s.score >= 0 && s.score <= 1 && s.confidence >= 0 && s.confidence <= 1, `${where}: ranges`);
  assert.ok(/[\u4e00-\u9fff]/.test(s.summary.zh), `${where}: zh summary is Chinese`);
}

/** Offset of the first byte after the SOS header: the entropy-coded image data. */
function scanDataOffset(b: Uint8Array): number {
  const segs = jpegSegments(b);
  const last = segs[segs.length - 1]!;
  let p = last.offset + last.length;
  assert.equal(b[p], 0xff);
  assert.equal(b[p + 1], 0xda, 'SOS follows the last header segment');
  const sosLen = (b[p + 2]! << 8) | b[p + 3]!;
  return p + 2 + sosLen;
}

/** Changes a few bytes of the compressed pixels (not the manifest) without creating markers. */
function alterPixels(src: Uint8Array): Uint8Array {
  const b = new Uint8Array(src);
  const start = scanDataOffset(b);
  const mid = start + Math.floor((b.length - start) / 2);
  let changed = 0;
  for (let p = mid; changed < 8 && p < b.length - 2; p++) {
    if (b[p] === 0xff || b[p - 1] === 0xff || b[p + 1] === 0xff) continue;
    b[p] = b[p]! ^ 0x11;
    if (b[p] === 0xff) b[p] = 0x10;
    changed++;
  }
  return b;
}

function stripApp11(src: Uint8Array): Uint8Array {
  const segs = jpegSegments(src).filter((s) => s.marker === 0xeb);
  const parts: Uint8Array[] = [];
  let pos = 0;
  for (const s of segs) {
    parts.push(src.subarray(pos, s.offset));
    pos = s.offset + s.length;
  }
  parts.push(src.subarray(pos));
  return new Uint8Array(Buffer.concat(parts));
}

test('every C2PA fixture gives what manifest.json states (presence, validity, error class, AI action)', async () => {
  const entries = fixtureManifest().filter((e) => e.file.startsWith('c2pa/'));
  assert.ok(entries.length >= 15, 'c2pa fixtures listed');
  for (const entry of entries) {
    const facts = entry.facts.c2pa as { present: boolean; expected_valid: boolean | null; expected_error: string | null; ai_action: boolean; ingredient_error?: string };
    const signals = await c2paSignals(readShared('fixtures', entry.file), entry.file);
    for (const s of signals) assertWellFormed(s, entry.file);
    const manifest = byId(signals, 'c2pa.manifest');
    const invalid = byId(signals, 'c2pa.invalid');
    const ai = byId(signals, 'c2pa.ai_generated');

    if (!facts.present) {
      assert.equal(signals.length, 0, `${entry.file}: no C2PA signal expected`);
      continue;
    }
    assert.ok(manifest, `${entry.file}: c2pa.manifest expected`);
    assert.equal(manifest.verdict, 'info');
    const validation = manifest.evidence.validation as { cryptographicallyValid: boolean; errorClass?: string };
    const trust = manifest.evidence.trust as { status: string; testCertificate: boolean };
    // No trust list is configured, so no signer can come out trusted; that is not invalidity.
    assert.equal(trust.status, 'untrusted', `${entry.file}: trust`);
    assert.ok((manifest.evidence.signer as { issuer?: string }).issuer, `${entry.file}: signer issuer`);
    assert.ok(manifest.evidence.claimGenerator, `${entry.file}: claim generator`);

    if (facts.expected_valid === true) {
      assert.equal(validation.cryptographicallyValid, true, `${entry.file}: should validate (${JSON.stringify(manifest.evidence.validation)})`);
      assert.equal(invalid, undefined, `${entry.file}: no c2pa.invalid`);
    } else if (facts.expected_valid === false) {
      assert.equal(validation.cryptographicallyValid, false, `${entry.file}: should fail`);
      assert.ok(invalid, `${entry.file}: c2pa.invalid expected`);
      assert.equal(invalid.evidence.errorClass, facts.expected_error, `${entry.file}: error class`);
      assert.ok(invalid.verdict === 'tampered' || invalid.verdict === 'suspicious');
      if (facts.expected_error === 'hash' || facts.expected_error === 'signature') assert.equal(invalid.verdict, 'tampered');
    } else {
      // Validity not stated by the source (truepic_camera.jpg): whatever the validator
      // decides, it must not be called tampered (see docs/c2pa.md).
      assert.ok(!invalid || invalid.verdict !== 'tampered', `${entry.file}: must not be tampered`);
    }

    if (facts.ingredient_error) {
      const issues = manifest.evidence.ingredientIssues as { codes: string[] }[];
      assert.ok(issues.length > 0, `${entry.file}: ingredient issue reported`);
      assert.ok(issues.some((i) => i.codes.some((c) => /claimSignature|timeStamp/.test(c))), `${entry.file}: ingredient signature codes`);
      assert.ok(manifest.evidence.tags!.includes('c2pa:ingredient-issues'));
    }

    if (facts.ai_action) {
      assert.ok(ai, `${entry.file}: c2pa.ai_generated expected`);
      assert.ok(ai.verdict === 'ai_generated' || ai.verdict === 'tampered');
      assert.ok(ai.score * ai.confidence >= 0.5, `${entry.file}: strong enough to set the verdict`);
    } else {
      assert.equal(ai, undefined, `${entry.file}: no AI signal`);
    }
    if (entry.source_repo === 'c2pa-org/public-testfiles' && /adobe-/.test(String((entry as { source_path?: string }).source_path))) {
      assert.equal(trust.testCertificate, true, `${entry.file}: Adobe samples use the test certificate`);
      assert.match(manifest.summary.en, /TEST certificate/);
    }
  }
});

test('AI source types are told apart: generated image vs generative fill in a photo', async () => {
  const firefly = await c2paSignals(readShared('fixtures', 'c2pa/ai_firefly.png'), 'ai_firefly.png');
  const gen = byId(firefly, 'c2pa.ai_generated')!;
  assert.equal(gen.verdict, 'ai_generated');
  assert.ok((gen.evidence.sources as { kind: string }[]).every((s) => s.kind === 'trained'));
  assert.equal(byId(firefly, 'c2pa.manifest')!.evidence.container, 'png-caBX');

  const fill = await c2paSignals(readShared('fixtures', 'c2pa/ai_photoshop_firefly_fill.jpg'), 'fill.jpg');
  const comp = byId(fill, 'c2pa.ai_generated')!;
  assert.equal(comp.verdict, 'tampered');
  assert.match(comp.summary.en, /compositeWithTrainedAlgorithmicMedia/);
  assert.match(comp.summary.en, /Adobe Firefly/, 'names the AI tool from c2pa.edited');
  const sources = comp.evidence.sources as { kind: string; active: boolean; relationship?: string }[];
  assert.ok(sources.some((s) => s.active && s.kind === 'composite'));
  // The Firefly parent ingredient's own declaration is kept as evidence too.
  assert.ok(sources.some((s) => !s.active && s.kind === 'trained'));
  const actions = (byId(fill, 'c2pa.manifest')!.evidence.actions as { action: string }[]).map((a) => a.action);
  assert.deepEqual(actions, ['c2pa.opened', 'c2pa.cropped', 'c2pa.edited']);
});

test('files without C2PA give no c2pa signal: no_manifest_A.jpg, every camera photo, HEIC and generator PNGs', async () => {
  const files = [
    'c2pa/no_manifest_A.jpg',
    ...fixtureManifest()
      .filter((e) => /^(camera|heic|generators|labels)\//.test(e.file))
      .map((e) => e.file),
  ];
  assert.ok(files.length > 40);
  for (const file of files) {
    const bytes = readShared('fixtures', file);
    const image = await intakeImage(bytes, { name: file });
    assert.equal(findC2paContainer(bytes, image.format), undefined, `${file}: scan finds no store`);
    assert.deepEqual(await c2paDetector.run(image, {}), [], file);
  }
});

test('changing pixel bytes of a signed file (not the manifest) gives c2pa.invalid with the hash failure', async () => {
  const original = readShared('fixtures', 'c2pa/valid_CA.jpg');
  const altered = alterPixels(original);
  assert.notDeepEqual(altered, new Uint8Array(original));
  const signals = await c2paSignals(altered, 'altered.jpg');
  const invalid = byId(signals, 'c2pa.invalid');
  assert.ok(invalid, 'c2pa.invalid expected');
  assert.equal(invalid.verdict, 'tampered');
  assert.equal(invalid.evidence.errorClass, 'hash');
  assert.ok((invalid.evidence.codes as string[]).includes('assertion.dataHash.mismatch'));
  assert.equal((byId(signals, 'c2pa.manifest')!.evidence.validation as { cryptographicallyValid: boolean }).cryptographicallyValid, false);

  // Through the whole engine and the registry: the image verdict follows the signal.
  assert.ok(DETECTORS.includes(c2paDetector), 'registered');
  const report = await analyzeDecoded(await intakeImage(altered, { name: 'altered.jpg' }), 'altered.jpg', {}, [c2paDetector]);
  assert.equal(report.verdict, 'tampered');
});

test('stripping the APP11 segments leaves no manifest and no signal', async () => {
  const original = readShared('fixtures', 'c2pa/valid_CAI.jpg');
  const stripped = stripApp11(original);
  assert.ok(stripped.length < original.length);
  assert.equal(jpegSegments(stripped).filter((s) => s.marker === 0xeb).length, 0);
  assert.deepEqual(await c2paSignals(stripped, 'stripped.jpg'), []);
});

test('an unreadable C2PA store is reported as broken (suspicious), not as a valid or absent manifest', async () => {
  const b = new Uint8Array(readShared('fixtures', 'c2pa/valid_C.jpg'));
  const seg = jpegSegments(b).find((s) => s.c2pa)!;
  // Keep CI/En/Z, the superbox header and the "c2pa" label; garble everything after it.
  let x = 7;
  for (let p = seg.offset + 4 + 8 + 40; p < seg.offset + seg.length; p++) b[p] = (x = (x * 73 + 41) & 0xff);
  assert.ok(findC2paContainer(b, 'jpeg'), 'still looks like a C2PA store');
  const signals = await c2paSignals(b, 'garbled.jpg');
  const manifest = byId(signals, 'c2pa.manifest');
  const invalid = byId(signals, 'c2pa.invalid');
  assert.ok(manifest && invalid, JSON.stringify(signals.map((s) => s.summary.en)));
  assert.equal(manifest.evidence.readable, false);
  assert.match(String(manifest.evidence.libraryError), /Jumbf/i);
  assert.equal(invalid.verdict, 'suspicious');
  assert.equal(invalid.evidence.errorClass, 'claim');
  assert.deepEqual(invalid.evidence.codes, ['manifest.unreadable']);
  for (const s of signals) assertWellFormed(s, 'garbled.jpg');
});

test('truepic camera file: lenient hash recomputation over the declared exclusions', async () => {
  const original = new Uint8Array(readShared('fixtures', 'c2pa/truepic_camera.jpg'));
  const read = await readC2pa(original, 'image/jpeg', { withCrJson: () => true });
  const store = read.store as { active_manifest: string };
  const binding = dataHashBinding(read.crStore, store.active_manifest);
  assert.ok(binding && binding.hash && binding.exclusions.length === 1);
  const segs = jpegSegments(original);
  // Its exclusion covers EXIF (APP1) as well as the store: the quirk current validators reject.
  const broad = excludedNonC2paSegments(binding.exclusions, segs);
  assert.ok(broad.some((s) => s.marker === 0xe1), 'EXIF segment inside the exclusion');
  assert.equal(lenientDataHashMatches(original, binding), true);

  // Changing pixels is still caught, by the library and by the recomputation: tampered.
  const altered = alterPixels(original);
  assert.equal(lenientDataHashMatches(altered, binding), false);
  const signals = await c2paSignals(altered, 'truepic_altered.jpg');
  const invalid = byId(signals, 'c2pa.invalid')!;
  assert.equal(invalid.verdict, 'tampered');
  assert.equal(invalid.evidence.errorClass, 'hash');

  // Changing only excluded EXIF bytes: the validator may accept or reject, but the
  // image data is as signed, so it is never tampered.
  const exif = segs.find((s) => s.marker === 0xe1)!;
  const exifEdited = new Uint8Array(original);
  exifEdited[exif.offset + exif.length - 3] = exifEdited[exif.offset + exif.length - 3]! ^ 0x01;
  assert.equal(lenientDataHashMatches(exifEdited, binding), true);
  const exifSignals = await c2paSignals(exifEdited, 'truepic_exif.jpg');
  assert.ok(byId(exifSignals, 'c2pa.manifest'));
  const exifInvalid = byId(exifSignals, 'c2pa.invalid');
  assert.ok(!exifInvalid || exifInvalid.verdict !== 'tampered');
});

test('a manifest store moved into a WebP C2PA chunk is found and read (hash no longer binds)', async () => {
  const src = readShared('fixtures', 'c2pa/valid_C.jpg');
  const segs = jpegSegments(src).filter((s) => s.c2pa);
  // Reassemble the JUMBF box from the APP11 segments: payload = CI(2) En(2) Z(4) + box
  // bytes; continuation segments repeat the 8-byte box header, which is dropped.
  const pieces = segs.map((s, i) => src.subarray(s.offset + 4 + 8 + (i === 0 ? 0 : 8), s.offset + s.length));
  const jumbf = Buffer.concat(pieces);
  const sharp = (await import('sharp')).default;
  const webp = await sharp(src).resize(64, 48).webp().toBuffer();
  const riffChunks = webp.subarray(12);
  const pad = jumbf.length & 1 ? Buffer.from([0]) : Buffer.alloc(0);
  const chunk = Buffer.concat([Buffer.from('C2PA'), u32le(jumbf.length), jumbf, pad]);
  const body = Buffer.concat([Buffer.from('WEBP'), riffChunks, chunk]);
  const file = Buffer.concat([Buffer.from('RIFF'), u32le(body.length), body]);
  const container = findC2paContainer(file, 'webp');
  assert.equal(container?.kind, 'webp-C2PA');
  const signals = await c2paSignals(file, 'moved.webp');
  const manifest = byId(signals, 'c2pa.manifest');
  assert.ok(manifest, JSON.stringify(signals.map((s) => s.summary.en)));
  assert.equal(manifest.evidence.container, 'webp-C2PA');
  // The store was signed for another file: its hard binding cannot match this one.
  assert.ok(byId(signals, 'c2pa.invalid'));
});

function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

test('malformed JUMBF never crashes: a few hundred mutations of a signed file', async () => {
  const base = new Uint8Array(readShared('fixtures', 'c2pa/valid_CA.jpg'));
  const app11 = jpegSegments(base).filter((s) => s.c2pa);
  let seed = 0x5eed;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const kinds = new Map<string, number>();
  const outcomes = new Map<string, number>();
  for (let i = 0; i < 300; i++) {
    const b = new Uint8Array(base);
    const seg = app11[rand(app11.length)]!;
    const inSeg = () => seg.offset + 4 + rand(seg.length - 4);
    let kind: string;
    let bytes: Uint8Array = b;
    switch (i % 6) {
      case 0: // flip a few bytes inside the JUMBF
        kind = 'flip';
        for (let k = 0; k < 1 + rand(8); k++) b[inSeg()] = rand(256);
        break;
      case 1: // random bytes over a whole stretch of the JUMBF
        kind = 'random-run';
        {
          const at = inSeg();
          for (let p = at; p < Math.min(seg.offset + seg.length, at + 16 + rand(400)); p++) b[p] = rand(256);
        }
        break;
      case 2: // corrupt a box length field near the start of the segment
        kind = 'box-length';
        {
          const at = seg.offset + 12 + rand(Math.min(120, seg.length - 16));
          b[at] = rand(256);
          b[at + 1] = rand(256);
        }
        break;
      case 3: // truncate the file inside the manifest store
        kind = 'truncate';
        bytes = b.subarray(0, inSeg());
        break;
      case 4: // cut bytes out of the JUMBF while keeping the segment length (boxes truncated)
        kind = 'cut';
        {
          const at = inSeg();
          const n = 1 + rand(64);
          bytes = new Uint8Array(Buffer.concat([b.subarray(0, at), b.subarray(Math.min(at + n, b.length)), new Uint8Array(n)]));
        }
        break;
      default: // keep the JUMBF header, fill the rest of the segment with random bytes
        kind = 'random-payload';
        for (let p = seg.offset + 24 + rand(40); p < seg.offset + seg.length; p++) b[p] = rand(256);
    }
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    const container = findC2paContainer(bytes, 'jpeg');
    if (!container) {
      outcomes.set('no-store', (outcomes.get('no-store') ?? 0) + 1);
      continue;
    }
    const signals = await analyzeC2pa(bytes, 'image/jpeg', container);
    assert.ok(Array.isArray(signals), `mutation ${i} (${kind})`);
    for (const s of signals) assertWellFormed(s, `mutation ${i} (${kind})`);
    const key = signals.map((s) => `${s.id}:${s.verdict}`).sort().join(',') || 'none';
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  }
  // Most mutations must be noticed (a signed store cannot be changed silently).
  const validOutcomes = outcomes.get('c2pa.manifest:info') ?? 0;
  assert.ok(validOutcomes < 60, `too many mutations passed as valid: ${JSON.stringify([...outcomes])}`);

  // Full engine path on a few mutated files, from intake on.
  for (let i = 0; i < 12; i++) {
    const b = new Uint8Array(base);
    const seg = app11[i % app11.length]!;
    for (let p = seg.offset + 20; p < seg.offset + seg.length; p += 7) b[p] = rand(256);
    const report = await analyzeDecoded(await intakeImage(b, { name: 'm.jpg' }), 'm.jpg', {}, [c2paDetector]);
    assert.equal(report.detectors![0]!.error, undefined, 'detector returned normally');
  }

  // Afterwards the validator still works (no poisoned state), also on a fresh WebAssembly
  // instance as made after a trap.
  discardC2paInstance();
  const after = await c2paSignals(base, 'valid_CA.jpg');
  assert.equal((byId(after, 'c2pa.manifest')!.evidence.validation as { cryptographicallyValid: boolean }).cryptographicallyValid, true);
});
