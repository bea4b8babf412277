import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { bytesToHex, hammingDistance, hexToBytes, isPdqHex } from '../../../src/forensics/pdq/index.ts';
import { embedsIccProfile } from '../../../src/forensics/pdq/icc.ts';
import { readShared } from '../../helpers/shared.ts';

test('hex ↔ bytes round trip and Hamming distance', () => {
  const a = 'd8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22';
  const bytes = hexToBytes(a);
  assert.equal(bytes.length, 32);
  assert.equal(bytes[0], 0xd8);
  assert.equal(bytes[31], 0x22);
  assert.equal(bytesToHex(bytes), a);
  assert.equal(bytesToHex(hexToBytes(a.toUpperCase())), a);
  assert.equal(hammingDistance(a, a), 0);
  assert.equal(hammingDistance('0'.repeat(64), 'f'.repeat(64)), 256);
  assert.equal(hammingDistance('0'.repeat(63) + '1', '0'.repeat(63) + '3'), 1);
  // Cross-check with a naive bit count (BigInt XOR) on the C++ reference hashes of bridge-1 and bridge-2.
  const b = '30a10efdf1c83f429013d48d0ffffc52e34e0e35ada952a9d29605215aa9e5af';
  const naive = [...(BigInt('0x' + a) ^ BigInt('0x' + b)).toString(2)].filter((c) => c === '1').length;
  assert.equal(hammingDistance(a, b), naive);
  assert.ok(naive > 100);
  assert.ok(isPdqHex(a) && !isPdqHex(a.slice(1)) && !isPdqHex(a.slice(1) + 'g'));
  assert.throws(() => hexToBytes('abc'), TypeError);
  assert.throws(() => hexToBytes('zz'), TypeError);
  assert.throws(() => hammingDistance(a, a.slice(2)), TypeError);
});

test('ICC profile sniffing agrees with libvips on JPEG, PNG and WebP', async () => {
  const cases: Array<[string, Buffer]> = [
    ['wee.jpg (ICC)', readShared('pdq', 'images', 'misc-images', 'wee.jpg')],
    ['c.png (ICC)', readShared('pdq', 'images', 'misc-images', 'c.png')],
    ['aaa-orig.jpg', readShared('pdq', 'images', 'bridge-mods', 'aaa-orig.jpg')],
  ];
  const plain = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#808080' } }).png().toBuffer();
  cases.push(['png', plain], ['png+icc', await sharp(plain).withIccProfile('p3').png().toBuffer()]);
  cases.push(['webp', await sharp(plain).webp().toBuffer()], ['webp+icc', await sharp(plain).withIccProfile('p3').webp().toBuffer()]);
  cases.push(['jpeg+icc', await sharp(plain).withIccProfile('p3').jpeg().toBuffer()]);
  for (const [name, bytes] of cases) {
    const format = name.includes('png') ? 'png' : name.includes('webp') ? 'webp' : 'jpeg';
    const hasIcc = Boolean((await sharp(bytes).metadata()).icc);
    assert.equal(embedsIccProfile(bytes, format), hasIcc, name);
  }
  assert.equal(embedsIccProfile(Buffer.from([0xff, 0xd8, 0x00]), 'jpeg'), undefined);
});
