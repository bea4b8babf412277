// Row ids: a prefix naming the kind of row and 96 random bits. In a module of its own so that
// code running on the database thread (submit-write.ts) can make ids without loading the service.

import { randomBytes } from 'node:crypto';

export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}
