// `claimlens analyze` as a user and an integration run it: real processes (bin/claimlens.mjs
// and once `npx claimlens`), real files, the JSON validated against
// schema/analyze-report.v1.json with ajv, the exit-code contract, --out, --lang, colour.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import sharp from 'sharp';
import { REPO_ROOT, sharedPath } from '../helpers/shared.ts';
import { colourWanted, formatHuman, parseIsoDate, writeOutDir } from '../../src/cli/analyze.ts';
import { makeReport } from '../../src/forensics/engine.ts';
import type { AnalysisReport, ImageReport } from '../../src/forensics/types.ts';

const schema = JSON.parse(readFileSync(join(REPO_ROOT, 'schema', 'analyze-report.v1.json'), 'utf8'));
// strictRequired off: it does not see properties declared beside an if/then/else.
const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
const validate = ajv.compile(schema);
function assertValid(doc: unknown, what: string): void {
  const ok = validate(doc);
  assert.ok(ok, `${what} does not match the schema: ${ajv.errorsText(validate.errors, { separator: '\n' })}`);
}

const ANSI = /\x1b\[[0-9;]*m/;
const tmp = mkdtempSync(join(tmpdir(), 'claimlens-cli-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command the way a user's shell would: no TTY, env without colour overrides unless given. */
function run(cmd: string, args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  const base = { ...process.env };
  delete base.FORCE_COLOR;
  delete base.NO_COLOR;
  delete base.NODE_OPTIONS;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
const claimlens = (args: string[], env?: Record<string, string | undefined>) =>
  run(process.execPath, ['bin/claimlens.mjs', 'analyze', ...args], env);

const CAMERA = sharedPath('fixtures', 'camera', 'canon_ixus.jpg');
const LABELLED = sharedPath('fixtures', 'labels', 'aigc_xmp_label1.jpg');
const EMPTY = sharedPath('fixtures', 'broken', 'zero_bytes.jpg');
const TRUNCATED = sharedPath('fixtures', 'broken', 'truncated_half.jpg');

test('--json: one document that matches the schema; a bad file gets its error entry, the others are analysed, exit 1', async () => {
  const textAsJpeg = join(tmp, 'notes.jpg');
  writeFileSync(textAsJpeg, 'this is a text file, not a photo\n');
  const missing = join(tmp, 'missing.jpg');
  const huge = join(tmp, 'huge.jpg'); // sparse: 65 MB on paper, nothing on disk; refused without being read
  writeFileSync(huge, '');
  truncateSync(huge, 65 * 1024 * 1024);
  // Plus real files whose detectors have most to say, so their evidence is validated too.
  const rich = ['labels/thumbnail_swapped.jpg', 'labels/aigc_malformed_json.jpg', 'labels/aigc_png_text_label1.png', 'labels/software_meitu.jpg',
    'c2pa/ai_photoshop_firefly_fill.jpg', 'c2pa/err_sig_E-sig-CA.jpg', 'generators/sdxl_turbo.png', 'heic/samplefilehub.heif'].map((f) => sharedPath('fixtures', f));
  const files = [LABELLED, EMPTY, CAMERA, textAsJpeg, missing, TRUNCATED, tmp, huge, ...rich];
  const r = await claimlens(['--json', '--delivered-at', '2030-01-01T00:00:00Z', ...files]);
  assert.equal(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout) as AnalysisReport;
  assertValid(report, 'analyze --json output');
  assert.equal(report.schemaVersion, '1.0');
  assert.deepEqual(report.images.map((i) => i.file), files, 'one entry per file, in order');
  const byFile = new Map(report.images.map((i) => [i.file, i]));
  assert.equal(byFile.get(EMPTY)!.error?.code, 'empty_file');
  assert.equal(byFile.get(textAsJpeg)!.error?.code, 'unsupported_format');
  assert.equal(byFile.get(missing)!.error?.code, 'read_failed');
  assert.equal(byFile.get(TRUNCATED)!.error?.code, 'truncated');
  assert.equal(byFile.get(tmp)!.error?.code, 'read_failed', 'a directory is not a file');
  assert.equal(byFile.get(huge)!.error?.code, 'too_large');

  const labelled = byFile.get(LABELLED)!;
  assert.equal(labelled.error, undefined);
  assert.equal(labelled.verdict, 'ai_generated');
  assert.ok(labelled.signals.some((s) => s.id === 'aigc.label' && s.verdict === 'ai_generated'));
  const camera = byFile.get(CAMERA)!;
  assert.equal(camera.error, undefined);
  assert.equal(camera.format, 'jpeg');
  assert.ok(!camera.signals.some((s) => s.verdict === 'tampered' || s.verdict === 'ai_generated'), 'a camera photo comes out without strong signals');
  // --delivered-at reached the detectors: a photo taken in 2000-something before a 2030 delivery is odd.
  assert.ok(
    camera.signals.some((s) => /deliver/i.test(s.summary.en) && /签收|交付|送达|收货/.test(s.summary.zh)),
    `no signal mentions the delivery date: ${camera.signals.map((s) => s.summary.en).join(' | ')}`,
  );
  assert.ok(camera.detectors && camera.detectors.length > 0 && camera.detectors.every((d) => !d.error), JSON.stringify(camera.detectors));
  for (const f of rich) assert.equal(byFile.get(f)!.error, undefined, f);
  assert.ok(rich.every((f) => byFile.get(f)!.signals.length > 0));
  assert.equal(r.stderr.match(ANSI), null);
});

test('the schema rejects documents that break the contract', () => {
  const good: AnalysisReport = makeReport([
    {
      file: 'a.jpg', sha256: 'a'.repeat(64), width: 4, height: 3, format: 'jpeg', risk: 0.5, verdict: 'suspicious',
      signals: [{ id: 'x.y', verdict: 'suspicious', score: 0.5, confidence: 1, summary: { en: 'e', zh: '中' }, evidence: { regions: [{ x: 0, y: 0, width: 2, height: 2 }] } }],
    },
    { file: 'b.jpg', signals: [], error: { code: 'corrupt', message: 'broken' } },
  ]);
  assertValid(good, 'a hand-made good report');
  const breakers: [string, (r: any) => void][] = [
    ['summary without zh', (r) => delete r.images[0].signals[0].summary.zh],
    ['unknown signal verdict', (r) => (r.images[0].signals[0].verdict = 'fake')],
    ['score above 1', (r) => (r.images[0].signals[0].score = 1.5)],
    ['undotted signal id', (r) => (r.images[0].signals[0].id = 'label')],
    ['analysed image without verdict', (r) => delete r.images[0].verdict],
    ['unknown error code', (r) => (r.images[1].error.code = 'oops')],
    ['signals on a failed file', (r) => r.images[1].signals.push(r.images[0].signals[0])],
    ['region without height', (r) => delete r.images[0].signals[0].evidence.regions[0].height],
    ['wrong schemaVersion', (r) => (r.schemaVersion = '2.0')],
    ['renamed field', (r) => ((r.images[0].sha = r.images[0].sha256), delete r.images[0].sha256)],
  ];
  for (const [what, breakIt] of breakers) {
    const doc = structuredClone(good);
    breakIt(doc);
    assert.equal(validate(doc), false, `schema accepted: ${what}`);
  }
});

test('human output: the verdict of each file, no colour codes when stdout is not a terminal (even with CI set), exit 0 when all analysed', async () => {
  const r = await claimlens([LABELLED, CAMERA], { CI: 'true', TERM: 'xterm-256color' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.match(ANSI), null, 'escape codes in piped output');
  for (const f of [LABELLED, CAMERA]) assert.ok(r.stdout.includes(f), `${f} missing`);
  const verdicts = [...r.stdout.matchAll(/verdict: (\w+)\s+risk: (\d+)%/g)].map((m) => m[1]);
  assert.equal(verdicts.length, 2, r.stdout);
  assert.equal(verdicts[0], 'ai_generated');
  assert.ok(r.stdout.includes('aigc.label'));
  assert.match(r.stdout, /2 file\(s\), 2 analysed, 0 not analysed/);

  const forced = await claimlens([LABELLED], { FORCE_COLOR: '1' });
  assert.match(forced.stdout, ANSI, 'FORCE_COLOR=1 should colour');
  const noColour = await claimlens([LABELLED], { FORCE_COLOR: '1', NO_COLOR: '1' });
  assert.equal(noColour.stdout.match(ANSI), null, 'NO_COLOR wins');
});

test('--delivered-at takes ISO 8601 dates and date-times only', () => {
  assert.equal(parseIsoDate('2025-06-01')?.toISOString(), '2025-06-01T00:00:00.000Z');
  assert.equal(parseIsoDate('2025-06-01T14:30:00+08:00')?.toISOString(), '2025-06-01T06:30:00.000Z');
  assert.equal(parseIsoDate('2025-06-01T14:30Z')?.toISOString(), '2025-06-01T14:30:00.000Z');
  for (const bad of ['1', '2025/06/01', '2025-02-30', '2025-06-01T25:00', 'June 1, 2025', '']) assert.equal(parseIsoDate(bad), undefined, bad);
});

test('colour decision: a terminal gets colour unless NO_COLOR or TERM=dumb', () => {
  assert.equal(colourWanted({ isTTY: true }, {}), true);
  assert.equal(colourWanted({ isTTY: true }, { NO_COLOR: '1' }), false);
  assert.equal(colourWanted({ isTTY: true }, { TERM: 'dumb' }), false);
  assert.equal(colourWanted({ isTTY: false }, { CI: 'true' }), false);
  assert.equal(colourWanted({ isTTY: false }, { FORCE_COLOR: '1' }), true);
  assert.equal(colourWanted({ isTTY: false }, { FORCE_COLOR: '0' }), false);
});

test('--lang zh gives Chinese text, --lang en English', async () => {
  const zh = await claimlens(['--lang', 'zh', LABELLED, EMPTY]);
  assert.equal(zh.code, 1);
  assert.match(zh.stdout, /结论: 疑似AI生成/);
  assert.match(zh.stdout, /无法分析/);
  assert.match(zh.stdout, /共 2 个文件，1 个已分析，1 个无法分析。/);
  assert.ok(/[\u4e00-\u9fff]{4,}/.test(zh.stdout.split('\n').find((l) => l.includes('aigc.label')) ?? ''), 'signal summary not in Chinese');
  // The same report rendered in English has no Chinese summaries.
  const report = JSON.parse((await claimlens(['--json', LABELLED])).stdout) as AnalysisReport;
  const en = formatHuman(report, 'en');
  assert.match(en, /verdict: ai_generated/);
  assert.ok(!/[\u4e00-\u9fff]/.test(en), 'Chinese in the English output');
});

test('bad usage exits 2 with a message and analyses nothing', async () => {
  const noFile = await claimlens([]);
  assert.equal(noFile.code, 2);
  assert.match(noFile.stderr, /no FILE given/);
  const badDate = await claimlens(['--delivered-at', 'yesterday-ish', CAMERA]);
  assert.equal(badDate.code, 2);
  assert.match(badDate.stderr, /--delivered-at is not an ISO date: 'yesterday-ish'/);
  assert.equal(badDate.stdout, '');
  const notADir = join(tmp, 'plain-file');
  writeFileSync(notADir, 'x');
  const badOut = await claimlens(['--out', join(notADir, 'sub'), CAMERA]);
  assert.equal(badOut.code, 2);
  assert.match(badOut.stderr, /--out .*cannot write there/);
  const { main } = await import('../../src/cli/main.ts');
  const errors: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((s: string) => (errors.push(String(s)), true)) as typeof process.stderr.write;
  try {
    assert.equal(await main(['analyze', '--lang', 'fr', CAMERA]), 2);
    assert.equal(await main(['analyze', '--bogus', CAMERA]), 2);
    for (const bad of ['2025-13-45', '1', '2025/06/01', '2025-02-30', '', 'June 1, 2025']) {
      assert.equal(await main(['analyze', '--delivered-at', bad, CAMERA]), 2, `--delivered-at '${bad}' accepted`);
    }
    assert.equal(await main(['analyse-typo']), 2);
  } finally {
    process.stderr.write = write;
  }
  assert.match(errors.join(''), /--lang must be en or zh/);
  assert.match(errors.join(''), /bogus/);
  assert.match(errors.join(''), /unknown command 'analyse-typo'/);
});

test('--out DIR writes report.json (valid, same as --json) and report.md', async () => {
  const out = join(tmp, 'out');
  const r = await claimlens(['--json', '--out', out, LABELLED, EMPTY]);
  assert.equal(r.code, 1);
  const written = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assertValid(written, 'report.json');
  const printed = JSON.parse(r.stdout);
  // Identical apart from detector timings.
  const strip = (doc: AnalysisReport) => doc.images.map((i: ImageReport) => ({ ...i, detectors: i.detectors?.map((d) => d.id) }));
  assert.deepEqual(strip(written), strip(printed));
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  assert.match(md, /# claimlens report/);
  assert.ok(md.includes(`## ${LABELLED}`) && md.includes(`## ${EMPTY}`));
  assert.match(md, /verdict \/ 结论: \*\*ai_generated\*\*/);
  assert.match(md, /`aigc\.label`/);
  assert.match(md, /Not analysed \/ 无法分析: `empty_file`/);
});

test('writeOutDir writes each heatmap as a PNG and links it from report.md', async () => {
  const grey = new Uint8Array(16 * 12);
  for (let y = 4; y < 8; y++) for (let x = 6; x < 10; x++) grey[y * 16 + x] = 255; // the hot spot
  const heat = await sharp(grey, { raw: { width: 16, height: 12, channels: 1 } }).png().toBuffer();
  const report = makeReport([
    {
      file: 'photos/claim 1.jpg', sha256: 'b'.repeat(64), width: 160, height: 120, format: 'jpeg', risk: 0.7, verdict: 'tampered',
      signals: [
        {
          id: 'pixel.splice', verdict: 'tampered', score: 0.8, confidence: 0.9,
          summary: { en: 'A pasted region.', zh: '粘贴区域。' },
          why: { en: 'It matters.', zh: '这很重要。' },
          evidence: { regions: [{ x: 60, y: 40, width: 40, height: 40, label: 'splice' }], heatmap: { width: 16, height: 12, mime: 'image/png', data: heat.toString('base64') } },
        },
        { id: 'exif.consistency', verdict: 'info', score: 0, confidence: 1, summary: { en: 'Facts.', zh: '信息。' }, evidence: {} },
      ],
    },
  ]);
  assertValid(report, 'report with a heatmap');
  const out = join(tmp, 'heat');
  await writeOutDir(out, report);
  const pngs = readdirSync(out).filter((f) => f.endsWith('.png'));
  assert.deepEqual(pngs, ['001-claim_1.pixel.splice.heatmap.png']);
  const meta = await sharp(join(out, pngs[0]!)).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 16, 12]);
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  assert.ok(md.includes(`![pixel.splice](${pngs[0]})`), md);
  assert.match(md, /region \/ 区域: x=60 y=40 w=40 h=40 \(splice\)/);
  assert.match(md, /意义：这很重要。/);
  assert.ok(existsSync(join(out, 'report.json')));
});

test('npx claimlens analyze works in the checkout (the bundled sample, exit 0, valid JSON)', async () => {
  const r = await run('npx', ['--no-install', 'claimlens', 'analyze', '--json', 'samples/claim.jpg', 'samples/reference.jpg']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as AnalysisReport;
  assertValid(report, 'npx output');
  const [claim, reference] = report.images;
  assert.equal(claim!.verdict, 'ai_generated', 'the sample claim carries the GB 45438 label');
  assert.ok(claim!.signals.some((s) => s.id === 'aigc.label'));
  assert.ok(!reference!.signals.some((s) => s.verdict === 'tampered' || s.verdict === 'ai_generated'), 'the sample reference is clean');
});

test('README demo with --reference: the crack is found where it was drawn, --out writes its heatmap PNG', async (t) => {
  const { DETECTORS } = await import('../../src/forensics/registry.ts');
  if (!DETECTORS.some((d) => d.id.startsWith('reference'))) {
    t.skip('no reference-consistency detector registered yet');
    return;
  }
  const out = join(tmp, 'demo');
  const r = await claimlens(['--json', '--out', out, '--reference', 'samples/reference.jpg', 'samples/claim.jpg']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as AnalysisReport;
  assertValid(report, 'analyze --reference output');
  const withHeatmap = report.images[0]!.signals.filter((s) => s.evidence.heatmap);
  assert.ok(withHeatmap.length > 0, `no signal with a heatmap: ${report.images[0]!.signals.map((s) => s.id).join(', ')}`);
  // scripts/make-sample.ts draws the crack inside x 466–566, y 262–517 of the 960×720 picture.
  const crack = { x: 466, y: 262, width: 100, height: 255 };
  const regions = report.images[0]!.signals.flatMap((s) => s.evidence.regions ?? []);
  assert.ok(
    regions.some((g) => g.x < crack.x + crack.width && crack.x < g.x + g.width && g.y < crack.y + crack.height && crack.y < g.y + g.height),
    `no region over the crack: ${JSON.stringify(regions)}`,
  );
  const pngs = readdirSync(out).filter((f) => f.endsWith('.heatmap.png'));
  assert.equal(pngs.length, withHeatmap.length);
  for (const p of pngs) assert.equal((await sharp(join(out, p)).metadata()).format, 'png');
  assert.ok(readFileSync(join(out, 'report.md'), 'utf8').includes(`](${pngs[0]})`));
});
