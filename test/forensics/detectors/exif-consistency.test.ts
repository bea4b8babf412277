import { test } from 'node:test';
import assert from 'node:assert/strict';
import { consistencySignals, exifConsistencyDetector } from '../../../src/forensics/detectors/exif-consistency.ts';
import { sniffFormat } from '../../../src/forensics/intake.ts';
import { readMetadata } from '../../../src/forensics/metadata.ts';
import { exifTime } from '../../../src/forensics/detectors/metadata-common.ts';
import type { AnalysisContext, Signal } from '../../../src/forensics/types.ts';
import { TAG, ascii, assertExplained, jpegWithExif, pictureJpeg, picturePng, rational, runDetector, type ExifSpec, type ExifValue } from '../../helpers/labels.ts';
import { fixtureManifest, readShared } from '../../helpers/shared.ts';

let jpegBase: Buffer;
test('setup', async () => {
  jpegBase = await pictureJpeg(160, 120, 11);
});

const phone = (extra: Partial<Record<'capture' | 'offset' | 'modify', string>> = {}): ExifSpec => {
  const ifd0: Record<number, ExifValue> = {
    [TAG.Make]: ascii('Xiaomi'),
    [TAG.Model]: ascii('Redmi Note 12'),
    [TAG.Software]: ascii('MIUI 14'),
  };
  if (extra.modify) ifd0[TAG.DateTime] = ascii(extra.modify);
  const exif: Record<number, ExifValue> = { [TAG.DateTimeOriginal]: ascii(extra.capture ?? '2025:09:03 10:00:00') };
  if (extra.offset) exif[TAG.OffsetTimeOriginal] = ascii(extra.offset);
  return { ifd0, exif, gps: gpsShanghai };
};

const gpsShanghai: Record<number, ExifValue> = {
  [TAG.GPSLatitudeRef]: ascii('N'),
  [TAG.GPSLatitude]: rational([31, 1], [13, 1], [48, 1]),
  [TAG.GPSLongitudeRef]: ascii('E'),
  [TAG.GPSLongitude]: rational([121, 1], [28, 1], [12, 1]),
};

async function consistency(bytes: Uint8Array, ctx: AnalysisContext, name = 'a.jpg'): Promise<Signal> {
  const out = await runDetector(exifConsistencyDetector, bytes, name, ctx);
  assert.equal(out.length, 1);
  assert.equal(out[0]!.id, 'exif.consistency');
  assertExplained(out[0]!);
  return out[0]!;
}

test('a consistent phone photo: facts in evidence, info, no risk', async () => {
  const s = await consistency(jpegWithExif(jpegBase, phone({ offset: '+08:00' })), {
    deliveredAt: new Date('2025-09-02T08:00:00Z'),
    uploadedAt: new Date('2025-09-03T09:00:00Z'),
  });
  assert.equal(s.verdict, 'info');
  assert.equal(s.score, 0);
  assert.equal(s.evidence['make'], 'Xiaomi');
  assert.equal(s.evidence['model'], 'Redmi Note 12');
  assert.equal(s.evidence['software'], 'MIUI 14');
  assert.equal(s.evidence['captureTime'], '2025-09-03 10:00:00');
  assert.equal(s.evidence['captureTimeUtc'], '2025-09-03T02:00:00.000Z');
  assert.equal(s.evidence['gpsPresent'], true);
  assert.deepEqual(s.evidence['gps'], { latitude: 31.23, longitude: 121.47 });
  assert.deepEqual(s.evidence['oddities'], []);
  assert.match(s.summary.en, /Xiaomi Redmi Note 12/);
  assert.match(s.summary.zh, /有 GPS/);
});

test('capture after upload → suspicious, low score; the zone offset decides the slack', async () => {
  const ctx = { uploadedAt: new Date('2025-09-03T01:00:00Z') };
  // 10:00 +08:00 = 02:00Z: one hour after the upload.
  const s = await consistency(jpegWithExif(jpegBase, phone({ offset: '+08:00' })), ctx);
  assert.equal(s.verdict, 'suspicious');
  assert.deepEqual(s.evidence['oddities'], ['capture_after_upload']);
  assert.ok(s.score > 0 && s.score <= 0.35);
  assert.match(s.summary.en, /after the upload/);
  // Without an offset, 10:00 could be as early as 20:00Z the day before: no oddity.
  const noZone = await consistency(jpegWithExif(jpegBase, phone()), ctx);
  assert.deepEqual(noZone.evidence['oddities'], []);
  // …but a day later is after the upload in every zone.
  const late = await consistency(jpegWithExif(jpegBase, phone({ capture: '2025:09:05 10:00:00' })), ctx);
  assert.deepEqual(late.evidence['oddities'], ['capture_after_upload']);
});

test('capture before delivery → suspicious; no deliveredAt → not checked', async () => {
  const bytes = jpegWithExif(jpegBase, phone({ capture: '2025:08:20 10:00:00', offset: '+08:00' }));
  const s = await consistency(bytes, { deliveredAt: new Date('2025-09-01T00:00:00Z'), uploadedAt: new Date('2025-09-03T00:00:00Z') });
  assert.equal(s.verdict, 'suspicious');
  assert.deepEqual(s.evidence['oddities'], ['capture_before_delivery']);
  assert.match(s.summary.zh, /早于订单签收时间/);
  assert.equal(s.evidence['deliveredAt'], '2025-09-01T00:00:00.000Z');
  const without = await consistency(bytes, { uploadedAt: new Date('2025-09-03T00:00:00Z') });
  assert.deepEqual(without.evidence['oddities'], []);
});

test('modify date apart from capture and missing camera data are info-level notes', async () => {
  const s = await consistency(jpegWithExif(jpegBase, phone({ modify: '2025:09:04 18:30:00' })), { uploadedAt: new Date('2025-09-05T00:00:00Z') });
  assert.equal(s.verdict, 'info');
  assert.deepEqual(s.evidence['oddities'], ['modified_after_capture']);
  assert.equal(s.evidence['modifyTime'], '2025-09-04 18:30:00');

  const bare = await consistency(jpegBase, {});
  assert.equal(bare.verdict, 'info');
  assert.deepEqual(bare.evidence['oddities'], ['missing_camera_data']);
  assert.equal(bare.evidence['make'], null);
  assert.ok(bare.score * bare.confidence < 0.2, 'low weight');
  // PNG is not a camera format: no camera data is not odd there.
  const png = await consistency(await picturePng(32, 32, 1), {}, 'a.png');
  assert.deepEqual(png.evidence['oddities'], []);
});

test('uploadedAt defaults to now', async () => {
  const future = new Date(Date.now() + 5 * 86400_000);
  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp = `${future.getUTCFullYear()}:${pad(future.getUTCMonth() + 1)}:${pad(future.getUTCDate())} 12:00:00`;
  const s = await consistency(jpegWithExif(jpegBase, phone({ capture: stamp })), {});
  assert.deepEqual(s.evidence['oddities'], ['capture_after_upload']);
});

test('exifTime reads the wall clock whatever the process time zone, and applies offsets', () => {
  const t = exifTime('2025:09:03 10:00:00', '-05:00')!;
  assert.equal(t.wall, '2025-09-03 10:00:00');
  assert.equal(new Date(t.utcMs!).toISOString(), '2025-09-03T15:00:00.000Z');
  assert.equal(exifTime('garbage', undefined), undefined);
  assert.equal(exifTime(new Date(NaN), undefined), undefined);
});

test('shared fixtures: make, model, capture time and GPS agree with the manifest; camera photos are never more than low-weight', async () => {
  const uploadedAt = new Date('2026-01-01T00:00:00Z');
  const entries = fixtureManifest().filter((e) => /^(camera|heic|labels)\//.test(e.file) && !e.file.endsWith('.config'));
  for (const e of entries) {
    // Metadata only: decoding the HEIC pixels would add seconds and test nothing here.
    const bytes = readShared('fixtures', e.file);
    const format = sniffFormat(bytes)!;
    const [s] = consistencySignals(format, (await readMetadata(bytes, format)).tags, { uploadedAt });
    assert.ok(s);
    assertExplained(s);
    const f = e.facts;
    assert.equal(s.evidence['make'], f['make'] ?? null, e.file);
    assert.equal(s.evidence['model'], f['model'] ?? null, e.file);
    assert.equal(s.evidence['gpsPresent'], f['has_gps'], e.file);
    if (f['datetime_original']) {
      assert.equal(String(s.evidence['captureTime']).replace(/-/g, ':'), String(f['datetime_original']).slice(0, 19), e.file);
    }
    if (e.file.startsWith('camera/') || e.file.startsWith('heic/')) {
      assert.notEqual(s.verdict, 'suspicious', e.file);
      assert.ok(s.score * s.confidence <= 0.15, e.file);
    }
  }
});
