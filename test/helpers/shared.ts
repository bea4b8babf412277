// Access to ../shared (the project's read-only test data beside the checkout).

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(here, '..', '..');
export const SHARED = process.env.CLAIMLENS_SHARED ? resolve(process.env.CLAIMLENS_SHARED) : resolve(REPO_ROOT, '..', 'shared');

if (!existsSync(join(SHARED, 'README.md'))) {
  throw new Error(`../shared not found at ${SHARED}: the tests need the shared data beside the checkout (or CLAIMLENS_SHARED).`);
}

export function sharedPath(...parts: string[]): string {
  return join(SHARED, ...parts);
}

export function readShared(...parts: string[]): Buffer {
  return readFileSync(sharedPath(...parts));
}

export interface FixtureEntry {
  file: string;
  source_repo: string;
  license: string;
  facts: Record<string, any>;
}

let manifest: FixtureEntry[] | undefined;
export function fixtureManifest(): FixtureEntry[] {
  manifest ??= JSON.parse(readFileSync(sharedPath('fixtures', 'manifest.json'), 'utf8')) as FixtureEntry[];
  return manifest;
}
