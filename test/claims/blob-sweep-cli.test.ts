// `claimlens blobs sweep` as a real process on a real server's data folder: a refused claim's
// photo, written to the blob store by intake before the refusal, is an orphan; the sweep
// leaves it while it is recent, removes it once it is older than the grace period, and keeps
// every blob a row names (the demo's references and claim photos) whatever their age. Through
// the running server while it holds the folder, on the folder itself once it is stopped.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { cli, startServeProcess } from '../helpers/cli-process.ts';
import { api, form, photos, tempDir } from '../http/helpers.ts';

const dataDir = tempDir();
let server: ChildProcess | undefined;
after(() => {
  server?.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

/** Every blob file under the data folder's blob store. */
function blobFiles(): string[] {
  const root = join(dataDir, 'blobs');
  const out: string[] = [];
  for (const a of readdirSync(root).filter((n) => /^[0-9a-f]{2}$/.test(n)))
    for (const b of readdirSync(join(root, a))) for (const f of readdirSync(join(root, a, b))) out.push(join(root, a, b, f));
  return out;
}

function ageAll(files: string[], ms: number): void {
  const t = new Date(Date.now() - ms);
  for (const f of files) utimesSync(f, t, t);
}

test('blobs sweep: a refused claim leaves an orphan, which goes once old; named blobs stay', async () => {
  const started = await startServeProcess(dataDir, ['--workers', '1']);
  server = started.proc;
  const out = started.out();
  const url = started.url;
  assert.ok(url, out);
  const platformKey = /platform\s+(clk_\S+)/.exec(out)![1]!;
  assert.match(out, /blob sweep: orphan uploads older than 1 h removed every 24 h, next at \d{4}-\d\d-\d\dT20:00:00\.000Z \(CLAIMLENS_BLOB_SWEEP_HOURS\)/);
  const demoBlobs = blobFiles();
  assert.ok(demoBlobs.length >= 3, 'the demo stored its photos');

  // A claim on an order that does not exist: refused after intake wrote its photo.
  const photo = photos.natural2();
  const sha = createHash('sha256').update(photo).digest('hex');
  const refused = await api(url!, platformKey, 'POST', '/v1/claims', form({ claim: { orderId: 'no-such-order', type: 'refund_only', reason: 'broken', amount: 10 } }, [{ field: 'evidence', name: 'p.jpg', bytes: photo }]));
  assert.equal(refused.status, 404, JSON.stringify(refused.body));
  const orphanFile = join(dataDir, 'blobs', sha.slice(0, 2), sha.slice(2, 4), sha);
  assert.equal(existsSync(orphanFile), true, 'intake wrote the photo before the claim was refused');
  assert.ok(!demoBlobs.includes(orphanFile));

  // Recent: left alone.
  const first = cli('blobs', 'sweep', '--data', dataDir, '--json');
  assert.equal(first.status, 0, first.stderr);
  const r1 = JSON.parse(first.stdout);
  assert.deepEqual([r1.scanned, r1.recent, r1.orphans, r1.removed], [demoBlobs.length + 1, demoBlobs.length + 1, 0, 0]);
  assert.equal(existsSync(orphanFile), true);

  // Two hours on (every file aged): the dry run names the orphan alone, the sweep removes it.
  ageAll([...demoBlobs, orphanFile], 2 * 3_600_000);
  const dry = cli('blobs', 'sweep', '--data', dataDir, '--dry-run');
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, new RegExp(`^dry run: ${demoBlobs.length + 1} blobs stored; 0 written in the last 60 min \\(left alone\\); ${demoBlobs.length} named by a row \\(kept\\)\\n1 orphans \\(\\d+\\.\\d MB\\): none removed\\n$`));
  assert.equal(existsSync(orphanFile), true);
  const size = statSync(orphanFile).size;
  const swept = cli('blobs', 'sweep', '--data', dataDir, '--grace', '90m', '--json');
  assert.equal(swept.status, 0, swept.stderr);
  const r2 = JSON.parse(swept.stdout);
  assert.deepEqual([r2.referenced, r2.orphans, r2.removed, r2.bytesFreed, r2.graceMs], [demoBlobs.length, 1, 1, size, 90 * 60_000]);
  assert.equal(existsSync(orphanFile), false);
  for (const f of demoBlobs) assert.equal(existsSync(f), true, `named blob kept: ${f}`);
  // The demo claims' photos still load through the API.
  const claims = await api(url!, platformKey, 'GET', '/v1/claims');
  assert.equal(claims.status, 200);
  assert.ok(claims.body.items.length >= 3);

  // Refused: a grace period under a minute, or one that is not a duration.
  const short = cli('blobs', 'sweep', '--data', dataDir, '--grace', '30s');
  assert.equal(short.status, 2, short.stdout);
  assert.match(short.stderr, /--grace must be at least 1m/);
  const nonsense = cli('blobs', 'sweep', '--data', dataDir, '--grace', 'soon');
  assert.equal(nonsense.status, 2);
  assert.match(nonsense.stderr, /--grace: a duration is a whole number with s, m, h or d/);

  const exited = new Promise((r) => server!.once('exit', r));
  server.kill('SIGTERM');
  await exited;
  server = undefined;

  // Stopped: the command opens the folder itself; nothing left to remove.
  const local = cli('blobs', 'sweep', '--data', dataDir, '--json');
  assert.equal(local.status, 0, local.stderr);
  const r3 = JSON.parse(local.stdout);
  assert.deepEqual([r3.scanned, r3.referenced, r3.orphans], [demoBlobs.length, demoBlobs.length, 0]);
});
