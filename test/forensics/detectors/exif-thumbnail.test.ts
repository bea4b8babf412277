import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import sharp, { type Sharp } from 'sharp';
import { exifThumbnailDetector, MISMATCH_BELOW } from '../../../src/forensics/detectors/exif-thumbnail.ts';
import { compareThumbnail } from '../../../src/forensics/detectors/thumbnail-compare.ts';
import { dihedral } from '../../../src/forensics/orientation.ts';
import { TAG, ascii, assertExplained, jpegWithExif, pictureRgb, runDetector, short } from '../../helpers/labels.ts';
import { readShared, sharedPath } from '../../helpers/shared.ts';

const raw = (w: number, h: number, seed: number) => sharp(pictureRgb(w, h, seed), { raw: { width: w, height: h, channels: 3 } });

async function thumbOf(img: Sharp, w = 160, h = 120): Promise<Buffer> {
  return img.resize(w, h, { fit: 'fill' }).jpeg({ quality: 75 }).toBuffer();
}

/** A camera-like JPEG: main picture `seed`, IFD1 thumbnail made from `thumb`. */
async function cameraJpeg(main: Buffer, thumbnail: Buffer, orientation = 1): Promise<Buffer> {
  return jpegWithExif(main, {
    ifd0: { [TAG.Make]: ascii('TestCam'), [TAG.Model]: ascii('T-100'), [TAG.Orientation]: short(orientation) },
    exif: { [TAG.DateTimeOriginal]: ascii('2025:09:03 12:00:00') },
    thumbnail,
  });
}

async function thumbSignals(bytes: Uint8Array) {
  const out = await runDetector(exifThumbnailDetector, bytes, 'a.jpg');
  out.forEach(assertExplained);
  return out;
}

test('a genuine thumbnail of the same picture → silent', async () => {
  const main = await raw(640, 480, 1).jpeg({ quality: 90 }).toBuffer();
  const thumb = await thumbOf(raw(640, 480, 1));
  assert.deepEqual(await thumbSignals(await cameraJpeg(main, thumb)), []);
});

test('a thumbnail swapped for another picture → exif.thumbnail_mismatch tampered with the comparison in evidence', async () => {
  const main = await raw(640, 480, 1).jpeg({ quality: 90 }).toBuffer();
  for (const other of [2, 3, 4, 5, 6, 7, 8, 9]) {
    const thumb = await thumbOf(raw(640, 480, other));
    const [s, ...rest] = await thumbSignals(await cameraJpeg(main, thumb));
    assert.equal(rest.length, 0);
    assert.equal(s?.id, 'exif.thumbnail_mismatch', `seed ${other}`);
    assert.equal(s!.verdict, 'tampered');
    assert.ok(s!.score * s!.confidence >= 0.5, 'strong enough to set the verdict');
    const sim = s!.evidence['similarity'] as number;
    assert.ok(sim < MISMATCH_BELOW, `similarity ${sim}`);
    const t = s!.evidence['thumbnail'] as { width: number; height: number; data: string };
    assert.equal(t.width, 160);
    assert.equal(t.height, 120);
    assert.deepEqual(Buffer.from(t.data, 'base64'), thumb, 'the reviewer gets the thumbnail itself');
    assert.deepEqual(s!.evidence.tags, ['exif:IFD1:ThumbnailImage']);
  }
});

test('orientation 6: the thumbnail is stored unrotated like the main pixels → silent', async () => {
  const main = await raw(640, 480, 5).jpeg({ quality: 90 }).toBuffer();
  const thumb = await thumbOf(raw(640, 480, 5));
  assert.deepEqual(await thumbSignals(await cameraJpeg(main, thumb, 6)), []);
});

test('letterboxed 4:3 thumbnail of a 3:2 photo, and a centre-cropped one of a 16:9 photo → silent', async () => {
  const main32 = await raw(720, 480, 6).jpeg({ quality: 90 }).toBuffer();
  const inner = await raw(720, 480, 6).resize(160, 107, { fit: 'fill' }).png().toBuffer();
  const letterboxed = await sharp({ create: { width: 160, height: 120, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .composite([{ input: inner, top: 6, left: 0 }])
    .jpeg({ quality: 75 })
    .toBuffer();
  assert.deepEqual(await thumbSignals(await cameraJpeg(main32, letterboxed)), []);

  const main169 = await raw(960, 540, 7).jpeg({ quality: 90 }).toBuffer();
  const cropped = await raw(960, 540, 7).resize(160, 120, { fit: 'cover' }).jpeg({ quality: 75 }).toBuffer();
  assert.deepEqual(await thumbSignals(await cameraJpeg(main169, cropped)), []);
});

test('a photo cropped after capture (thumbnail shows the wider scene) → suspicious "cropped", not tampered', async () => {
  const scene = raw(640, 480, 12);
  const thumb = await thumbOf(scene.clone());
  const main = await scene.clone().extract({ left: 300, top: 150, width: 300, height: 260 }).jpeg({ quality: 90 }).toBuffer();
  const [s, ...rest] = await thumbSignals(await cameraJpeg(main, thumb));
  assert.equal(rest.length, 0);
  assert.equal(s?.verdict, 'suspicious');
  assert.equal(s!.evidence['outcome'], 'cropped');
  const crop = s!.evidence['crop'] as { areaFraction: number; window: { x: number; y: number } };
  assert.ok(crop.areaFraction > 0.15 && crop.areaFraction < 0.4, `area ${crop.areaFraction}`);
  assert.ok(Math.abs(crop.window.x - 75) <= 6 && Math.abs(crop.window.y - 38) <= 6, JSON.stringify(crop.window));
});

test('flat pictures: a dark photo with its dark thumbnail is silent; a black thumbnail on a bright photo is not', async () => {
  const dark = sharp(pictureRgb(320, 240, 8).map((v) => Math.round(v / 60)), { raw: { width: 320, height: 240, channels: 3 } });
  const darkJpeg = await dark.clone().jpeg({ quality: 90 }).toBuffer();
  const darkThumb = await thumbOf(dark.clone());
  assert.deepEqual(await thumbSignals(await cameraJpeg(darkJpeg, darkThumb)), []);

  const bright = await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 230, g: 230, b: 230 } } }).jpeg().toBuffer();
  const black = await sharp({ create: { width: 160, height: 120, channels: 3, background: { r: 0, g: 0, b: 0 } } }).jpeg().toBuffer();
  const [s] = await thumbSignals(await cameraJpeg(bright, black));
  assert.equal(s?.id, 'exif.thumbnail_mismatch');
  assert.equal(s!.verdict, 'suspicious');
});

test('no thumbnail, or thumbnail bytes that are not a picture → silent, no crash', async () => {
  const main = await raw(320, 240, 1).jpeg().toBuffer();
  assert.deepEqual(await thumbSignals(main), []);
  assert.deepEqual(await thumbSignals(await cameraJpeg(main, Buffer.from('not a jpeg at all, just text'))), []);
});

test('compareThumbnail: every dihedral variant of the same picture matches', async () => {
  const { data, info } = await raw(160, 120, 9).greyscale().raw().toBuffer({ resolveWithObject: true });
  const img = { data, width: info.width, height: info.height };
  for (let v = 0; v < 8; v++) {
    const shown = dihedral(img, v);
    assert.ok(compareThumbnail(img, shown).similarity > 0.95, `variant ${v}`);
  }
});

test('shared fixtures: thumbnail_swapped.jpg → tampered; every camera photo and labelled copy → silent', async () => {
  const [s] = await thumbSignals(readShared('fixtures', 'labels', 'thumbnail_swapped.jpg'));
  assert.equal(s?.verdict, 'tampered');
  assert.notEqual(s!.evidence['outcome'], 'cropped');
  // A Photoshop Elements file whose thumbnail still shows the uncropped shot.
  const [crop] = await thumbSignals(readShared('fixtures', 'broken', 'segment_unreachable.jpg'));
  assert.equal(crop?.evidence['outcome'], 'cropped');
  for (const dir of ['camera', 'labels']) {
    for (const f of readdirSync(sharedPath('fixtures', dir)).filter((x) => x.endsWith('.jpg') && x !== 'thumbnail_swapped.jpg')) {
      assert.deepEqual(await thumbSignals(readShared('fixtures', dir, f)), [], `${dir}/${f}`);
    }
  }
});
