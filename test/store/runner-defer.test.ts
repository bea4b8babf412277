// The job runner's deferral (analysis gives way to uploads), on a real PGlite queue: while
// the foreground is busy, deferred tasks wait (but for the one-per-maxDeferMs guard) and other
// tasks run; once it is idle, the deferred ones catch up; under sustained load they still move.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { enqueue } from '../../src/jobs/queue.ts';
import { JobRunner } from '../../src/jobs/runner.ts';
import { migrate } from '../../src/store/migrations.ts';
import { openPglite } from '../../src/store/pglite.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(f: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (!f() && Date.now() - t0 < ms) await sleep(20);
  return f();
}

test('deferred tasks wait while the foreground is busy, run when it stops, and still move under sustained load', async () => {
  const db = await openPglite(undefined);
  await migrate(db);
  try {
    for (let i = 0; i < 4; i++) await enqueue(db, 'analyze_claim', { i });
    await enqueue(db, 'deliver_webhook', { w: 1 });
    const ran: string[] = [];
    let busy = true;
    const handler = (task: string) => async () => {
      ran.push(task);
    };
    const runner = new JobRunner(db, { analyze_claim: handler('analyze_claim'), deliver_webhook: handler('deliver_webhook') }, {
      pollMs: 30,
      concurrency: 4,
      defer: { tasks: ['analyze_claim'], while: () => busy, maxDeferMs: 60_000 },
    });
    runner.start();
    assert.ok(await until(() => ran.includes('deliver_webhook'), 5000), 'the other task runs while busy');
    await sleep(400);
    // The guard lets exactly one deferred job through at the start, then none for maxDeferMs.
    assert.equal(ran.filter((t) => t === 'analyze_claim').length, 1, ran.join(','));
    busy = false;
    assert.ok(await until(() => ran.filter((t) => t === 'analyze_claim').length === 4, 5000), `caught up: ${ran.join(',')}`);
    await runner.stop();

    // Sustained load with a short guard: every deferred job still runs.
    for (let i = 0; i < 3; i++) await enqueue(db, 'analyze_claim', { j: i });
    const before = ran.length;
    const r2 = new JobRunner(db, { analyze_claim: handler('analyze_claim') }, {
      pollMs: 30,
      defer: { tasks: ['analyze_claim'], while: () => true, maxDeferMs: 100 },
    });
    r2.start();
    assert.ok(await until(() => ran.length - before === 3, 5000), 'the guard lets them through one by one');
    await r2.stop();
  } finally {
    await db.close();
  }
});
