// The metadata detectors together, through the engine, on every real file in the shared
// fixtures: genuine camera photos must not be accused, broken files must not crash, and
// the labelled files must come out with the verdict their label implies.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { analyzeBytes } from '../../../src/forensics/engine.ts';
import { DETECTORS } from '../../../src/forensics/registry.ts';
import { aigcLabelDetector } from '../../../src/forensics/detectors/aigc-label.ts';
import { exifConsistencyDetector } from '../../../src/forensics/detectors/exif-consistency.ts';
import { exifThumbnailDetector } from '../../../src/forensics/detectors/exif-thumbnail.ts';
import { generatorMetadataDetector } from '../../../src/forensics/detectors/generator-metadata.ts';
import { iptcSourceDetector } from '../../../src/forensics/detectors/iptc-source.ts';
import type { ImageReport } from '../../../src/forensics/types.ts';
import { assertExplained } from '../../helpers/labels.ts';
import { fixtureManifest, readShared, sharedPath } from '../../helpers/shared.ts';

const METADATA = [aigcLabelDetector, iptcSourceDetector, generatorMetadataDetector, exifThumbnailDetector, exifConsistencyDetector];
const context = { uploadedAt: new Date('2026-01-01T00:00:00Z') };

async function analyze(file: string): Promise<ImageReport> {
  const report = await analyzeBytes(readShared('fixtures', file), file, { detectors: METADATA, context });
  for (const d of report.detectors ?? []) assert.equal(d.error, undefined, `${file}: detector ${d.id} failed: ${d.error}`);
  report.signals.forEach(assertExplained);
  return report;
}

test('the five metadata detectors are registered in the engine', () => {
  for (const d of METADATA) assert.ok(DETECTORS.includes(d), d.id);
});

test('every camera photo and HEIC file: analysed, no tampered or ai_generated signal', async () => {
  const files = [
    ...readdirSync(sharedPath('fixtures', 'camera')).map((f) => `camera/${f}`),
    ...readdirSync(sharedPath('fixtures', 'heic')).map((f) => `heic/${f}`),
  ];
  assert.ok(files.length >= 29);
  for (const file of files) {
    const r = await analyze(file);
    assert.equal(r.error, undefined, `${file}: ${JSON.stringify(r.error)}`);
    const accusing = r.signals.filter((s) => s.verdict === 'tampered' || s.verdict === 'ai_generated');
    assert.deepEqual(accusing.map((s) => s.id), [], file);
    assert.ok(r.verdict === 'clean' || r.verdict === 'suspicious', `${file}: ${r.verdict}`);
    assert.ok(r.signals.some((s) => s.id === 'exif.consistency'), `${file}: camera facts reported`);
  }
});

test('broken files: decodable ones are analysed, undecodable ones get an error entry; nothing crashes', async () => {
  for (const e of fixtureManifest().filter((x) => x.file.startsWith('broken/'))) {
    const r = await analyze(e.file);
    if (e.facts['broken_kind'] === 'metadata_malformed_but_decodable') {
      assert.equal(r.error, undefined, `${e.file}: ${JSON.stringify(r.error)}`);
      assert.ok(r.signals.some((s) => s.id === 'exif.consistency'), e.file);
    } else {
      assert.ok(r.error?.code, `${e.file}: an error entry`);
    }
  }
});

test('labelled files: the verdict follows the label', async () => {
  const expectVerdict: Record<string, string> = {
    'labels/aigc_xmp_label1.jpg': 'ai_generated',
    'labels/aigc_exif_usercomment_label1.jpg': 'ai_generated',
    'labels/aigc_png_text_label1.png': 'ai_generated',
    'labels/iptc_trained_algorithmic.jpg': 'ai_generated',
    'labels/iptc_composite_trained.jpg': 'ai_generated',
    'labels/thumbnail_swapped.jpg': 'tampered',
    'labels/aigc_malformed_json.jpg': 'suspicious',
    'labels/aigc_missing_label_key.jpg': 'suspicious',
    'labels/aigc_label_value_9.jpg': 'suspicious',
    'labels/software_photoshop.jpg': 'suspicious',
    'labels/software_meitu.jpg': 'suspicious',
    'labels/iptc_digital_capture.jpg': 'clean',
    'generators/flux_fill_inpaint.png': 'ai_generated',
    'generators/input_scribble_no_chunks.png': 'clean',
  };
  for (const [file, verdict] of Object.entries(expectVerdict)) {
    const r = await analyze(file);
    assert.equal(r.verdict, verdict, `${file}: ${JSON.stringify(r.signals.map((s) => [s.id, s.verdict, s.score]))}`);
  }
});
