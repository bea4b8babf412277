// Videos through the API: a merchant's packing video as a SKU reference (its keyframes are the
// references a forged claim photo is compared with), a buyer's video of the damage, a
// merchant's answer with a video; damaged or mislabelled videos refused whole.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { makeForgery, photoClasses, upscaledBase } from '../../bench/forgery/dataset.ts';
import { api, form, photos, startTestServer, waitForState, type TestServer } from './helpers.ts';

let s: TestServer;
const dir = mkdtempSync(join(tmpdir(), 'claimlens-video-test-'));
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A short H.264 MP4 showing `still` (2 s, 10 fps), as a phone's packing video of the item would. */
function videoOf(still: Buffer, name: string, seconds = 2): Buffer {
  const src = join(dir, `${name}.png`);
  const out = join(dir, `${name}.mp4`);
  writeFileSync(src, still);
  const r = spawnSync('ffmpeg', ['-v', 'error', '-y', '-loop', '1', '-i', src, '-t', String(seconds), '-r', '10', '-vf', 'scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p', '-c:v', 'libx264', '-crf', '18', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return readFileSync(out);
}

const milk = photoClasses().find((c) => c.name === 'Arla-Standard-Milk')!;

async function order(id: string, sku: string) {
  const o = await api(s.url, s.keys.platform, 'POST', '/v1/orders', { id, buyerId: `b-${id}`, merchantId: 'm1', sku, amount: 900, currency: 'CNY' });
  assert.equal(o.status, 201, JSON.stringify(o.body));
}

test('a packing video registered as a SKU reference: a forged claim photo is found derived from one of its keyframes', async () => {
  const base = await upscaledBase(milk.listing);
  const still = await sharp(base.data, { raw: { width: base.width, height: base.height, channels: 3 } }).png().toBuffer();
  const video = videoOf(still, 'packing');
  const ref = await api(s.url, s.keys.merchant, 'POST', '/v1/skus/MILK/references', form({ kind: 'packing' }, [{ field: 'file', name: 'packing.mp4', bytes: video, type: 'video/mp4' }]));
  assert.equal(ref.status, 201, JSON.stringify(ref.body));
  const list = await api(s.url, s.keys.merchant, 'GET', '/v1/skus/MILK/references');
  const media = list.body.references.find((m: any) => m.format === 'mp4');
  assert.ok(media, JSON.stringify(list.body));
  // the stored bytes come back as the video
  const got = await fetch(`${s.url}/v1/media/${media.id}`, { headers: { authorization: `Bearer ${s.keys.merchant}` } });
  assert.equal(got.headers.get('content-type'), 'video/mp4');
  assert.deepEqual(Buffer.from(await got.arrayBuffer()), video);

  await order('o-video-1', 'MILK');
  const forged = await makeForgery(milk.listing, 'listing', 'stain', 'reencode_q90', 'video/stain');
  const sub = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: { orderId: 'o-video-1', type: 'refund_only', reason: 'arrived damaged', amount: 900 } }, [{ field: 'evidence', name: 'damage.jpg', bytes: forged.claim }]));
  assert.equal(sub.status, 202, JSON.stringify(sub.body));
  const c = await waitForState(s.url, s.keys.platform, sub.body.id, ['awaiting_merchant', 'more_evidence_requested', 'in_review']);
  const signals = c.analysis.images[0].signals;
  const derived = signals.find((x: any) => x.id === 'reference.derived');
  assert.ok(derived, JSON.stringify(signals.map((x: any) => x.id)));
  assert.match(derived.evidence.reference.id, new RegExp(`^${media.id}#keyframe-\\d+$`));
  assert.notEqual(c.state, 'approved');
});

test('a video of the damage is analysed through its keyframes; a merchant answers with a packing video', async () => {
  await order('o-video-2', 'OTHER');
  const damage = videoOf(await sharp(photos.natural()).resize({ width: 640 }).png().toBuffer(), 'damage');
  const sub = await api(s.url, s.keys.platform, 'POST', '/v1/claims', form({ claim: { orderId: 'o-video-2', type: 'refund_only', reason: 'see video', amount: 900 } }, [{ field: 'evidence', name: 'damage.mp4', bytes: damage, type: 'video/mp4' }]));
  assert.equal(sub.status, 202, JSON.stringify(sub.body));
  const c = await waitForState(s.url, s.keys.platform, sub.body.id, ['awaiting_merchant', 'more_evidence_requested', 'in_review', 'approved']);
  const im = c.analysis.images[0];
  assert.match(im.file, /^damage\.mp4#keyframe-\d+$/);
  assert.ok(!im.error, JSON.stringify(im.error));
  assert.equal(c.evidence[0].format, 'mp4');
  assert.equal(c.state, 'awaiting_merchant', 'amount over the auto-approval limit: the merchant may answer');
  {
    const packing = videoOf(await sharp(photos.listing()).png().toBuffer(), 'answer', 1);
    const resp = await api(s.url, s.keys.merchant, 'POST', `/v1/claims/${c.id}/responses`, form({ text: 'Packed intact, see the video.' }, [{ field: 'evidence', name: 'packing.mp4', bytes: packing, type: 'video/mp4' }]));
    assert.equal(resp.status, 201, JSON.stringify(resp.body));
    const after = await api(s.url, s.keys.reviewer, 'GET', `/v1/claims/${c.id}`);
    const ev = after.body.responses[0].evidence[0];
    assert.equal(ev.format, 'mp4');
    const v = await fetch(`${s.url}${ev.url}`, { headers: { authorization: `Bearer ${s.keys.reviewer}` } });
    assert.equal(v.headers.get('content-type'), 'video/mp4');
  }
});

test('damaged or mislabelled videos are refused whole with typed errors, nothing stored', async () => {
  const video = videoOf(await sharp(photos.listing()).png().toBuffer(), 'bad-src');
  const count = async () => (await s.rt.store.db.query('SELECT count(*)::int AS n FROM media')).rows[0].n;
  const before = await count();
  const cases: Array<[string, Buffer, string | undefined, number, string]> = [
    ['cut.mp4', video.subarray(0, Math.floor(video.length / 2)), 'video/mp4', 422, 'truncated'],
    ['photo.mp4', photos.listing(), 'video/mp4', 415, 'format_mismatch'],
    ['video.jpg', video, 'image/jpeg', 415, 'format_mismatch'],
    ['noise.mp4', Buffer.concat([video.subarray(0, 64), Buffer.alloc(4000, 7)]), 'video/mp4', 422, 'truncated'],
  ];
  for (const [name, bytes, type, status, code] of cases) {
    // a good photo beside the bad file: the whole request is refused
    const r = await api(s.url, s.keys.merchant, 'POST', '/v1/skus/BAD/references', form({}, [{ field: 'file', name: 'ok.jpg', bytes: photos.listing() }, { field: 'file', name, bytes, type }]));
    assert.equal(r.status, status, `${name}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.code, code, name);
  }
  assert.equal(await count(), before, 'nothing stored');
});
