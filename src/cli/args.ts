// Shared helpers for command-line parsing.

import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Thrown by commands for bad flags; printed without a stack, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** node:util parseArgs with errors turned into UsageError. */
export function parse<T extends ParseArgsConfig['options']>(args: string[], options: T, allowPositionals = true) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

/** The language for human output: --lang, else the locale in LANG/LC_ALL. */
export function pickLang(flag: string | undefined): 'en' | 'zh' {
  if (flag === 'zh' || flag === 'en') return flag;
  if (flag) throw new UsageError(`--lang must be en or zh, not '${flag}'`);
  const loc = process.env.LC_ALL || process.env.LC_MESSAGES || process.env.LANG || '';
  return /^zh/i.test(loc) ? 'zh' : 'en';
}
