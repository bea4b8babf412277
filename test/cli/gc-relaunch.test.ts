// `claimlens serve` starts node again with the server's GC flags (src/cli/gc-relaunch.mjs):
// the choice itself, and the process pair as an operator meets it: signals reach the server
// once, the exit status is the server's, and killing the outer process outright leaves no
// server behind.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEFAULT_OLD_SPACE_FLOOR_MB, SINGLE_THREADED_GC_FLAGS, runsSingleThreadedGc, serverGcFlags } from '../../src/cli/gc-relaunch.mjs';
import { REPO_ROOT } from '../helpers/shared.ts';
import { tempDir } from '../http/helpers.ts';

const BIN = join(REPO_ROOT, 'bin', 'claimlens.mjs');
const GC_MODULE = pathToFileURL(join(REPO_ROOT, 'src', 'cli', 'gc-relaunch.mjs')).href;
const dataRoot = tempDir();
const started: ChildProcess[] = [];
after(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dataRoot, { recursive: true, force: true });
});

test('single-threaded GC on 2 cores or fewer unless CLAIMLENS_GC says otherwise', () => {
  const floor = `--initial-old-space-size=${DEFAULT_OLD_SPACE_FLOOR_MB}`;
  assert.deepEqual(serverGcFlags({}, 1), [...SINGLE_THREADED_GC_FLAGS, floor]);
  assert.deepEqual(serverGcFlags({}, 2), [...SINGLE_THREADED_GC_FLAGS, floor]);
  assert.deepEqual(serverGcFlags({}, 8), [floor]);
  assert.deepEqual(serverGcFlags({ CLAIMLENS_GC: 'single' }, 8), [...SINGLE_THREADED_GC_FLAGS, floor]);
  assert.deepEqual(serverGcFlags({ CLAIMLENS_GC: 'parallel' }, 2), [floor]);
  assert.deepEqual(serverGcFlags({ CLAIMLENS_GC: '' }, 2), [...SINGLE_THREADED_GC_FLAGS, floor]);
  assert.throws(() => serverGcFlags({ CLAIMLENS_GC: 'fast' }, 2), /CLAIMLENS_GC must be 'single' or 'parallel', not 'fast'/);
});

test('the old-generation floor: 128 MB unless CLAIMLENS_GC_OLD_SPACE_MB says otherwise, 0 leaves V8\'s own', () => {
  assert.equal(DEFAULT_OLD_SPACE_FLOOR_MB, 128);
  assert.deepEqual(serverGcFlags({ CLAIMLENS_GC_OLD_SPACE_MB: '512' }, 2), [...SINGLE_THREADED_GC_FLAGS, '--initial-old-space-size=512']);
  assert.deepEqual(serverGcFlags({ CLAIMLENS_GC_OLD_SPACE_MB: '0' }, 2), SINGLE_THREADED_GC_FLAGS);
  assert.deepEqual(serverGcFlags({ CLAIMLENS_GC_OLD_SPACE_MB: '0', CLAIMLENS_GC: 'parallel' }, 2), []);
  for (const bad of ['-1', '1.5', '128MB', ' 64', '1e3']) {
    assert.throws(() => serverGcFlags({ CLAIMLENS_GC_OLD_SPACE_MB: bad }, 2), /CLAIMLENS_GC_OLD_SPACE_MB must be a whole number of MB/, bad);
  }
});

test('a flag node was started with is left as given, whatever its value', () => {
  // missingServerGcFlags reads this process's own command line: run it in a node started with
  // one of the flags spelt V8's other way (underscores).
  const r = spawnSync(
    process.execPath,
    ['--initial_old_space_size=64', '--input-type=module', '-e', `import { missingServerGcFlags } from ${JSON.stringify(GC_MODULE)}; console.log(JSON.stringify(missingServerGcFlags({ CLAIMLENS_GC: 'single' })));`],
    { encoding: 'utf8', env: { ...process.env, CLAIMLENS_GC_RELAUNCHED: '' } },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), SINGLE_THREADED_GC_FLAGS);

  // A flag switched on by the operator is theirs too: our `--no-` form of it is not added.
  const on = spawnSync(
    process.execPath,
    ['--concurrent_marking', '--input-type=module', '-e', `import { missingServerGcFlags } from ${JSON.stringify(GC_MODULE)}; console.log(JSON.stringify(missingServerGcFlags({ CLAIMLENS_GC: 'single' })));`],
    { encoding: 'utf8', env: { ...process.env, CLAIMLENS_GC_RELAUNCHED: '' } },
  );
  assert.equal(on.status, 0, on.stderr);
  assert.deepEqual(JSON.parse(on.stdout), [...SINGLE_THREADED_GC_FLAGS.filter((f) => f !== '--no-concurrent-marking'), `--initial-old-space-size=${DEFAULT_OLD_SPACE_FLOOR_MB}`]);
});

test('a bad CLAIMLENS_GC or CLAIMLENS_GC_OLD_SPACE_MB stops serve before it starts anything', () => {
  for (const [name, value, message] of [
    ['CLAIMLENS_GC', 'fast', /CLAIMLENS_GC must be 'single' or 'parallel'/],
    ['CLAIMLENS_GC_OLD_SPACE_MB', 'lots', /CLAIMLENS_GC_OLD_SPACE_MB must be a whole number of MB/],
  ] as const) {
    const r = spawnSync(process.execPath, [BIN, 'serve', '--port', '0', '--data', join(dataRoot, 'never')], {
      encoding: 'utf8',
      env: { ...process.env, [name]: value },
    });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
  }
  assert.equal(existsSync(join(dataRoot, 'never')), false, 'nothing was created');
});

/** Starts `claimlens serve` and waits for its banner; returns the process and the banner. */
async function startServe(name: string, gc: string, env: Record<string, string> = {}): Promise<{ proc: ChildProcess; out: () => string; url: string }> {
  const proc = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data', join(dataRoot, name), '--no-demo', '--workers', '1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CLAIMLENS_GC: gc, ...env },
  });
  started.push(proc);
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const t0 = Date.now();
  while (!/workers:/.test(out) && proc.exitCode === null && Date.now() - t0 < 90_000) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 200)); // the rest of the banner
  const url = /running at (http:\/\/\S+)/.exec(out)?.[1];
  assert.ok(url, out);
  return { proc, out: () => out, url: url! };
}

/** The pids of processes whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  const r = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  return r.stdout.split('\n').map((s) => Number(s.trim())).filter((n) => n > 0);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function exitOf(proc: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (proc.exitCode !== null || proc.signalCode !== null) return { code: proc.exitCode, signal: proc.signalCode };
  return new Promise((res) => proc.once('exit', (code, signal) => res({ code, signal })));
}

test('with CLAIMLENS_GC=single the server runs in a relaunched node, stops once on SIGTERM and exits with its status', async () => {
  const s = await startServe('single', 'single');
  assert.match(s.out(), /GC:\s+single-threaded/);
  const kids = childrenOf(s.proc.pid!);
  assert.equal(kids.length, 1, 'one relaunched node');
  const args = spawnSync('ps', ['-o', 'args=', '-p', String(kids[0])], { encoding: 'utf8' }).stdout;
  assert.ok(args.includes(`${SINGLE_THREADED_GC_FLAGS.join(' ')} --initial-old-space-size=128 `) && /claimlens\.mjs serve/.test(args), args);
  assert.match(s.out(), /GC:\s+single-threaded .*; no full collection below 128 MB of old generation/);
  assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
  s.proc.kill('SIGTERM');
  const { code, signal } = await exitOf(s.proc);
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, s.out());
  assert.equal((s.out().match(/stopping/g) ?? []).length, 1, 'the server stopped once, gracefully');
  assert.equal(alive(kids[0]!), false);
});

test('SIGKILL of the outer process takes the server down with it', async () => {
  const s = await startServe('killed', 'single');
  const [server] = childrenOf(s.proc.pid!);
  assert.ok(server);
  s.proc.kill('SIGKILL');
  await exitOf(s.proc);
  const t0 = Date.now();
  while (alive(server) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
  const orphaned = alive(server);
  if (orphaned) process.kill(server, 'SIGKILL'); // or it would hold the test's pipes open
  assert.equal(orphaned, false, 'the relaunched server died with its parent');
  await assert.rejects(fetch(`${s.url}/healthz`));
});

test('with CLAIMLENS_GC=parallel and no old-generation floor serve runs in the process started, with no relaunch', async () => {
  const s = await startServe('parallel', 'parallel', { CLAIMLENS_GC_OLD_SPACE_MB: '0' });
  assert.match(s.out(), /GC:\s+V8's default \(parallel\); V8's own old-generation limit/);
  assert.deepEqual(childrenOf(s.proc.pid!), []);
  s.proc.kill('SIGINT');
  const { code } = await exitOf(s.proc);
  assert.equal(code, 0, s.out());
});

test('with CLAIMLENS_GC=parallel serve is relaunched for the old-generation floor alone', async () => {
  const s = await startServe('parallel-floor', 'parallel', { CLAIMLENS_GC_OLD_SPACE_MB: '96' });
  assert.match(s.out(), /GC:\s+V8's default \(parallel\); no full collection below 96 MB/);
  const kids = childrenOf(s.proc.pid!);
  assert.equal(kids.length, 1, 'one relaunched node');
  const args = spawnSync('ps', ['-o', 'args=', '-p', String(kids[0])], { encoding: 'utf8' }).stdout;
  assert.match(args, /--initial-old-space-size=96 /);
  assert.doesNotMatch(args, /single-threaded/);
  s.proc.kill('SIGINT');
  const { code } = await exitOf(s.proc);
  assert.equal(code, 0, s.out());
});

test('the single-threaded collector runs workers that collect without aborting, and is recognised on a command line', () => {
  // Without --no-cppheap-concurrent-marking beside --no-concurrent-marking, V8 aborts (SIGTRAP,
  // "concurrent_marking_handle_") when a worker thread finishes a full collection.
  const script = `
    const { Worker } = require('node:worker_threads');
    const code = "const keep = []; for (let r = 0; r < 60; r++) { for (let k = 0; k < 20000; k++) keep.push({ a: k, b: new Uint8Array(64), c: 'x' + k }); if (keep.length > 200000) keep.splice(0, 100000); } require('node:worker_threads').parentPort.postMessage(keep.length);";
    let n = 0;
    for (let i = 0; i < 2; i++) new Worker(code, { eval: true }).on('message', () => { if (++n === 2) console.log('collected'); });
  `;
  const r = spawnSync(process.execPath, [...serverGcFlags({ CLAIMLENS_GC: 'single', CLAIMLENS_GC_OLD_SPACE_MB: '0' }, 2), '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.signal, null, r.stderr);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'collected');

  assert.equal(runsSingleThreadedGc([...SINGLE_THREADED_GC_FLAGS, '--initial-old-space-size=128']), true);
  assert.equal(runsSingleThreadedGc(['--single_threaded_gc']), true, "V8's own flag, spelt either way");
  assert.equal(runsSingleThreadedGc(SINGLE_THREADED_GC_FLAGS.slice(1)), false);
  assert.equal(runsSingleThreadedGc([]), false);
});
