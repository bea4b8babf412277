// End to end: `claimlens analyze --reference DIR --json claim.jpg`, with a folder of
// reference photos and with a packing video (made here with ffmpeg) as the reference.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { extractKeyframes } from '../../../src/forensics/reference/video.ts';
import { loadReferences } from '../../../src/forensics/references.ts';
import { REPO_ROOT } from '../../helpers/shared.ts';
import { makeForgery, photoClasses } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'claimlens-ref-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const classes = photoClasses();
const milk = classes.find((c) => c.name === 'Arla-Standard-Milk')!;
const beet = classes.find((c) => c.name === 'Red-Beet')!;

function analyze(args: string[]): { status: number | null; json: any; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin/claimlens.mjs'), 'analyze', ...args, '--json'], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, json: r.stdout ? JSON.parse(r.stdout) : undefined, stderr: r.stderr };
}

test('CLI: a forged claim against a folder of reference photos', async () => {
  const refs = join(dir, 'refs');
  mkdirSync(refs);
  copyFileSync(milk.listing, join(refs, 'milk.jpg'));
  copyFileSync(beet.listing, join(refs, 'beet.jpg'));
  const f = await makeForgery(milk.listing, 'listing', 'crack', 'crop30', 'cli/crack');
  writeFileSync(join(dir, 'claim.jpg'), f.claim);
  writeFileSync(join(dir, 'genuine.jpg'), await sharp(beet.natural[0]!).jpeg({ quality: 85 }).toBuffer());
  const r = analyze(['--reference', refs, join(dir, 'claim.jpg'), join(dir, 'genuine.jpg')]);
  assert.equal(r.status, 0, r.stderr);
  const [claim, genuine] = r.json.images;
  const d = claim.signals.find((s: any) => s.id === 'reference.derived');
  assert.ok(d, JSON.stringify(claim.signals.map((s: any) => s.id)));
  assert.equal(d.evidence.reference.id, 'milk.jpg');
  assert.equal(claim.verdict, 'tampered');
  assert.ok(d.evidence.regions.length >= 1);
  assert.ok(Buffer.from(d.evidence.heatmap.data, 'base64').subarray(1, 4).toString() === 'PNG');
  assert.ok(!genuine.signals.some((s: any) => s.id.startsWith('reference.') || s.id === 'reuse.reference_copy'));
});

test('CLI: a packing video as the reference (keyframes via ffmpeg)', async () => {
  // a 3-second "packing video": the product photo, panning slightly, H.264 in MP4
  const frames = join(dir, 'frames');
  mkdirSync(frames);
  const big = await sharp(milk.listing).resize(720, 720, { kernel: 'lanczos3' }).png().toBuffer();
  writeFileSync(join(frames, 'still.png'), big);
  const vids = join(dir, 'video');
  mkdirSync(vids);
  const video = join(vids, 'packing.mp4');
  const ff = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-loop', '1', '-i', join(frames, 'still.png'), '-t', '3', '-r', '10',
    '-vf', "crop=640:640:'40*t/3':'40*t/3'", '-pix_fmt', 'yuv420p', '-g', '15', video], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(ff.status, 0, ff.stderr);

  const kf = await extractKeyframes(video, { maxFrames: 6 });
  assert.ok(kf.length >= 2 && kf.length <= 6, `keyframes: ${kf.length}`);
  const loaded = await loadReferences([vids]);
  assert.equal(loaded.problems.length, 0);
  assert.ok(loaded.references.every((r) => r.kind === 'video_keyframe' && r.id.startsWith('packing.mp4#keyframe-')));

  const f = await makeForgery(milk.listing, 'listing', 'stain', 'jpeg_q40', 'cli/video');
  writeFileSync(join(dir, 'claim2.jpg'), f.claim);
  const r = analyze(['--reference', vids, join(dir, 'claim2.jpg')]);
  assert.equal(r.status, 0, r.stderr);
  const d = r.json.images[0].signals.find((s: any) => s.id === 'reference.derived');
  assert.ok(d, JSON.stringify(r.json.images[0].signals.map((s: any) => s.id)));
  assert.equal(d.evidence.reference.kind, 'video_keyframe');
});

test('a file that is not a video is reported as a reference problem, not a crash', async () => {
  const bad = join(dir, 'broken.mp4');
  writeFileSync(bad, 'not a video at all');
  const loaded = await loadReferences([bad]);
  assert.equal(loaded.references.length, 0);
  assert.equal(loaded.problems.length, 1);
  assert.match(loaded.problems[0]!.message, /video_failed/);
});

test('CLI: a --reference that does not exist, or holds nothing usable, is bad usage (exit 2), not a clean analysis', async () => {
  const claim = join(dir, 'usage-claim.jpg');
  writeFileSync(claim, await sharp(milk.listing).jpeg({ quality: 85 }).toBuffer());
  const missing = join(dir, 'no-such-folder');
  let r = analyze(['--reference', missing, claim]);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.json, undefined, 'nothing is reported');
  assert.match(r.stderr, /--reference .*no-such-folder: ENOENT/);

  const empty = join(dir, 'empty-refs');
  mkdirSync(empty);
  writeFileSync(join(empty, 'broken.jpg'), 'not a photo');
  r = analyze(['--reference', empty, claim]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /no usable reference/);
  assert.match(r.stderr, /broken\.jpg/);

  // One usable reference beside a broken one: analysed, with a warning for the broken one.
  copyFileSync(milk.listing, join(empty, 'milk.jpg'));
  r = analyze(['--reference', empty, claim]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: reference .*broken\.jpg/);
  assert.equal(r.json.images.length, 1);
});
