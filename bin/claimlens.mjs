#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so `npx claimlens` works right
// after `npm install` with no build step to remember.
import { fileURLToPath } from 'node:url';
import { relaunchWithGcFlags, watchParent } from '../src/cli/gc-relaunch.mjs';

const args = process.argv.slice(2);
if (args[0] === 'serve') {
  // The server runs with GC flags that only node's command line can set (see gc-relaunch.mjs).
  let code = null;
  try {
    code = await relaunchWithGcFlags(fileURLToPath(import.meta.url), args);
  } catch (e) {
    process.stderr.write(`claimlens serve: ${e.message}\n`);
    code = 2;
  }
  if (code !== null) process.exit(code);
  watchParent();
}
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(args);
