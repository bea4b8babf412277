// `npm run bench`: runs every bench/*.bench.ts module in turn (or those whose name
// contains one of the arguments), prints each one's figures, and ends with one line
// `BENCH {json}` holding the figures of all of them. Each module measures its baseline
// (usually sharp's decode of the same file) in the same run and reports ratios, since
// machines here are noisy.

import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

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

const all: BenchFigures = {};
let failed = 0;
for (const f of files) {
  console.log(`\n== ${f}`);
  try {
    const mod = (await import(pathToFileURL(join(here, f)).href)) as BenchModule;
    const figures = await mod.default();
    Object.assign(all, figures);
  } catch (e) {
    failed++;
    console.error(`${f} failed: ${e instanceof Error ? e.stack : String(e)}`);
  }
}
console.log(`BENCH ${JSON.stringify(all)}`);
if (failed) process.exitCode = 1;
