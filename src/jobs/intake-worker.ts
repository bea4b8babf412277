// Runs the upload check in a worker thread — 'structural' (validateStructure: no decode) or
// 'full' (validateImage: a complete decode of JPEG/WebP at half scale, intakeImage for the
// other formats) — together with the upload's SHA-256, and sends back only what the API
// stores. With a blob placement it also writes the upload into the file-system blob store.
// The full intake runs again in the background analysis.

import { parentPort } from 'node:worker_threads';
import { IntakeError } from '../forensics/errors.ts';
import type { IntakeLimits } from '../forensics/intake.ts';
import { validateUpload } from '../forensics/structure.ts';
import { writeBlobFileSync } from '../store/blobs.ts';
import type { IntakeReply, IntakeRequest } from './intake-pool.ts';

const port = parentPort!;
port.on('message', async (m: IntakeRequest) => {
  try {
    const im = await validateUpload(m.bytes, { name: m.name, contentType: m.contentType, limits: m.limits as Partial<IntakeLimits> }, m.mode);
    const reply: IntakeReply = { id: m.id, ok: true, sha256: im.sha256, width: im.width, height: im.height, format: im.format };
    if (m.blob) {
      // Checked and hashed: write it here too, so the serving thread does no file work for it.
      const tmp = writeBlobFileSync(m.blob, m.bytes, im.sha256, m.blob.place);
      if (tmp) reply.tmpPath = tmp;
      else reply.stored = true;
      // Stored (or left as a temp file to be named): the caller needs only the summary, and
      // not sending the 300 KB back spares the serving thread's heap an external allocation
      // that would bring its next garbage collection nearer.
      port.postMessage(reply);
      return;
    }
    // the bytes were moved here; move them back
    reply.bytes = m.bytes;
    port.postMessage(reply, [m.bytes.buffer as ArrayBuffer]);
  } catch (e) {
    if (e instanceof IntakeError) port.postMessage({ id: m.id, ok: false, intake: true, code: e.code, message: e.message } satisfies IntakeReply);
    else port.postMessage({ id: m.id, ok: false, intake: false, code: 'internal', message: e instanceof Error ? e.message : String(e) } satisfies IntakeReply);
  }
});
