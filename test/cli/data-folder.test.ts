// The commands against data folders and settings that are wrong, as real processes.

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

test('blobs sweep refuses a grace period past 10 years (exit 2) before it opens anything', async () => {
  const r = await run(['blobs', 'sweep', '--data', join(root, 'never-sweep'), '--grace', '999999999d']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--grace: a duration must be at most 3650d \(10 years\), not '999999999d'/);
  assert.equal(existsSync(join(root, 'never-sweep')), false);
});
