// The reviewer console in a real browser (Debian's chromium through playwright-core)
// against the real server (startRuntime on PGlite in a temporary data folder): a claim
// whose photo is a forgery of the merchant's reference (the same picture with a crack
// drawn in) goes to review; the reviewer signs in, opens it from the queue, sees photo,
// reference and signals, and rejects it with a reason; the API then shows the decision.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { chromium, type Browser, type Page } from 'playwright-core';
import { validatePolicy } from '../../src/claims/policy.ts';
import { startRuntime, type Runtime } from '../../src/http/runtime.ts';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(tmpdir(), 'claimlens-console.png');

let rt: Runtime;
let base: string;
let dataDir: string;
let browser: Browser;
const keys = { platform: '', merchant: '', reviewer: '', otherTenantReviewer: '' };

async function call(key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(base + path, { method, headers, body: payload });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

function upload(fields: Record<string, unknown>, files: { field: string; name: string; bytes: Buffer; type?: string }[]): FormData {
  const f = new FormData();
  for (const [k, v] of Object.entries(fields)) f.append(k, typeof v === 'string' ? v : JSON.stringify(v));
  for (const x of files) f.append(x.field, new Blob([new Uint8Array(x.bytes)], { type: x.type ?? 'image/jpeg' }), x.name);
  return f;
}

/** A product picture as a merchant lists it: a labelled tin on a soft gradient, with fine texture. */
function productSvg(crack: boolean): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="960" height="720">
  <defs><linearGradient id="bg" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#f4efe6"/><stop offset="1" stop-color="#d8cfc0"/></linearGradient>
  <linearGradient id="tin" x1="0" y1="0" x2="1" y2="0"><stop offset="0" stop-color="#7a2e1f"/><stop offset="0.5" stop-color="#c8553d"/><stop offset="1" stop-color="#6d281b"/></linearGradient></defs>
  <rect width="960" height="720" fill="url(#bg)"/>
  <ellipse cx="480" cy="640" rx="230" ry="28" fill="#000" opacity="0.18"/>
  <rect x="300" y="120" width="360" height="520" rx="30" fill="url(#tin)"/>
  <rect x="330" y="280" width="300" height="170" rx="14" fill="#f3e9dc"/>
  <text x="480" y="380" font-size="64" font-family="sans-serif" font-weight="bold" text-anchor="middle" fill="#2d3047">TEA</text>
  <text x="480" y="425" font-size="24" font-family="sans-serif" text-anchor="middle" fill="#2d3047">Oolong · 250 g</text>
  ${crack ? '<path d="M350 150 L420 260 L395 330 L470 470 L440 560 L520 630" stroke="#151515" stroke-width="7" fill="none" stroke-linejoin="round"/><path d="M420 260 L470 250 M470 470 L530 455" stroke="#222" stroke-width="4" fill="none"/>' : ''}
  </svg>`;
}

async function productPhoto(crack: boolean): Promise<Buffer> {
  const { data, info } = await sharp(Buffer.from(productSvg(crack))).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  // The same mild deterministic texture in both, so the forgery differs from the reference only by the crack.
  let s = 987654321;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    const v = data[i]! + (((s >>> 16) & 15) - 7.5) * 0.8;
    data[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } }).jpeg({ quality: 90 }).toBuffer();
}

async function waitForState(id: string, states: string[], timeoutMs = 30_000): Promise<any> {
  const t0 = Date.now();
  let last: any;
  while (Date.now() - t0 < timeoutMs) {
    last = (await call(keys.platform, 'GET', `/v1/claims/${id}`)).body;
    if (states.includes(last?.state)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`claim ${id} did not reach ${states.join('|')} (last: ${last?.state})`);
}

let claimId = '';
let referenceId = '';

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is installed`);
  dataDir = mkdtempSync(join(tmpdir(), 'claimlens-console-'));
  // Automatic approval off and no blocking verdict: whatever the detectors make of the
  // forgery, the claim goes to the merchant window and then to people, which is what the
  // console is for. (With the default policy a tampered verdict asks the buyer first.)
  const policy = validatePolicy({ autoApprove: { enabled: false }, blockingVerdicts: [] }, 'console test policy');
  [rt, browser] = await Promise.all([
    startRuntime({ dataDir, policy, poolSize: 1, runner: { pollMs: 50, leaseMs: 10_000, backoffBaseMs: 100 } }),
    chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    }),
  ]);
  base = await rt.listen(0, '127.0.0.1');
  keys.platform = (await rt.service.createApiKey('t1', 'platform')).key;
  keys.merchant = (await rt.service.createApiKey('t1', 'merchant', 'm1')).key;
  keys.reviewer = (await rt.service.createApiKey('t1', 'reviewer')).key;
  keys.otherTenantReviewer = (await rt.service.createApiKey('t2', 'reviewer')).key;

  const [reference, forgery] = await Promise.all([productPhoto(false), productPhoto(true)]);
  const refs = await call(keys.merchant, 'POST', '/v1/skus/TEA-250/references', upload({}, [{ field: 'file', name: 'tea-listing.jpg', bytes: reference }]));
  assert.equal(refs.status, 201, JSON.stringify(refs.body));
  referenceId = refs.body.references[0].id;
  const order = await call(keys.platform, 'POST', '/v1/orders', { id: 'o-console-1', buyerId: 'buyer-7', merchantId: 'm1', sku: 'TEA-250', amount: 499, currency: 'CNY', deliveredAt: new Date(Date.now() - 86_400_000).toISOString() });
  assert.equal(order.status, 201, JSON.stringify(order.body));
  const sub = await call(keys.platform, 'POST', '/v1/claims', upload({ claim: { orderId: 'o-console-1', type: 'refund_only', reason: 'The tin arrived cracked.', amount: 499 } }, [{ field: 'evidence', name: 'cracked-tin.jpg', bytes: forgery }]));
  assert.equal(sub.status, 202, JSON.stringify(sub.body));
  claimId = sub.body.id;
  await waitForState(claimId, ['awaiting_merchant']);
  const resp = await call(keys.merchant, 'POST', `/v1/claims/${claimId}/responses`, upload({ text: 'Packed intact; this is our own listing photo with a line drawn on it.' }, [{ field: 'evidence', name: 'packing.jpg', bytes: reference }]));
  assert.equal(resp.status, 201, JSON.stringify(resp.body));
  assert.equal(resp.body.state, 'in_review');
});

after(async () => {
  await browser?.close();
  await rt?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** Every request the page makes must stay on the server or be a local blob:/data: URL. */
function watchRequests(page: Page): string[] {
  const foreign: string[] = [];
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(base) && !u.startsWith('blob:') && !u.startsWith('data:')) foreign.push(u);
  });
  return foreign;
}

test('the console serves itself without auth and redirects / to /console/', async () => {
  const root = await fetch(base + '/', { redirect: 'manual' });
  assert.equal(root.status, 302);
  assert.equal(root.headers.get('location'), '/console/');
  const page = await fetch(base + '/console/');
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  const escape = await fetch(base + '/console/%2e%2e/package.json');
  assert.equal(escape.status, 404);
  // The API behind it still needs a key.
  assert.equal((await fetch(base + '/v1/review-queue')).status, 401);
});

test('a reviewer opens the forged claim from the queue, sees the evidence and rejects it', async () => {
  const claim = (await call(keys.reviewer, 'GET', `/v1/claims/${claimId}`)).body;
  assert.equal(claim.state, 'in_review');
  const report = claim.analysis.images[0];
  assert.ok(report, 'the claim was analysed');

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
  const page = await context.newPage();
  const foreign = watchRequests(page);
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    // Failed loads are checked by URL below.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text());
  });
  const failed: string[] = [];
  page.on('response', (r) => {
    if (r.status() >= 400) failed.push(`${r.status()} ${new URL(r.url()).pathname}`);
  });

  await page.goto(base + '/');
  assert.equal(new URL(page.url()).pathname, '/console/');

  // A wrong key is refused with a message; the right one is typed and sent with Enter.
  const keyInput = page.getByLabel('Reviewer API key');
  await keyInput.fill('clk_not-a-key');
  await keyInput.press('Enter');
  await page.getByRole('alert').filter({ hasText: 'not accepted' }).waitFor();
  await keyInput.fill(keys.reviewer);
  await keyInput.press('Enter');

  // The queue lists the claim with its amount, risk, verdict and deadline.
  const row = page.locator(`tr[data-claim="${claimId}"]`);
  await row.waitFor();
  const rowText = await row.innerText();
  assert.match(rowText, /499/);
  assert.match(rowText, /in review/);
  const verdictCell = row.locator('.verdict-cell .badge');
  await verdictCell.waitFor();
  assert.equal(await verdictCell.getAttribute('class'), `badge verdict-${report.verdict}`);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('claimlens.reviewerKey')), keys.reviewer, 'the key is kept in sessionStorage');

  await row.getByRole('link', { name: claimId }).click();
  await page.getByRole('heading', { level: 1, name: new RegExp(claimId) }).waitFor();

  // Claim photo and reference, side by side, loaded (with the key) and the same height.
  const claimImg = page.locator('.claim-photo img.photo');
  const refImg = page.locator('.reference-photo img.photo');
  await page.waitForFunction(() => Array.from(document.querySelectorAll('.compare img.photo')).every((i) => (i as HTMLImageElement).naturalWidth > 0 && (i as HTMLElement).style.height !== ''), null, { timeout: 10_000 });
  const [cb, rb] = [await claimImg.boundingBox(), await refImg.boundingBox()];
  assert.ok(cb && rb);
  assert.ok(Math.abs(cb.height - rb.height) <= 1, `same height: ${cb.height} vs ${rb.height}`);
  assert.ok(rb.x >= cb.x + cb.width - 1, 'reference to the right of the claim photo');
  assert.ok(cb.height >= 200, `photos are large enough to judge (${cb.height}px)`);
  assert.equal(await claimImg.evaluate((i) => (i as HTMLImageElement).naturalWidth), report.width);
  assert.match((await page.locator('.reference-photo figcaption').innerText()), /tea-listing\.jpg/);

  // The signals shown are the engine's signals for this photo, with the English texts.
  const shownIds = await page.locator('li.signal').evaluateAll((els) => els.map((e) => e.getAttribute('data-signal')));
  assert.deepEqual([...shownIds].sort(), report.signals.map((s: any) => s.id).sort());
  for (const s of report.signals) {
    const li = page.locator(`li.signal[data-signal="${s.id}"]`).first();
    assert.match(await li.getAttribute('class') ?? '', new RegExp(`verdict-${s.verdict}`));
    assert.equal(await li.locator('.summary').innerText(), s.summary.en);
  }
  if (report.signals.length === 0) await page.getByText('No detector reported anything for this photo.').waitFor();
  await page.getByRole('note').filter({ hasText: 'evidence, not a verdict' }).waitFor();
  for (const part of ['header', '.photos']) assert.doesNotMatch(await page.locator(part).innerText(), /\bnull\b|\bundefined\b|NaN/, `no placeholder leaks in ${part}`);

  // The heatmap toggle works when a signal carries one; otherwise it says there is none.
  const toggle = page.locator('#overlay-toggle');
  const withOverlay = report.signals.some((s: any) => s.evidence?.heatmap || s.evidence?.regions?.length);
  assert.equal(await toggle.isDisabled(), !withOverlay);
  if (withOverlay) {
    await page.getByLabel('Show heatmap and regions').check();
    const hasHeatmap = report.signals.some((s: any) => s.evidence?.heatmap);
    if (hasHeatmap) await page.locator('.claim-photo .heatmap').waitFor();
    const boxes = report.signals.flatMap((s: any) => s.evidence?.regions ?? []).length;
    assert.equal(await page.locator('.claim-photo .region').count(), boxes);
  }

  // Order facts and the merchant's response with its photo.
  const side = page.locator('aside');
  assert.match(await side.innerText(), /o-console-1/);
  assert.match(await side.innerText(), /buyer-7/);
  assert.match(await side.innerText(), /our own listing photo with a line drawn on it/);
  await page.waitForFunction(() => (document.querySelector('.responses img.thumb') as HTMLImageElement | null)?.naturalWidth! > 0);

  // Zoom on click, closed with Escape.
  await claimImg.click();
  await page.locator('dialog#zoom[open] img.photo').waitFor();
  await page.keyboard.press('Escape');
  await page.locator('dialog#zoom[open]').waitFor({ state: 'detached' });

  // Chinese: the same signals in zh.
  await page.getByLabel('Language').selectOption('zh-CN');
  await page.getByRole('heading', { level: 1, name: new RegExp(`申请 ${claimId}`) }).waitFor();
  for (const s of report.signals) assert.equal(await page.locator(`li.signal[data-signal="${s.id}"] .summary`).first().innerText(), s.summary.zh);
  await page.getByLabel('语言').selectOption('en');
  await page.getByRole('heading', { level: 1, name: new RegExp(`Claim ${claimId}`) }).waitFor();

  // A decision without a reason is refused in the page and changes nothing.
  await page.getByRole('button', { name: 'Reject' }).click();
  await page.getByRole('alert').filter({ hasText: 'Write a reason' }).waitFor();
  assert.equal((await call(keys.platform, 'GET', `/v1/claims/${claimId}`)).body.state, 'in_review');

  const reason = 'Photo is the merchant listing picture with a drawn crack (compare with reference).';
  await page.getByLabel('Reason (required, kept in the audit log)').fill(reason);
  await page.getByRole('button', { name: 'Reject' }).click();
  await page.getByRole('status').filter({ hasText: 'The claim is now rejected' }).waitFor();
  await page.locator('.audit-table code', { hasText: 'decision.reject' }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Approve refund' }).isDisabled(), true, 'no second decision on a closed claim');

  await page.screenshot({ path: SCREENSHOT, fullPage: false });

  // The API agrees: rejected, one decision with the reason, an audit entry by the reviewer's key.
  const after = (await call(keys.platform, 'GET', `/v1/claims/${claimId}`)).body;
  assert.equal(after.state, 'rejected');
  assert.equal(after.decisions.length, 1);
  assert.equal(after.decisions[0].decision, 'reject');
  assert.equal(after.decisions[0].reason, reason);
  const me = (await call(keys.reviewer, 'GET', '/v1/me')).body;
  const audit = (await call(keys.platform, 'GET', `/v1/claims/${claimId}/audit`)).body.entries;
  const entry = audit.find((e: any) => e.action === 'decision.reject');
  assert.ok(entry, 'audit entry written');
  assert.equal(entry.actor, me.keyId);
  assert.equal(entry.toState, 'rejected');

  assert.deepEqual(foreign, [], 'nothing loaded from outside the server');
  assert.deepEqual(pageErrors, [], 'no errors in the page');
  assert.deepEqual(failed, ['401 /v1/me'], 'only the wrong key was refused');
  await context.close();
});

test('a reviewer of another tenant cannot open the claim in the console', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
  const page = await context.newPage();
  await page.goto(`${base}/console/#/claims/${claimId}`);
  // Default language follows the browser: Chinese here.
  const keyInput = page.getByLabel('审核员 API 密钥');
  await keyInput.fill(keys.otherTenantReviewer);
  await keyInput.press('Enter');
  await page.getByRole('alert').filter({ hasText: '该申请不存在' }).waitFor();
  assert.equal(await page.locator('.compare').count(), 0);
  await context.close();
});

// The reference-consistency detector finds the drawn crack and reports it with regions (pixels
// of the oriented photo) and a greyscale PNG heatmap: the console must lay both over the
// displayed photo at the right place and scale.
test('the heatmap and the region boxes are laid over the photo at its displayed size', async () => {
  const forgery = await productPhoto(true);
  const sub = await call(keys.platform, 'POST', '/v1/claims', upload({ claim: { orderId: 'o-console-1', type: 'refund_only', reason: 'Cracked again.', amount: 100 } }, [{ field: 'evidence', name: 'crack-2.jpg', bytes: forgery }]));
  assert.equal(sub.status, 202, JSON.stringify(sub.body));
  const id = sub.body.id;
  const claim = await waitForState(id, ['awaiting_merchant', 'more_evidence_requested', 'in_review']);
  const report = claim.analysis.images[0];
  const derived = report.signals.find((s: any) => s.id === 'reference.derived');
  assert.ok(derived, `reference.derived expected, got ${report.signals.map((s: any) => s.id).join(', ')}`);
  assert.ok(derived.evidence.heatmap, 'reference.derived carries a heatmap');
  const regions = report.signals.flatMap((s: any) => s.evidence?.regions ?? []);
  assert.ok(regions.length >= 1);
  const region = derived.evidence.regions[0];

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB' });
  await context.addInitScript((k) => sessionStorage.setItem('claimlens.reviewerKey', k), keys.reviewer);
  const page = await context.newPage();
  await page.goto(`${base}/console/#/claims/${id}`);
  await page.waitForFunction(() => Array.from(document.querySelectorAll('.compare img.photo')).every((i) => (i as HTMLImageElement).naturalWidth > 0 && (i as HTMLElement).style.height !== ''), null, { timeout: 10_000 });
  // The signal names the reference it was compared with: that one is shown as matched.
  assert.match(await page.locator('.reference-photo figcaption').innerText(), /matched by a signal/);
  if (claim.state !== 'in_review') {
    // Decisions wait for the merchant window (or the buyer's new evidence).
    assert.equal(await page.getByRole('button', { name: 'Reject' }).isDisabled(), true);
  }

  await page.getByLabel('Show heatmap and regions').check();
  const photo = await page.locator('.claim-photo img.photo').boundingBox();
  const heatmap = await page.locator('.claim-photo .heatmap').boundingBox();
  assert.equal(await page.locator('.claim-photo .region').count(), regions.length);
  const box = await page.locator('.claim-photo .region').nth(regions.indexOf(region)).boundingBox();
  assert.ok(photo && heatmap && box);
  assert.ok(Math.abs(heatmap.x - photo.x) < 1 && Math.abs(heatmap.width - photo.width) < 1 && Math.abs(heatmap.height - photo.height) < 1, 'heatmap stretched over the photo');
  const scale = photo.width / report.width;
  assert.ok(scale < 1, 'the photo is shown smaller than its pixels');
  assert.ok(Math.abs(box.x - (photo.x + region.x * scale)) <= 2, `region x ${box.x} vs ${photo.x + region.x * scale}`);
  assert.ok(Math.abs(box.y - (photo.y + region.y * scale)) <= 2, `region y ${box.y} vs ${photo.y + region.y * scale}`);
  assert.ok(Math.abs(box.width - region.width * scale) <= 2, `region width ${box.width} vs ${region.width * scale}`);
  assert.ok(Math.abs(box.height - region.height * scale) <= 2, `region height ${box.height} vs ${region.height * scale}`);
  await page.getByLabel('Heatmap opacity').fill('0.3');
  assert.equal(await page.locator('.claim-photo .heatmap').evaluate((e) => (e as HTMLElement).style.opacity), '0.3');
  // The tampered signal is listed first.
  assert.equal(await page.locator('li.signal').first().getAttribute('data-signal'), 'reference.derived');
  await page.screenshot({ path: join(tmpdir(), 'claimlens-console-overlay.png') });
  await context.close();
});

test('a video of the damage is shown as a video, with the analysed keyframe named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'claimlens-console-video-'));
  try {
    const still = join(dir, 'still.png');
    await sharp(await productPhoto(false)).png().toFile(still);
    const out = join(dir, 'damage.mp4');
    const ff = spawnSync('ffmpeg', ['-v', 'error', '-y', '-loop', '1', '-i', still, '-t', '1', '-r', '10', '-vf', 'scale=640:-2,format=yuv420p', out], { encoding: 'utf8' });
    assert.equal(ff.status, 0, ff.stderr);
    const sub = await call(keys.platform, 'POST', '/v1/claims', upload({ claim: { orderId: 'o-console-1', type: 'refund_only', reason: 'Video.', amount: 100 } }, [{ field: 'evidence', name: 'damage.mp4', bytes: readFileSync(out), type: 'video/mp4' }]));
    assert.equal(sub.status, 202, JSON.stringify(sub.body));
    const claim = await waitForState(sub.body.id, ['awaiting_merchant', 'more_evidence_requested', 'in_review']);
    assert.match(claim.analysis.images[0].file, /#keyframe-\d+$/);
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB' });
    await context.addInitScript((k) => sessionStorage.setItem('claimlens.reviewerKey', k), keys.reviewer);
    const page = await context.newPage();
    await page.goto(`${base}/console/#/claims/${sub.body.id}`);
    const video = page.locator('.claim-photo video.photo');
    await page.waitForFunction(() => (document.querySelector('.claim-photo video.photo') as HTMLVideoElement | null)?.src.startsWith('blob:'), null, { timeout: 10_000 });
    assert.equal(await video.getAttribute('controls'), '');
    assert.match((await page.locator('.claim-photo figcaption').textContent()) ?? '', /damage\.mp4 \(analysed frame: keyframe-\d+\)/);
    await context.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
