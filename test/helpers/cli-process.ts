// `claimlens` as a real process, for the tests of its commands: a command run to its end, and
// `serve` started on a data folder and waited for until its banner is out.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './shared.ts';

export const BIN = join(REPO_ROOT, 'bin', 'claimlens.mjs');

/** Runs `claimlens ARGS…` to its end. */
export function cli(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
}

/** Starts `claimlens serve --port 0 --data DIR ARGS…` and waits for its banner (up to 90 s). */
export async function startServeProcess(dataDir: string, args: string[] = []): Promise<{ proc: ChildProcess; out: () => string; url: string | undefined }> {
  const proc = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data', dataDir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const t0 = Date.now();
  while (!/Try: curl/.test(out) && proc.exitCode === null && Date.now() - t0 < 90_000) await new Promise((r) => setTimeout(r, 100));
  return { proc, out: () => out, url: /running at (http:\/\/\S+)/.exec(out)?.[1] };
}
