// `claimlens serve`, `keys create` and `audit verify` as real processes on one data
// folder: keys and audit go through the running server, and straight to the folder when
// it is stopped; a bad policy file stops the start with a clear error.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, cli, startServeProcess } from '../helpers/cli-process.ts';
import { api, tempDir } from '../http/helpers.ts';

const dataDir = tempDir();
let server: ChildProcess | undefined;
after(() => {
  server?.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

test('serve refuses an unknown --upload-validation before it starts anything', () => {
  const r = cli('serve', '--port', '0', '--data', join(dataDir, 'never2'), '--upload-validation', 'none');
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--upload-validation must be structural or full, not 'none'/);
  assert.equal(existsSync(join(dataDir, 'never2')), false, 'no data folder was created');
});

test('serve refuses a bad CLAIMLENS_WARMUP_MS before it starts anything', () => {
  const r = spawnSync(process.execPath, [BIN, 'serve', '--port', '0', '--data', join(dataDir, 'never3')], { encoding: 'utf8', env: { ...process.env, CLAIMLENS_WARMUP_MS: 'soon' } });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /CLAIMLENS_WARMUP_MS must be a whole number of milliseconds/);
  assert.equal(existsSync(join(dataDir, 'never3')), false, 'no data folder was created');
});

test('a bad policy file stops serve with a clear error', () => {
  const bad = join(dataDir, 'bad-policy.json');
  writeFileSync(bad, JSON.stringify({ merchantResponseWindowHours: -1, autoApprove: { maxAmount: 'lots' }, surprise: 1 }));
  const r = cli('serve', '--port', '0', '--data', join(dataDir, 'never'), '--policy', bad);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /merchantResponseWindowHours must be a number/);
  assert.match(r.stderr, /autoApprove\.maxAmount/);
  assert.match(r.stderr, /unknown field 'surprise'/);
});

test('serve with demo data; keys create and audit verify while it runs and after', async () => {
  const started = await startServeProcess(dataDir, ['--workers', '1']);
  server = started.proc;
  const out = started.out();
  const url = started.url;
  assert.ok(url, out);
  // serve warms the submission path before listening (src/http/warm-up.ts), leaving nothing behind (audit verify below)
  const warm = /warm-up:\s+(\d+) ms, (\d+) submissions and (\d+) rolled-back group writes before listening(.*)/.exec(out);
  assert.ok(warm && Number(warm[2]) > 0 && Number(warm[3]) > 0, out);
  assert.doesNotMatch(warm[4]!, /stopped early/);
  const reviewerKey = /reviewer\s+(clk_\S+)/.exec(out)![1]!;
  assert.equal((await api(url!, reviewerKey, 'GET', '/v1/me')).body.role, 'reviewer');
  const demo = await api(url!, reviewerKey, 'GET', '/v1/claims');
  assert.equal(demo.body.items.length, 3, 'three demo claims');

  // While the server holds the folder.
  const k = cli('keys', 'create', '--data', dataDir, '--tenant', 'acme', '--role', 'merchant', '--merchant', 'shop-7');
  assert.equal(k.status, 0, k.stderr);
  assert.match(k.stdout, /through the running server/);
  const newKey = k.stdout.trim().split('\n').at(-1)!;
  assert.match(newKey, /^clk_[A-Za-z0-9_-]{20,}$/);
  const me = await api(url!, newKey, 'GET', '/v1/me');
  assert.deepEqual({ t: me.body.tenantId, r: me.body.role, m: me.body.merchantId }, { t: 'acme', r: 'merchant', m: 'shop-7' });
  const v = cli('audit', 'verify', '--data', dataDir);
  assert.equal(v.status, 0, v.stdout + v.stderr);
  // keys list / revoke through the running server: the key stops working at once
  const listed = cli('keys', 'list', '--data', dataDir, '--tenant', 'acme', '--json');
  assert.equal(listed.status, 0, listed.stderr);
  const acmeKeys = JSON.parse(listed.stdout).items;
  assert.equal(acmeKeys.length, 1);
  assert.equal(acmeKeys[0].merchantId, 'shop-7');
  assert.ok(!JSON.stringify(acmeKeys).includes(newKey), 'no secrets listed');
  const rv = cli('keys', 'revoke', '--data', dataDir, acmeKeys[0].id);
  assert.equal(rv.status, 0, rv.stderr);
  assert.match(rv.stdout, /revoked key/);
  assert.equal((await api(url!, newKey, 'GET', '/v1/me')).status, 401);
  assert.equal(cli('keys', 'revoke', '--data', dataDir, 'key_nope').status, 1);
  // The admin route refuses a wrong token.
  const bad = await fetch(url + '/admin/keys', { method: 'POST', headers: { 'content-type': 'application/json', 'x-admin-token': 'nope' }, body: JSON.stringify({ tenant: 'x', role: 'platform' }) });
  assert.equal(bad.status, 401);

  const exited = new Promise((r) => server!.once('exit', r));
  server.kill('SIGTERM');
  await exited;
  server = undefined;

  // Stopped: the commands open the folder themselves.
  const k2 = cli('keys', 'create', '--data', dataDir, '--tenant', 'acme', '--role', 'reviewer');
  assert.equal(k2.status, 0, k2.stderr);
  assert.doesNotMatch(k2.stdout, /running server/);
  assert.match(k2.stdout.trim().split('\n').at(-1)!, /^clk_/);
  const bad2 = cli('keys', 'create', '--data', dataDir, '--tenant', 'acme', '--role', 'merchant');
  assert.equal(bad2.status, 2);
  assert.match(bad2.stderr, /--merchant is required/);
  const list2 = cli('keys', 'list', '--data', dataDir, '--tenant', 'acme');
  assert.equal(list2.status, 0, list2.stderr);
  assert.match(list2.stdout, /merchant:shop-7\tcreated \S+\trevoked /);
  assert.match(list2.stdout, /reviewer\tcreated \S+\tactive/);
  const again = cli('keys', 'revoke', '--data', dataDir, acmeKeys[0].id);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /already revoked/);
  // A live process holding the lock (this test process) makes the commands refuse, not corrupt.
  writeFileSync(join(dataDir, 'lock'), String(process.pid));
  const busy = cli('audit', 'verify', '--data', dataDir);
  assert.equal(busy.status, 1);
  assert.match(busy.stderr, /in use by process/);
  const busyServe = cli('serve', '--port', '0', '--data', dataDir);
  assert.equal(busyServe.status, 1);
  assert.match(busyServe.stderr, /^claimlens serve: the data folder .* is in use by process/);
  rmSync(join(dataDir, 'lock'));
  const v2 = cli('audit', 'verify', '--data', dataDir);
  assert.equal(v2.status, 0, v2.stdout + v2.stderr);
});
