// `claimlens blobs sweep [--data DIR] [--grace DURATION] [--dry-run] [--json]`: removes stored
// blobs that no row names (uploads whose request was refused or cut off before its commit)
// and temp files a crash left, once older than the grace period (src/store/blob-sweep.ts).
// While `claimlens serve` holds a PGlite data folder, the sweep runs in that server
// (/admin/blobs/sweep); otherwise here, on the folder, or on DATABASE_URL and the S3 settings.

import { adminCall } from '../http/admin.ts';
import { DEFAULT_GRACE_MS, MIN_GRACE_MS, parseDuration, sweepOrphanBlobs, type BlobSweepReport } from '../store/blob-sweep.ts';
import { parse, UsageError } from './args.ts';
import { dataSettings, onDataFolder } from './local-store.ts';
import type { Command } from './main.ts';

const HELP = `Usage: claimlens blobs sweep [--data DIR] [--grace DURATION] [--dry-run] [--json]

Removes stored blobs (uploaded photos and videos) that no claim, order, reference or response
names: uploads whose request was refused or cut off before it was saved. Only blobs written
more than the grace period ago are removed (default 1h; at least 1m; e.g. 30m, 6h, 1d), so an
upload still on its way is never touched. Temp files of writes a crash cut off go too.
--dry-run reports what would be removed and removes nothing. Exit code 0.`;

export const command: Command = {
  summary: 'remove stored blobs that nothing names',
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === '--help' || sub === '-h' || sub === undefined) {
      process.stdout.write(HELP + '\n');
      return sub === undefined ? 2 : 0;
    }
    if (sub !== 'sweep') throw new UsageError(`unknown subcommand '${sub}' (expected: sweep)`);
    const { values } = parse(rest, { data: { type: 'string' }, grace: { type: 'string' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' } }, false);
    let graceMs = DEFAULT_GRACE_MS;
    if (values.grace !== undefined) {
      try {
        graceMs = parseDuration(values.grace);
      } catch (e) {
        throw new UsageError(`--grace: ${(e as Error).message}`);
      }
      if (graceMs < MIN_GRACE_MS) throw new UsageError(`--grace must be at least ${MIN_GRACE_MS / 60_000}m: an upload on its way to its commit must not be swept`);
    }
    const opts = { graceMs, dryRun: values['dry-run'] ?? false };
    const r: BlobSweepReport = await onDataFolder(
      dataSettings(values.data),
      (server) => adminCall(server, 'POST', '/admin/blobs/sweep', opts),
      (store) => sweepOrphanBlobs(store.db, store.blobs, opts),
    );
    if (values.json) {
      process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      return 0;
    }
    const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
    process.stdout.write(
      [
        `${r.dryRun ? 'dry run: ' : ''}${r.scanned} blobs stored; ${r.recent} written in the last ${graceMs / 60_000} min (left alone); ${r.referenced} named by a row (kept)`,
        `${r.orphans} orphans (${mb(r.orphanBytes)}): ${r.dryRun ? 'none removed' : `${r.removed} removed (${mb(r.bytesFreed)})${r.removed < r.orphans ? `, ${r.orphans - r.removed} written again meanwhile or already gone (kept)` : ''}`}`,
        ...(r.dryRun ? [] : [`${r.tempFilesRemoved} stale temp files removed (${mb(r.tempBytesFreed)})`]),
      ].join('\n') + '\n',
    );
    return 0;
  },
};
