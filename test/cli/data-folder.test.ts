// The commands against data folders and settings that are wrong, as real processes: a folder
// that holds no claimlens data (a typo in --data) is refused by the commands that only read
// one, before anything is created; a file, a dangling link or an empty --data is a clear
// one-line error; bad environment settings, --port and policy stop `serve` before the folder
// is made. Then one data folder through serve's life: a revoked demo key stays revoked across
// restarts, a stale server.json whose pid now belongs to another live process (pid reuse after
// a reboot) is set aside, a port in use is a clear error that leaves no lock behind, and
// "not found" is a message, not a stack.

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

test('one folder through serve: revoked demo key stays revoked, stale server.json, port in use, not found', async () => {
  const data = join(root, 'data');
  // 1. A fresh folder with the demo. Through its server: revoke the demo platform key; an
  // unknown key id is a message, exit 1.
  let s = await startServeProcess(data, ['--workers', '1']);
  children.push(s.proc);
  assert.ok(s.url, s.out());
  const platformKey = /platform\s+(clk_\S+)/.exec(s.out())![1]!;
  const reviewerKey = /reviewer\s+(clk_\S+)/.exec(s.out())![1]!;
  const listed = JSON.parse(cli('keys', 'list', '--data', data, '--tenant', 'demo', '--json').stdout).items as Array<{ id: string; role: string }>;
  assert.equal(listed.length, 3);
  assert.equal(cli('keys', 'revoke', '--data', data, listed.find((k) => k.role === 'platform')!.id).status, 0);
  const nf = cli('keys', 'revoke', '--data', data, 'key_nonexistent');
  assert.equal(nf.status, 1, nf.stderr);
  assert.match(nf.stderr, /^claimlens keys: key not found/);
  assertOneLine(nf.stderr, 'keys revoke, through the server');
  await stop(s.proc);
  const demoKeysFile = readFileSync(join(data, 'demo-keys.json'), 'utf8');

  // 2. The same on the folder itself.
  const nf2 = cli('keys', 'revoke', '--data', data, 'key_nonexistent');
  assert.equal(nf2.status, 1, nf2.stderr);
  assert.match(nf2.stderr, /^claimlens keys: key not found/);
  assertOneLine(nf2.stderr, 'keys revoke, local');

  // 3. The port taken: a clear error, the runtime closed, no lock or server.json left.
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as AddressInfo).port;
  const busy = await run(['serve', '--data', data, '--port', String(port), '--no-demo', '--workers', '1']);
  await new Promise((r) => blocker.close(r));
  assert.equal(busy.status, 1, busy.stdout + busy.stderr);
  assert.match(busy.stderr, new RegExp(`port ${port} is already in use`));
  assertOneLine(busy.stderr, 'port in use');
  for (const f of ['lock', 'server.json', 'admin.token']) assert.equal(existsSync(join(data, f)), false, `${f} removed`);

  // 4. server.json, admin.token and lock left by a server killed before a reboot, their pid now
  // some other live process; the URL answers no more. audit verify works on the folder.
  const other = spawn('sleep', ['300'], { stdio: 'ignore' });
  children.push(other);
  const stale = () => {
    writeFileSync(join(data, 'server.json'), JSON.stringify({ pid: other.pid, url: `http://127.0.0.1:${port}`, startedAt: new Date().toISOString() }));
    writeFileSync(join(data, 'admin.token'), 'old-token');
    writeFileSync(join(data, 'lock'), String(other.pid));
  };
  stale();
  const v = cli('audit', 'verify', '--data', data);
  assert.equal(v.status, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /audit chain intact: \d+ entries/);
  assert.equal(existsSync(join(data, 'server.json')), false, 'the stale record was removed');

  // 5. serve starts over the same stale record; the demo is not seeded again and the revoked
  // demo key stays revoked (shown as such); the other demo keys still work.
  stale();
  s = await startServeProcess(data, ['--workers', '1']);
  children.push(s.proc);
  assert.ok(s.url, s.out());
  assert.doesNotMatch(s.out(), /already|Error/);
  assert.match(s.out(), /platform\s+revoked/);
  assert.equal(readFileSync(join(data, 'demo-keys.json'), 'utf8'), demoKeysFile, 'no new demo keys written');
  assert.equal((await api(s.url!, platformKey, 'GET', '/v1/me')).status, 401);
  assert.equal((await api(s.url!, reviewerKey, 'GET', '/v1/claims')).body.items.length, 3, 'the three demo claims, not seeded twice');
  const through = JSON.parse(cli('keys', 'list', '--data', data, '--tenant', 'demo', '--json').stdout).items as Array<{ revokedAt: string | null }>;
  assert.deepEqual(through.map((k) => k.revokedAt !== null).sort(), [false, false, true], 'no new demo keys in the database');
  await stop(s.proc);
  for (const f of ['lock', 'server.json', 'admin.token']) assert.equal(existsSync(join(data, f)), false, `${f} removed at shutdown`);
});

async function stop(proc: ChildProcess): Promise<void> {
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}
