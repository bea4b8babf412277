// `npm run eval`: runs every bench/*.eval.ts module (detection quality on labelled sets
// that the code generates from ../shared) and ends with `EVAL {json}` of all figures.

import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.eval.ts'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();

const all: Record<string, number> = {};
let failed = 0;
for (const f of files) {
  console.log(`\n== ${f}`);
  try {
    const mod = (await import(pathToFileURL(join(here, f)).href)) as { default: () => Promise<Record<string, number>> };
    Object.assign(all, await mod.default());
  } catch (e) {
    failed++;
    console.error(`${f} failed: ${e instanceof Error ? e.stack : String(e)}`);
  }
}
console.log(`EVAL ${JSON.stringify(all)}`);
if (failed) process.exitCode = 1;
