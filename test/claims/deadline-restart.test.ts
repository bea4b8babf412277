// Durable deadlines on the default embedded storage: the merchant window is stored as a
// job; the service is stopped before it expires and started again on the same data
// folder after it did, and the deadline fires then. Then `claimlens audit verify`
// checks the chain, and finds an altered entry.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { validatePolicy, DEFAULT_POLICY } from '../../src/claims/policy.ts';
import { startRuntime, type Runtime } from '../../src/http/runtime.ts';
import { openPglite } from '../../src/store/pglite.ts';
import { REPO_ROOT } from '../helpers/shared.ts';
import { api, form, photos, tempDir, waitForState } from '../http/helpers.ts';
import { join } from 'node:path';

const dataDir = tempDir();
let rt: Runtime | undefined;
after(async () => {
  await rt?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const WINDOW_S = 3;
const policy = validatePolicy({ ...DEFAULT_POLICY, merchantResponseWindowHours: WINDOW_S / 3600 });

function cli(...args: string[]) {
  return spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'claimlens.mjs'), ...args], { encoding: 'utf8', timeout: 120_000 });
}

test('a merchant deadline fires after a restart; audit verify detects tampering', async () => {
  rt = await startRuntime({ dataDir, policy, poolSize: 1, runner: { pollMs: 50, leaseMs: 5000 } });
  let url = await rt.listen(0);
  const key = (await rt.service.createApiKey('t1', 'platform')).key;
  assert.equal((await api(url, key, 'POST', '/v1/orders', { id: 'o1', buyerId: 'b', merchantId: 'm1', sku: 'S', amount: 999, currency: 'CNY' })).status, 201);
  const sub = await api(url, key, 'POST', '/v1/claims', form({ claim: { orderId: 'o1', type: 'refund_only', reason: 'r', amount: 500 } }, [{ field: 'evidence', name: 'e.jpg', bytes: photos.natural() }]));
  const c = await waitForState(url, key, sub.body.id, ['awaiting_merchant']);
  const deadline = Date.parse(c.deadlines.merchantResponse);
  // Stop before the deadline (the window is a few seconds).
  await rt.close();
  rt = undefined;
  assert.ok(Date.now() < deadline, 'stopped before the deadline');
  const wait = deadline - Date.now() + 200;
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));

  rt = await startRuntime({ dataDir, policy, poolSize: 1, runner: { pollMs: 50, leaseMs: 5000 } });
  url = await rt.listen(0);
  const after = await waitForState(url, key, sub.body.id, ['in_review'], 30_000);
  assert.equal(after.state, 'in_review');
  const audit = (await api(url, key, 'GET', `/v1/claims/${sub.body.id}/audit`)).body.entries;
  const fired = audit.at(-1);
  assert.equal(fired.actor, 'deadline');
  assert.equal(fired.action, 'deadline.merchant_response_expired');
  assert.ok(Date.parse(fired.data.firedAt) >= deadline, 'not before the deadline');
  await rt.close();
  rt = undefined;

  const ok = cli('audit', 'verify', '--data', dataDir);
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /intact/);

  const db = await openPglite(join(dataDir, 'pgdata'));
  await db.query(`UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3`);
  await db.close();
  const altered = cli('audit', 'verify', '--data', dataDir, '--json');
  assert.equal(altered.status, 1, altered.stdout + altered.stderr);
  const v = JSON.parse(altered.stdout);
  assert.ok(v.problems.some((p: any) => p.problem === 'altered' && p.seq === 3));
  // (Deleted entries: the same verifier, tested on both databases in test/store.)

});
