// Command-line entry point: dispatches `claimlens <command>` to its module.
// Each command lives in its own file under src/cli/ and exports `run(args): Promise<number>`
// returning the process exit code.

import { UsageError } from './args.ts';
import { AdminUnreachableError, DataDirBusyError, DataDirUnusableError } from '../http/admin.ts';
import { ServiceError } from '../claims/errors.ts';

export interface Command {
  summary: string;
  run(args: string[]): Promise<number>;
}

const COMMANDS: Record<string, () => Promise<Command>> = {
  analyze: async () => (await import('./analyze.ts')).command,
  serve: async () => (await import('./serve.ts')).command,
  keys: async () => (await import('./keys.ts')).command,
  audit: async () => (await import('./audit.ts')).command,
  blobs: async () => (await import('./blobs.ts')).command,
  hash: async () => (await import('./hash.ts')).command,
  match: async () => (await import('./match.ts')).command,
};

export function usage(): string {
  return [
    'claimlens — verification of after-sales claim photos',
    '',
    'Usage: claimlens <command> [options]',
    '',
    'Commands:',
    ...Object.keys(COMMANDS).map((c) => `  ${c}`),
    '',
    'Run `claimlens <command> --help` for the options of a command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`claimlens: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  const cmd = await load();
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`claimlens ${name}: ${e.message}\n`);
      return 2;
    }
    if (e instanceof DataDirUnusableError) {
      // A file where the folder should be, no permission, no claimlens data: the --data given
      // (or CLAIMLENS_DATA) is wrong, a configuration error; nothing was created.
      process.stderr.write(`claimlens ${name}: ${e.message}\n`);
      return 2;
    }
    if (e instanceof DataDirBusyError || e instanceof AdminUnreachableError) {
      // The data folder is held by another process that is not a server we can talk to, or
      // its server stopped answering mid-command.
      process.stderr.write(`claimlens ${name}: ${e.message}\n`);
      return 1;
    }
    if (e instanceof ServiceError) {
      // The service's own refusal, the same whether it came through the running server's admin
      // route or from the folder opened here: input it refuses (400) is a usage error, exit 2;
      // anything else (a key that is not there: not_found, 404) exit 1.
      process.stderr.write(`claimlens ${name}: ${e.message}${e.code && e.status !== 400 ? ` (${e.code})` : ''}\n`);
      return e.status === 400 ? 2 : 1;
    }
    if (e instanceof Error && typeof (e as NodeJS.ErrnoException).syscall === 'string') {
      // A file-system or network refusal (a file that cannot be read, a disk full): the
      // system's one line says it; a stack would only hide it.
      process.stderr.write(`claimlens ${name}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
