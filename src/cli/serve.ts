// `claimlens serve [--port N] [--host H] [--data DIR] [--policy FILE] [--workers N] [--upload-validation structural|full] [--no-demo]`:
// starts the API and the analysis workers on embedded storage (or DATABASE_URL), seeds a
// demo tenant with demo claims, and prints the URL and the demo keys.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { seedDemo } from '../claims/demo.ts';
import { loadPolicyFile, PolicyError, type Policy } from '../claims/policy.ts';
import { findServer, lockDataDir, newAdminToken, publishServer } from '../http/admin.ts';
import { runtimeSettingsFromEnv, startRuntime, type Runtime } from '../http/runtime.ts';
import { warmUpFromEnv } from '../http/warm-up.ts';
import { parse, UsageError } from './args.ts';
import { dataSettings } from './local-store.ts';
import { DEFAULT_GRACE_MS, sweepIntervalFromEnv } from '../store/blob-sweep.ts';
import { runsSingleThreadedGc } from './gc-relaunch.mjs';
import type { Command } from './main.ts';

const HELP = `Usage: claimlens serve [--port N] [--host H] [--data DIR] [--policy FILE] [--workers N]
                       [--upload-validation structural|full] [--no-demo]

Starts the claims API (with /docs), the job runner and the analysis worker pool.
  --port N        port (default 8080; 0 = any free port)
  --host H        interface (default 127.0.0.1)
  --data DIR      data folder (default ./.claimlens or $CLAIMLENS_DATA)
  --policy FILE   review policy rules (JSON); validated at start
  --workers N     analysis worker threads (default: one per core)
  --upload-validation structural|full
                  the check an upload passes before its 202: structural (default; the
                  file's structure, no decode) or full (a decode; slower)
  --no-demo       do not create the demo tenant and claims
Environment: DATABASE_URL (PostgreSQL instead of embedded PGlite), S3_BUCKET, S3_ENDPOINT,
S3_REGION (blobs in S3), CLAIMLENS_POLICY (policy file), CLAIMLENS_UPLOAD_VALIDATION,
CLAIMLENS_GC=single|parallel (V8's garbage collector; default single-threaded on 2 cores or
fewer, where it measured faster: serve then starts node again without V8's GC helper threads,
sweeping apart).`;

export const command: Command = {
  summary: 'start the claims API, workers and demo data',
  async run(args) {
    const { values } = parse(
      args,
      {
        port: { type: 'string' },
        host: { type: 'string' },
        data: { type: 'string' },
        policy: { type: 'string' },
        workers: { type: 'string' },
        'upload-validation': { type: 'string' },
        'no-demo': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      false,
    );
    if (values.help) {
      process.stdout.write(HELP + '\n');
      return 0;
    }
    const port = parsePort(values.port);
    const workers = values.workers === undefined ? undefined : Number(values.workers);
    if (workers !== undefined && (!Number.isInteger(workers) || workers < 1 || workers > 256)) throw new UsageError('--workers must be a whole number ≥ 1');
    const uploadValidation = values['upload-validation'] as string | undefined;
    if (uploadValidation !== undefined && uploadValidation !== 'structural' && uploadValidation !== 'full') {
      throw new UsageError(`--upload-validation must be structural or full, not '${uploadValidation}'`);
    }
    const host = values.host ?? '127.0.0.1';
    let warmUp: ReturnType<typeof warmUpFromEnv>;
    try {
      warmUp = warmUpFromEnv();
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    let blobSweepIntervalMs: number;
    try {
      blobSweepIntervalMs = sweepIntervalFromEnv();
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    // Every setting is checked here, before the data folder is made or locked: a bad one is
    // refused with exit code 2 and leaves nothing behind.
    let envSettings: ReturnType<typeof runtimeSettingsFromEnv>;
    try {
      envSettings = runtimeSettingsFromEnv(process.env, { uploadValidation });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const settings = dataSettings(values.data);
    const policyFile = values.policy ?? process.env.CLAIMLENS_POLICY;
    if (policyFile && !existsSync(policyFile)) throw new UsageError(`policy file not found: ${policyFile}`);
    let policy: Policy | undefined;
    try {
      policy = policyFile ? loadPolicyFile(policyFile) : undefined;
    } catch (e) {
      if (!(e instanceof PolicyError)) throw e;
      process.stderr.write(`claimlens serve: bad policy: ${e.message}\n`);
      return 2;
    }

    let release = () => {};
    if (!settings.databaseUrl) {
      const { server: running, stalePid } = await findServer(settings.dataDir);
      if (running) {
        process.stderr.write(`claimlens serve: a server already runs on ${settings.dataDir} (pid ${running.pid}, ${running.url})\n`);
        return 1;
      }
      // DataDirBusyError (exit 1) and DataDirUnusableError (exit 2) are reported by src/cli/main.ts.
      release = lockDataDir(settings.dataDir, { create: true, stalePid });
    }
    let rt: Runtime;
    const adminToken = newAdminToken();
    try {
      rt = await startRuntime({
        ...settings,
        policy,
        poolSize: workers,
        adminToken,
        ...envSettings,
        warmUp,
        blobSweepIntervalMs,
        service: { onBlobSweep: (r) => process.stdout.write(`blob sweep: ${r.orphans} orphans, ${r.removed} removed (${r.bytesFreed} bytes), ${r.tempFilesRemoved} stale temp files removed; ${r.referenced} named blobs kept\n`) },
      });
    } catch (e) {
      release();
      throw e;
    }
    // From here on the runtime holds threads and the database, and server.json may be out:
    // whatever fails before the banner (the port taken, the demo) closes them all again, so
    // no lock or server.json is left behind to mislead the next command.
    let pub: { unpublish: () => void } | undefined;
    let url: string;
    let demo: Awaited<ReturnType<typeof seedDemo>> | undefined;
    try {
      try {
        url = await rt.listen(port, host);
      } catch (e) {
        const why = listenError(e, port, host);
        if (!why) throw e;
        process.stderr.write(`claimlens serve: ${why}\n`);
        await rt.close();
        release();
        return 1;
      }
      const adminBase = url.replace(/\/\/[^:/]+(:\d+)/, '//127.0.0.1$1');
      pub = publishServer(settings.dataDir, adminBase, adminToken);
      if (!values['no-demo']) demo = await seedDemo(rt.service, settings.dataDir);
    } catch (e) {
      pub?.unpublish();
      await rt.close().catch(() => {});
      release();
      throw e;
    }
    const demoKeys = demo?.keys;

    const lines = [
      `claimlens is running at ${url}`,
      `  console:    ${url}/console/`,
      `  API docs:   ${url}/docs`,
      `  OpenAPI:    ${url}/openapi.json`,
      `  storage:    ${settings.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `PGlite in ${join(settings.dataDir, 'pgdata')}`}; blobs ${rt.store.blobs.kind === 's3' ? 'in S3' : `in ${join(settings.dataDir, 'blobs')}`}`,
      `  workers:    ${rt.pool?.size ?? 0} analysis threads`,
      `  warm-up:    ${rt.warmUpReport ? `${rt.warmUpReport.ms} ms, ${rt.warmUpReport.requests} submissions and ${rt.warmUpReport.groups} rolled-back group writes before listening${rt.warmUpReport.error ? ` (stopped early: ${rt.warmUpReport.error})` : ''}` : 'off (CLAIMLENS_WARMUP_MS=0)'}`,
      `  blob sweep: ${rt.nextBlobSweep ? `orphan uploads older than ${DEFAULT_GRACE_MS / 3_600_000} h removed every ${blobSweepIntervalMs / 3_600_000} h, next at ${rt.nextBlobSweep.toISOString()} (CLAIMLENS_BLOB_SWEEP_HOURS)` : 'not scheduled (CLAIMLENS_BLOB_SWEEP_HOURS=0; `claimlens blobs sweep` by hand)'}`,
      `  GC:         ${runsSingleThreadedGc() ? 'single-threaded (sweeping apart; 2 cores or fewer, or CLAIMLENS_GC=single)' : "V8's default (parallel)"}; ${oldSpaceFloor()}`,
    ];
    if (demoKeys && demo) {
      // A demo key revoked with `keys revoke` stays revoked: it is shown as such, not replaced.
      const show = (role: 'platform' | 'merchant' | 'reviewer') => (demo.revoked.includes(role) ? 'revoked (`claimlens keys create --tenant demo …` for a new key)' : demoKeys[role]);
      lines.push(
        '',
        'Demo keys (tenant "demo"; stored in the data folder, demo only):',
        `  platform  ${show('platform')}`,
        `  merchant  ${show('merchant')}${demo.revoked.includes('merchant') ? '' : '   (merchant "demo-merchant")'}`,
        `  reviewer  ${show('reviewer')}`,
        '',
        demo.revoked.includes('reviewer') ? 'Try: the demo reviewer key is revoked; make one with `claimlens keys create --tenant demo --role reviewer`' : `Try: curl -H "Authorization: Bearer ${demoKeys.reviewer}" ${url}/v1/review-queue`,
      );
    } else if (demo) {
      lines.push('', `Demo: the demo data is there but its keys file ${join(settings.dataDir, 'demo-keys.json')} is gone; \`claimlens keys create --tenant demo …\` makes keys`);
    }
    process.stdout.write(lines.join('\n') + '\n');

    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    process.stdout.write('claimlens: stopping…\n');
    pub.unpublish();
    await rt.close();
    release();
    return 0;
  },
};

/** --port N, else PORT, else 8080: digits only (an empty --port is not 'any port'; that is 0). */
function parsePort(flag: string | undefined): number {
  const [name, text] = flag !== undefined ? ['--port', flag] : ['PORT', process.env.PORT || '8080'];
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 0 && port <= 65535)) throw new UsageError(`${name} must be a port number (0–65535; 0 = any free port), not '${text}'`);
  return port;
}

/** The words for a listen() failure a user can cause (a port in use, a host not of this machine), else undefined. */
function listenError(e: unknown, port: number, host: string): string | undefined {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return `port ${port} is already in use (on ${host}); choose another with --port, or 0 for any free port`;
  if (code === 'EACCES') return `no permission to listen on port ${port} (${host}): ports below 1024 need privileges`;
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot listen on ${host}: not an address of this machine (${code})`;
  return undefined;
}

/** The banner's words for the old-generation floor this node was started with (gc-relaunch.mjs). */
function oldSpaceFloor(): string {
  const flag = process.execArgv.map((a) => /^--initial[-_]old[-_]space[-_]size=(\d+)$/.exec(a)).find((m) => m);
  return flag && flag[1] !== '0' ? `no full collection below ${flag[1]} MB of old generation (CLAIMLENS_GC_OLD_SPACE_MB)` : "V8's own old-generation limit";
}
