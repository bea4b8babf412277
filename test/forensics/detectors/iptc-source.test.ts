import { test } from 'node:test';
import assert from 'node:assert/strict';
import { iptcSourceDetector } from '../../../src/forensics/detectors/iptc-source.ts';
import type { Signal } from '../../../src/forensics/types.ts';
import { IPTC_EXT_NS, IPTC_SOURCE, assertExplained, digitalSourceXmp, jpegWithXmp, pictureJpeg, picturePng, pngWithText, runDetector, xmpPacket } from '../../helpers/labels.ts';
import { fixtureManifest, readShared } from '../../helpers/shared.ts';

let jpegBase: Buffer;
test('setup', async () => {
  jpegBase = await pictureJpeg(200, 150, 5);
});

async function iptc(bytes: Uint8Array, name = 'a.jpg'): Promise<Signal[]> {
  const out = await runDetector(iptcSourceDetector, bytes, name);
  out.forEach(assertExplained);
  return out;
}

test('trainedAlgorithmicMedia and compositeWithTrainedAlgorithmicMedia → ai_generated', async () => {
  for (const term of ['trainedAlgorithmicMedia', 'compositeWithTrainedAlgorithmicMedia']) {
    const [s, ...rest] = await iptc(jpegWithXmp(jpegBase, digitalSourceXmp(term)));
    assert.equal(rest.length, 0);
    assert.equal(s!.id, 'iptc.ai_source');
    assert.equal(s!.verdict, 'ai_generated', term);
    assert.ok(s!.score * s!.confidence >= 0.75, term);
    assert.equal(s!.evidence['term'], term);
    assert.equal(s!.evidence['value'], IPTC_SOURCE + term);
    assert.equal(s!.evidence['aiGenerated'], true);
    assert.deepEqual(s!.evidence.tags, ['xmp:Iptc4xmpExt:DigitalSourceType']);
  }
});

test('rdf:resource form and a PNG iTXt XMP packet are read', async () => {
  const [a] = await iptc(jpegWithXmp(jpegBase, digitalSourceXmp('trainedAlgorithmicMedia', 'resource')));
  assert.equal(a!.verdict, 'ai_generated');
  const png = pngWithText(await picturePng(64, 64, 1), [
    { type: 'iTXt', keyword: 'XML:com.adobe.xmp', text: digitalSourceXmp('compositeWithTrainedAlgorithmicMedia') },
  ]);
  const [b] = await iptc(png, 'a.png');
  assert.equal(b!.evidence['term'], 'compositeWithTrainedAlgorithmicMedia');
});

test('digitalCapture, computationalCapture and other non-generative terms stay info and raise no risk', async () => {
  for (const term of ['digitalCapture', 'computationalCapture', 'compositeCapture']) {
    const [s] = await iptc(jpegWithXmp(jpegBase, digitalSourceXmp(term)));
    assert.equal(s!.verdict, 'info', term);
    assert.equal(s!.score, 0, term);
    assert.equal(s!.evidence['aiGenerated'], false);
  }
  for (const term of ['algorithmicMedia', 'compositeSynthetic', 'screenCapture']) {
    const [s] = await iptc(jpegWithXmp(jpegBase, digitalSourceXmp(term)));
    assert.equal(s!.verdict, 'info', term);
    assert.ok(s!.score <= 0.2, term);
  }
});

test('an unknown term is reported as info; no DigitalSourceType → no signal', async () => {
  const packet = xmpPacket([{ prefix: 'Iptc4xmpExt', ns: IPTC_EXT_NS, name: 'DigitalSourceType', value: 'http://example.com/madeUpTerm2' }]);
  const [s] = await iptc(jpegWithXmp(jpegBase, packet));
  assert.equal(s!.verdict, 'info');
  assert.equal(s!.evidence['term'], null);
  assert.deepEqual(await iptc(jpegBase), []);
  // The same local name in another namespace is not the IPTC property.
  const other = xmpPacket([{ prefix: 'foo', ns: 'http://example.com/ns/', name: 'DigitalSourceType', value: IPTC_SOURCE + 'trainedAlgorithmicMedia' }]);
  assert.deepEqual(await iptc(jpegWithXmp(jpegBase, other)), []);
});

test('shared fixtures: labelled IPTC files match the manifest; C2PA Firefly PNG carries it too', async () => {
  const entries = fixtureManifest().filter((e) => e.file.startsWith('labels/') && e.facts['expected']?.iptc_ai !== undefined);
  assert.equal(entries.length, 3);
  for (const e of entries) {
    const signals = await iptc(readShared('fixtures', e.file), e.file);
    assert.equal(signals.length, 1, e.file);
    assert.equal(signals[0]!.evidence['value'], e.facts['iptc_digital_source_type'], e.file);
    assert.equal(signals[0]!.verdict === 'ai_generated', e.facts['expected'].iptc_ai, e.file);
  }
  const firefly = await iptc(readShared('fixtures', 'c2pa/ai_firefly.png'), 'ai_firefly.png');
  assert.equal(firefly[0]?.verdict, 'ai_generated');
});
