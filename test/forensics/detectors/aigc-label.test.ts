import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { aigcLabelDetector, readLabel } from '../../../src/forensics/detectors/aigc-label.ts';
import type { Signal } from '../../../src/forensics/types.ts';
import {
  TAG,
  aigcLabel,
  aigcXmp,
  ascii,
  assertExplained,
  commentSegment,
  insertJpegSegments,
  jpegWithExif,
  jpegWithXmp,
  pictureJpeg,
  picturePng,
  pngWithText,
  runDetector,
  undef,
  userComment,
  xmpPacket,
  TC260_NS,
} from '../../helpers/labels.ts';
import { fixtureManifest, readShared } from '../../helpers/shared.ts';

const byId = (signals: Signal[], id: string) => signals.filter((s) => s.id === id);

function one(signals: Signal[], id: string): Signal {
  const found = byId(signals, id);
  assert.equal(found.length, 1, `expected one ${id}, got ${JSON.stringify(signals.map((s) => s.id))}`);
  assertExplained(found[0]!);
  return found[0]!;
}

let jpegBase: Buffer;
let pngBase: Buffer;
test('setup: base pictures', async () => {
  jpegBase = await pictureJpeg(256, 192, 3);
  pngBase = await picturePng(128, 96, 4);
});

test('XMP TC260:AIGC element, Label 1 → ai_generated with every field and the carrier reported', async () => {
  const label = aigcLabel({ ContentProducer: '某某科技有限公司', ContentPropagator: 'platform-x', PropagateID: 'p-42' });
  const signals = await runDetector(aigcLabelDetector, jpegWithXmp(jpegBase, aigcXmp(label)), 'a.jpg');
  const s = one(signals, 'aigc.label');
  assert.equal(s.verdict, 'ai_generated');
  assert.ok(s.score * s.confidence >= 0.8);
  assert.equal(s.evidence['location'], 'xmp');
  assert.equal(s.evidence['label'], '1');
  assert.deepEqual(s.evidence.tags, ['xmp:TC260:AIGC']);
  assert.deepEqual(s.evidence['fields'], label);
  assert.equal(s.evidence['namespace'], TC260_NS);
  assert.match(s.summary.zh, /某某科技有限公司/);
  assert.match(s.summary.en, /platform-x/);
  assert.equal(byId(signals, 'aigc.label_tampered').length, 0);
});

test('XMP attribute form with another prefix, Label 2 and 3 → suspicious, not ai_generated', async () => {
  for (const [labelValue, expectScoreBelow] of [['2', 0.7], ['3', 0.6]] as const) {
    const packet = xmpPacket([{ prefix: 'aigc', ns: TC260_NS, name: 'AIGC', value: JSON.stringify(aigcLabel({ Label: labelValue })), form: 'attribute' }]);
    const signals = await runDetector(aigcLabelDetector, jpegWithXmp(jpegBase, packet), 'a.jpg');
    const s = one(signals, 'aigc.label');
    assert.equal(s.verdict, 'suspicious');
    assert.equal(s.evidence['label'], labelValue);
    assert.ok(s.score < expectScoreBelow);
    assert.deepEqual(s.evidence.tags, ['xmp:aigc:AIGC']);
    assert.match(s.why!.en, labelValue === '2' ? /declared/ : /detected/);
  }
});

test('EXIF UserComment {"AIGC":{...}} in ASCII and UNICODE charsets → aigc.label at exif_usercomment', async () => {
  for (const charset of ['ASCII', 'UNICODE'] as const) {
    const jpeg = jpegWithExif(jpegBase, {
      ifd0: { [TAG.Make]: ascii('TestCam') },
      exif: { [TAG.UserComment]: undef(userComment(JSON.stringify({ AIGC: aigcLabel() }), charset)) },
    });
    const s = one(await runDetector(aigcLabelDetector, jpeg, 'a.jpg'), 'aigc.label');
    assert.equal(s.verdict, 'ai_generated', charset);
    assert.equal(s.evidence['location'], 'exif_usercomment');
    assert.deepEqual(s.evidence.tags, ['exif:UserComment']);
  }
});

test('PNG tEXt, iTXt (UTF-8) and zTXt keyword AIGC → aigc.label at png_text', async () => {
  const label = aigcLabel({ Label: '3', ContentProducer: '中文服务商' });
  for (const type of ['tEXt', 'iTXt', 'zTXt'] as const) {
    // tEXt/zTXt are Latin-1 by the spec; Chinese writers still put UTF-8 there.
    const text = type === 'iTXt' ? JSON.stringify(label) : Buffer.from(JSON.stringify(label), 'utf8').toString('latin1');
    const png = pngWithText(pngBase, [{ type, keyword: 'AIGC', text }]);
    const s = one(await runDetector(aigcLabelDetector, png, 'a.png'), 'aigc.label');
    assert.equal(s.evidence['location'], 'png_text', type);
    assert.equal(s.evidence['label'], '3');
    assert.equal((s.evidence['fields'] as Record<string, string>)['ContentProducer'], '中文服务商', type);
  }
});

test('XMP in WebP and in a HEIF-family container (AVIF), written by libvips, is read too', async () => {
  const webp = await sharp(pngBase).webp().withXmp(aigcXmp(aigcLabel())).toBuffer();
  const s = one(await runDetector(aigcLabelDetector, webp, 'a.webp'), 'aigc.label');
  assert.equal(s.verdict, 'ai_generated');
  assert.equal(s.evidence['location'], 'xmp');
  const avif = await sharp(pngBase).avif({ effort: 0 }).withXmp(aigcXmp(aigcLabel({ Label: '2' }))).toBuffer();
  const a = one(await runDetector(aigcLabelDetector, avif, 'a.avif'), 'aigc.label');
  assert.equal(a.evidence['label'], '2');
  assert.equal(a.evidence['location'], 'xmp');
});

test('a JPEG comment holding {"AIGC":...} is tolerated as a carrier', async () => {
  const jpeg = insertJpegSegments(jpegBase, [commentSegment(JSON.stringify({ AIGC: aigcLabel() }))]);
  const s = one(await runDetector(aigcLabelDetector, jpeg, 'a.jpg'), 'aigc.label');
  assert.equal(s.evidence['location'], 'jpeg_comment');
});

test('malformed labels → aigc.label_tampered naming the problem, never aigc.label', async () => {
  const cases: { raw: string; problem: string; grave: boolean }[] = [
    { raw: '{"Label":"1","ContentProducer":"x","ProduceID":"y"', problem: 'invalid_json', grave: true },
    { raw: JSON.stringify(aigcLabel({ Label: undefined })), problem: 'missing_label', grave: true },
    { raw: JSON.stringify(aigcLabel({ Label: '9' })), problem: 'label_out_of_range', grave: true },
    { raw: JSON.stringify(aigcLabel({ Label: '' })), problem: 'label_out_of_range', grave: true },
    { raw: '["Label","1"]', problem: 'not_object', grave: true },
  ];
  for (const c of cases) {
    const signals = await runDetector(aigcLabelDetector, jpegWithXmp(jpegBase, aigcXmp(c.raw)), 'a.jpg');
    assert.equal(byId(signals, 'aigc.label').length, 0, c.raw);
    const s = one(signals, 'aigc.label_tampered');
    assert.equal(s.verdict, 'suspicious');
    assert.ok((s.evidence['problems'] as string[]).includes(c.problem), `${c.raw}: ${JSON.stringify(s.evidence['problems'])}`);
    assert.equal(s.evidence['location'], 'xmp');
    assert.ok(s.score >= 0.5, c.raw);
  }
  // The recovered Label of a truncated value is shown to the reviewer.
  const trunc = await runDetector(aigcLabelDetector, jpegWithXmp(jpegBase, aigcXmp(cases[0]!.raw)), 'a.jpg');
  assert.equal(one(trunc, 'aigc.label_tampered').evidence['recoveredLabel'], '1');
});

test('keys partly removed: the label still counts, and the removal is reported as tampering', async () => {
  const raw = aigcLabel({ ContentPropagator: undefined, PropagateID: undefined, ReservedCode2: undefined });
  const signals = await runDetector(aigcLabelDetector, jpegWithXmp(jpegBase, aigcXmp(raw)), 'a.jpg');
  assert.equal(one(signals, 'aigc.label').verdict, 'ai_generated');
  const t = one(signals, 'aigc.label_tampered');
  assert.deepEqual(t.evidence['missingFields'], ['ContentPropagator', 'PropagateID', 'ReservedCode2']);
  assert.ok(t.score < 0.5, 'missing optional keys are a milder problem');
  assert.match(t.summary.en, /ContentPropagator/);
});

test('empty ContentProducer and conflicting labels across carriers are reported', async () => {
  const empty = await runDetector(aigcLabelDetector, jpegWithXmp(jpegBase, aigcXmp(aigcLabel({ ContentProducer: '' }))), 'a.jpg');
  assert.deepEqual(one(empty, 'aigc.label_tampered').evidence['emptyFields'], ['ContentProducer']);

  const jpeg = jpegWithExif(
    jpegBase,
    { ifd0: { [TAG.Make]: ascii('X') }, exif: { [TAG.UserComment]: undef(userComment(JSON.stringify({ AIGC: aigcLabel({ Label: '3' }) }))) } },
    [],
  );
  const both = jpegWithXmp(jpeg, aigcXmp(aigcLabel({ Label: '1' })));
  const signals = await runDetector(aigcLabelDetector, both, 'a.jpg');
  const label = one(signals, 'aigc.label');
  assert.equal(label.evidence['label'], '1', 'the strongest declaration is reported');
  assert.equal((label.evidence['locations'] as unknown[]).length, 2);
  assert.ok((one(signals, 'aigc.label_tampered').evidence['problems'] as string[]).includes('conflicting_labels'));
});

test('no label, or unrelated text mentioning AIGC → no signal', async () => {
  assert.deepEqual(await runDetector(aigcLabelDetector, jpegBase, 'a.jpg'), []);
  const png = pngWithText(pngBase, [{ type: 'tEXt', keyword: 'Comment', text: 'AIGC is a buzzword' }]);
  assert.deepEqual(await runDetector(aigcLabelDetector, png, 'a.png'), []);
  const xmp = jpegWithXmp(jpegBase, xmpPacket([{ prefix: 'dc', ns: 'http://purl.org/dc/elements/1.1/', name: 'description', value: 'AIGC' }]));
  assert.deepEqual(await runDetector(aigcLabelDetector, xmp, 'a.jpg'), []);
});

test('readLabel accepts numeric labels and double-encoded JSON', () => {
  assert.equal(readLabel(JSON.stringify({ ...aigcLabel(), Label: 2 }), 'xmp', 't').label, '2');
  const dbl = readLabel(JSON.stringify(JSON.stringify(aigcLabel())), 'xmp', 't');
  assert.equal(dbl.label, '1');
  assert.deepEqual(dbl.problems, []);
});

test('shared fixtures: every labelled AIGC file gives what its manifest expects', async () => {
  const entries = fixtureManifest().filter((e) => e.file.startsWith('labels/') && e.facts['expected']?.aigc);
  assert.ok(entries.length >= 6, 'the manifest lists the AIGC fixtures');
  for (const e of entries) {
    const want = e.facts['expected'].aigc as { location: string; valid: boolean; label?: string; problem?: string };
    const signals = await runDetector(aigcLabelDetector, readShared('fixtures', e.file), e.file);
    if (want.valid) {
      const s = one(signals, 'aigc.label');
      assert.equal(s.evidence['location'], want.location, e.file);
      assert.equal(s.evidence['label'], want.label, e.file);
      assert.equal(s.verdict, want.label === '1' ? 'ai_generated' : 'suspicious', e.file);
      assert.equal(byId(signals, 'aigc.label_tampered').length, 0, e.file);
    } else {
      assert.equal(byId(signals, 'aigc.label').length, 0, e.file);
      const s = one(signals, 'aigc.label_tampered');
      assert.equal(s.evidence['location'], want.location, e.file);
      assert.ok((s.evidence['problems'] as string[]).includes(want.problem!), `${e.file}: ${JSON.stringify(s.evidence['problems'])}`);
      if (want.label) assert.equal(s.evidence['label'], want.label, e.file);
    }
  }
});

test('shared fixtures: no AIGC signal on files without a label', async () => {
  for (const f of ['camera/nikon_e950.jpg', 'camera/canon_ixus.jpg', 'labels/iptc_trained_algorithmic.jpg', 'generators/input_scribble_no_chunks.png', 'generators/flux_dev.png']) {
    assert.deepEqual(await runDetector(aigcLabelDetector, readShared('fixtures', f), f), [], f);
  }
});

test('hostile packets (thousands of unclosed tags, unterminated quotes) are read in linear time and still find the label', { timeout: 30_000 }, async () => {
  // Backtracking regexes took seconds on 400 KB of this and minutes on a few MB, blocking
  // the process; the scanner must get through 2 MB and still find the real property.
  const junk =
    '<TC260:AIGC '.repeat(20_000) + '>' +
    '<TC260:AIGC>x'.repeat(100_000) +
    ' TC260:AIGC=x'.repeat(20_000) +
    '<rdf:li>'.repeat(20_000);
  const good = aigcXmp(aigcLabel({ Label: '3' }));
  const hostile = good.replace('</rdf:Description>', `${junk}</rdf:Description>`);
  const png = pngWithText(pngBase, [{ type: 'iTXt', keyword: 'XML:com.adobe.xmp', text: hostile, compressed: true }]);
  const signals = await runDetector(aigcLabelDetector, png, 'a.png');
  assert.ok(signals.some((s) => s.id === 'aigc.label' && s.evidence['label'] === '3'));
  const wrapped = pngWithText(pngBase, [{ type: 'tEXt', keyword: 'Comment', text: `{"AIGC": ${'"AIGC": '.repeat(100_000)}` }]);
  const t = await runDetector(aigcLabelDetector, wrapped, 'a.png');
  assert.ok(t.every((s) => s.id === 'aigc.label_tampered'));
});

test('test builders: PNG chunks carry correct CRC-32 (checked against the IEND constant and a fresh PNG)', async () => {
  const { crc32, pngChunk } = await import('../../helpers/labels.ts');
  assert.equal(crc32(Buffer.from('IEND', 'latin1')), 0xae426082);
  const iend = pngChunk('IEND', new Uint8Array(0));
  assert.deepEqual([...iend.subarray(8)], [0xae, 0x42, 0x60, 0x82]);
  // Every chunk of a built file must pass a CRC check.
  const png = pngWithText(pngBase, [{ type: 'iTXt', keyword: 'AIGC', text: JSON.stringify(aigcLabel()), compressed: true }]);
  let off = 8;
  while (off < png.length) {
    const len = png.readUInt32BE(off);
    const crc = png.readUInt32BE(off + 8 + len);
    assert.equal(crc32(png.subarray(off + 4, off + 8 + len)), crc, `chunk at ${off}`);
    off += 12 + len;
  }
});
