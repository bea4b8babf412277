// `npm run bench`: runs every bench/*.bench.ts module in turn (or those whose name
// contains one of the arguments), prints each one's figures, and ends with one line
// `BENCH {json}` holding the figures of all of them. Each module measures its baseline
// (usually sharp's decode of the same file) in the same run and reports ratios, since
// machines here are noisy.

import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { missingServerGcFlags, RELAUNCHED } from '../src/cli/gc-relaunch.mjs';

export type BenchFigures = Record<string, number>;
export interface BenchModule {
  /** Runs the benchmark, printing human-readable lines, and returns its BENCH figures. */
  default: () => Promise<BenchFigures>;
}

const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

/**
 * Benchmarks that host the claims server in their own process, and so must run with the node
 * flags `claimlens serve` runs with (src/cli/gc-relaunch.mjs): when this process lacks them,
 * such a module runs in a child node started with them, its lines passed through and its
 * BENCH figures taken over.
 */
const SERVER_BENCHES = new Set(['submit.bench.ts']);

function runInServerNode(file: string, flags: string[]): Promise<BenchFigures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, ...flags, fileURLToPath(import.meta.url), file], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, [RELAUNCHED]: '1' },
    });
    let pending = '';
    let figures: BenchFigures | undefined;
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('BENCH ')) figures = JSON.parse(line.slice(6));
        else if (line !== `== ${file}` && line !== '') console.log(line);
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 && figures ? resolve(figures) : reject(new Error(`${file} in a child node exited with ${code}`))));
  });
}

const all: BenchFigures = {};
let failed = 0;
const serverFlags = missingServerGcFlags();
for (const f of files) {
  console.log(`\n== ${f}`);
  try {
    let figures: BenchFigures;
    if (SERVER_BENCHES.has(f) && serverFlags.length > 0) {
      console.log(`(in a child node with ${serverFlags.join(' ')}, as \`claimlens serve\` runs on this machine)`);
      figures = await runInServerNode(f, serverFlags);
    } else {
      const mod = (await import(pathToFileURL(join(here, f)).href)) as BenchModule;
      figures = await mod.default();
    }
    Object.assign(all, figures);
  } catch (e) {
    failed++;
    console.error(`${f} failed: ${e instanceof Error ? e.stack : String(e)}`);
  }
}
console.log(`BENCH ${JSON.stringify(all)}`);
if (failed) process.exitCode = 1;
