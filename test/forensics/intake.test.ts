import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { intakeImage, sniffFormat } from '../../src/forensics/intake.ts';
import { IntakeError } from '../../src/forensics/errors.ts';
import { heifDataBeyondEnd } from '../../src/forensics/heif-container.ts';
import { fixtureManifest, readShared } from '../helpers/shared.ts';

async function rejects(bytes: Uint8Array, code: string, opts: Parameters<typeof intakeImage>[1] = {}) {
  await assert.rejects(intakeImage(bytes, opts), (e: unknown) => {
    assert.ok(e instanceof IntakeError, `expected IntakeError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.ok(e.message.length > 10);
    return true;
  });
}

test('every shared fixture is either decoded with its stated size or refused with a typed error', async () => {
  for (const entry of fixtureManifest()) {
    const bytes = readShared('fixtures', entry.file);
    const f = entry.facts;
    if (f.decodable === false) {
      await assert.rejects(intakeImage(bytes, { name: entry.file }), IntakeError, entry.file);
      continue;
    }
    const img = await intakeImage(bytes, { name: entry.file });
    const o = f.orientation ?? 1;
    const [w, h] = o >= 5 && o <= 8 && img.format !== 'heif' ? [f.height, f.width] : [f.width, f.height];
    if (img.format === 'heif') {
      // HEIC sizes come from libheif after its rotation transform; the manifest states the stored size.
      assert.ok(img.width * img.height === f.width * f.height, `${entry.file}: ${img.width}x${img.height}`);
    } else {
      assert.equal(img.width, w, `${entry.file} width`);
      assert.equal(img.height, h, `${entry.file} height`);
    }
    const px = await img.rgb();
    assert.equal(px.data.length, img.width * img.height * 3);
  }
});

test('broken files get the right error codes', async () => {
  await rejects(readShared('fixtures/broken/zero_bytes.jpg'), 'empty_file');
  await rejects(readShared('fixtures/broken/text_not_image.jpg'), 'unsupported_format', { name: 'x.jpg' });
  await rejects(readShared('fixtures/broken/truncated_half.jpg'), 'truncated');
  await rejects(readShared('fixtures/broken/truncated_headers_only.jpg'), 'truncated');
  await rejects(readShared('fixtures/broken/corrupted_olympus.jpg'), 'corrupt');
});

test('a file whose name or content type lies about its format is refused', async () => {
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toBuffer();
  await rejects(png, 'format_mismatch', { name: 'photo.jpg' });
  await rejects(png, 'format_mismatch', { contentType: 'image/jpeg' });
  const ok = await intakeImage(png, { name: 'photo.png', contentType: 'image/png' });
  assert.equal(ok.format, 'png');
});

test('a pixel bomb is refused from its header, before decoding', async () => {
  // A 60000×60000 PNG header: declared size only, the body is tiny.
  const bomb = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#000' } }).png().toBuffer();
  const ihdr = Buffer.from(bomb);
  ihdr.writeUInt32BE(60000, 16);
  ihdr.writeUInt32BE(60000, 20);
  const t0 = Date.now();
  await rejects(ihdr, 'pixel_limit');
  assert.ok(Date.now() - t0 < 5000);
  const big = await sharp({ create: { width: 3000, height: 3000, channels: 3, background: '#000' } }).jpeg().toBuffer();
  await rejects(big, 'pixel_limit', { limits: { maxPixels: 4_000_000 } });
  await rejects(big, 'too_large', { limits: { maxBytes: 1000 } });
});

test('format sniffing', () => {
  assert.equal(sniffFormat(readShared('fixtures/heic/iphone7.heic')), 'heif');
  assert.equal(sniffFormat(readShared('fixtures/camera/canon_ixus.jpg')), 'jpeg');
  assert.equal(sniffFormat(new Uint8Array([1, 2, 3])), undefined);
});

test('HEIC from an iPhone decodes to pixels', async () => {
  const img = await intakeImage(readShared('fixtures/heic/iphone11promax.heic'), { name: 'a.heic' });
  assert.equal(img.format, 'heif');
  const px = await img.rgb();
  let sum = 0;
  for (let i = 0; i < px.data.length; i += 997) sum += px.data[i]!;
  assert.ok(sum > 0, 'pixels are not all black');
});

test('a HEIC cut short is refused as truncated, not decoded with its missing tiles painted green', async () => {
  for (const name of ['iphone7.heic', 'iphone11promax.heic', 'samplefilehub.heif']) {
    const whole = readShared(`fixtures/heic/${name}`);
    assert.equal(heifDataBeyondEnd(whole), undefined, `${name} whole`);
    for (const frac of [0.5, 0.99]) {
      const cut = whole.subarray(0, Math.floor(whole.length * frac));
      await assert.rejects(intakeImage(cut, { name }), (e: unknown) => e instanceof IntakeError && e.code === 'truncated', `${name} cut at ${frac}`);
    }
  }
  // With the data box declared "to the end of the file", the item locations still tell.
  const bytes = Buffer.from(readShared('fixtures/heic/iphone7.heic'));
  const mdat = bytes.indexOf('mdat') - 4;
  bytes.writeUInt32BE(0, mdat);
  assert.equal(heifDataBeyondEnd(bytes), undefined, 'whole, with an open-ended mdat');
  assert.match(heifDataBeyondEnd(bytes.subarray(0, bytes.length >> 1)) ?? '', /item \d+'s data ends at byte \d+, but the file has \d+ bytes/);
});

test('EXIF orientation is applied: orient_1..8 all show the same picture', async () => {
  const base = await (await intakeImage(readShared('fixtures/camera/orient_1.jpg'))).gray();
  for (let o = 2; o <= 8; o++) {
    const g = await (await intakeImage(readShared(`fixtures/camera/orient_${o}.jpg`))).gray();
    assert.equal(g.width, base.width);
    assert.equal(g.height, base.height);
    let diff = 0;
    for (let i = 0; i < g.data.length; i++) diff += Math.abs(g.data[i]! - base.data[i]!);
    assert.ok(diff / g.data.length < 8, `orient_${o} mean abs diff ${diff / g.data.length}`);
  }
});

test('end markers: a JPEG or PNG cut short has none, a whole one has', async () => {
  const { endsEarly } = await import('../../src/forensics/intake.ts');
  const jpeg = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#345' } }).jpeg().toBuffer();
  const png = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#345' } }).png().toBuffer();
  assert.equal(endsEarly(jpeg, 'jpeg'), false);
  assert.equal(endsEarly(Buffer.concat([jpeg, Buffer.alloc(16)]), 'jpeg'), false, 'zero padding after EOI is allowed');
  assert.equal(endsEarly(jpeg.subarray(0, jpeg.length - 100), 'jpeg'), true);
  assert.equal(endsEarly(png, 'png'), false);
  assert.equal(endsEarly(png.subarray(0, png.length - 20), 'png'), true);
  assert.equal(endsEarly(readShared('fixtures/broken/truncated_half.jpg'), 'jpeg'), true);
});
