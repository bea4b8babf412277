// A ReuseLookup over an in-memory index with owner details kept beside it: for the CLI,
// tests and small deployments without a database. (The service uses ReuseStore, which keeps
// the details in PostgreSQL instead of one object per hash.)

import type { ReuseLookup, ReuseMatch } from '../types.ts';
import { DEFAULT_MAX_DISTANCE, DEFAULT_MIN_QUALITY, ReuseIndex } from './index.ts';

export type ReuseOwner = ReuseMatch['owner'];

export class MemoryReuseLookup implements ReuseLookup {
  readonly index = new ReuseIndex();
  private readonly owners: ReuseOwner[] = [];
  private readonly hashes: string[] = [];

  constructor(
    readonly maxDistance = DEFAULT_MAX_DISTANCE,
    readonly minQuality = DEFAULT_MIN_QUALITY,
  ) {}

  /** Adds a hash with its owner; returns its id. Hashes below minQuality are refused (false). */
  add(hash: string, owner: ReuseOwner, quality?: number): number | false {
    if (quality !== undefined && quality < this.minQuality) return false;
    const id = this.index.add(hash.toLowerCase());
    this.owners[id] = { ...owner };
    this.hashes[id] = hash.toLowerCase();
    return id;
  }

  remove(id: number): boolean {
    return this.index.remove(id);
  }

  lookup(hashes: string[], maxDistance: number = this.maxDistance): ReuseMatch[] {
    return this.index.search(hashes, maxDistance).map((m) => ({
      owner: { ...this.owners[m.id]! },
      distance: m.distance,
      variant: m.variant,
      hash: this.hashes[m.id]!,
      entryId: m.id,
    }));
  }
}
