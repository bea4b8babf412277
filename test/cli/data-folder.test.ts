// The commands against data folders and settings that are wrong, as real processes: a folder
// that holds no claimlens data (a typo in --data) is refused by the commands that only read
// one, before anything is created; a file, a dangling link or an empty --data is a clear
// one-line error; bad environment settings, --port and policy stop `serve` before the folder
// is made.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { BIN, cli, startServeProcess } from '../helpers/cli-process.ts';
import { api, tempDir } from '../http/helpers.ts';

// serve warms up for 3 s before it listens; nothing here needs it.
process.env.CLAIMLENS_WARMUP_MS = '0';

const root = tempDir();
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

/** `claimlens ARGS…` with extra environment, without blocking (several run side by side). */
function run(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

/** One line on stderr, no stack trace. */
function assertOneLine(stderr: string, what: string): void {
  assert.equal(stderr.trim().split('\n').length, 1, `${what}: ${stderr}`);
  assert.doesNotMatch(stderr, /\n\s+at /, what);
}

test('commands that only read a data folder refuse one without claimlens data, and create nothing', async () => {
  const missing = join(root, 'typo');
  const empty = join(root, 'empty');
  mkdirSync(empty);
  const cases = [['audit', 'verify'], ['audit', 'anchor'], ['blobs', 'sweep'], ['keys', 'list'], ['keys', 'revoke', 'key_x']];
  const runs = [...cases.map((c) => [c, missing] as const), [cases[0]!, empty] as const];
  const results = await Promise.all(runs.map(([c, dir]) => run([...c, '--data', dir]).then((r) => ({ c, dir, r }))));
  for (const { c, dir, r } of results) {
    assert.equal(r.status, 2, `${c.join(' ')} ${dir}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, new RegExp(`no claimlens data in ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.doesNotMatch(r.stdout, /intact/);
    assertOneLine(r.stderr, c.join(' '));
  }
  assert.equal(existsSync(missing), false, 'no folder made');
  assert.deepEqual(readdirSync(empty), [], 'nothing made in the empty folder');
});

test('a file, a dangling link or an empty --data is a clear error (exit 2)', async () => {
  const file = join(root, 'a-file');
  writeFileSync(file, 'x');
  const dangling = join(root, 'dangling');
  symlinkSync(join(root, 'gone'), dangling);
  const [a, b, c, d, e] = await Promise.all([
    run(['audit', 'verify', '--data', file]),
    run(['keys', 'create', '--data', file, '--tenant', 't', '--role', 'platform']),
    run(['keys', 'create', '--data', dangling, '--tenant', 't', '--role', 'platform']),
    run(['keys', 'create', '--data', join(file, 'sub'), '--tenant', 't', '--role', 'platform']),
    run(['audit', 'verify', '--data', '']),
  ]);
  for (const r of [a, b, c, d, e]) {
    assert.equal(r.status, 2, r.stderr);
    assertOneLine(r.stderr, r.stderr);
  }
  assert.match(a.stderr, /the data folder \S+a-file is not a folder/);
  assert.match(b.stderr, /the data folder \S+a-file is not a folder/);
  assert.match(c.stderr, /the data folder \S+dangling is a symbolic link to something that does not exist/);
  assert.match(d.stderr, /a-file\/sub cannot exist: a file is in its path/);
  assert.match(e.stderr, /--data must name a folder/);
  assert.equal(existsSync(join(root, 'gone')), false);
});

test('a read-only data folder is a clear error (exit 2)', { skip: process.getuid?.() === 0 ? 'root may write anywhere' : false }, async () => {
  const ro = join(root, 'read-only');
  mkdirSync(join(ro, 'pgdata'), { recursive: true });
  writeFileSync(join(ro, 'pgdata', 'PG_VERSION'), '17\n');
  const { chmodSync } = await import('node:fs');
  chmodSync(ro, 0o555);
  try {
    const r = await run(['audit', 'verify', '--data', ro]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /cannot lock the data folder \S+read-only .*permission denied/);
  } finally {
    chmodSync(ro, 0o755);
  }
});

test('serve refuses bad settings before it creates anything (exit 2, naming the setting and its value)', async () => {
  const bad = join(root, 'bad-policy.json');
  writeFileSync(bad, JSON.stringify({ surprise: 1 }));
  const cases: Array<[Record<string, string>, string[], RegExp]> = [
    [{ CLAIMLENS_RATE_LIMIT: 'abc' }, ['--port', '0'], /CLAIMLENS_RATE_LIMIT must be a whole number ≥ 0, not 'abc'/],
    [{ CLAIMLENS_RATE_LIMIT: '-5' }, ['--port', '0'], /CLAIMLENS_RATE_LIMIT must be a whole number ≥ 0, not '-5'/],
    [{ CLAIMLENS_INTAKE_THREADS: '1.5' }, ['--port', '0'], /CLAIMLENS_INTAKE_THREADS must be a whole number ≥ 0, not '1\.5'/],
    [{ CLAIMLENS_INTAKE_THREADS: '100000' }, ['--port', '0'], /CLAIMLENS_INTAKE_THREADS must be at most 64, not '100000'/],
    [{ CLAIMLENS_REUSE_SEARCH_THREADS: 'x' }, ['--port', '0'], /CLAIMLENS_REUSE_SEARCH_THREADS must be a whole number ≥ 0, not 'x'/],
    [{ CLAIMLENS_UPLOAD_VALIDATION: 'bogus' }, ['--port', '0'], /CLAIMLENS_UPLOAD_VALIDATION must be 'full' or 'structural', not 'bogus'/],
    [{ PORT: 'abc' }, [], /PORT must be a port number \(0–65535; 0 = any free port\), not 'abc'/],
    [{}, ['--port', ''], /--port must be a port number .*, not ''/],
    [{}, ['--port', '0', '--policy', bad], /bad policy: .*unknown field 'surprise'/],
  ];
  const t0 = Date.now();
  const results = await Promise.all(
    cases.map(([env, args], i) => {
      const dir = join(root, `never-${i}`);
      // (CLAIMLENS_GC_RELAUNCHED: the refusal is the same without serve's start of a second node)
      return run(['serve', '--data', dir, '--no-demo', ...args], { ...env, CLAIMLENS_GC_RELAUNCHED: '1' }).then((r) => ({ r, dir }));
    }),
  );
  results.forEach(({ r, dir }, i) => {
    assert.equal(r.status, 2, `case ${i}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, cases[i]![2]);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `case ${i}: no stack`);
    assert.equal(existsSync(dir), false, `case ${i}: no data folder was created`);
  });
  assert.ok(Date.now() - t0 < 30_000, 'refused at once, not after the runtime started');
});

test('blobs sweep refuses a grace period past 10 years (exit 2) before it opens anything', async () => {
  const r = await run(['blobs', 'sweep', '--data', join(root, 'never-sweep'), '--grace', '999999999d']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--grace: a duration must be at most 3650d \(10 years\), not '999999999d'/);
  assert.equal(existsSync(join(root, 'never-sweep')), false);
});
