// Runs the upload check (validateImage: sniffing, limits, a complete decode of JPEG/WebP at
// half scale, intakeImage for the other formats) in a worker thread and sends back only
// what the API stores: the decode's pixel buffers and their garbage stay here. The full
// intake runs again in the background analysis.

import { parentPort } from 'node:worker_threads';
import { IntakeError } from '../forensics/errors.ts';
import { validateImage, type IntakeLimits } from '../forensics/intake.ts';
import type { IntakeReply, IntakeRequest } from './intake-pool.ts';

const port = parentPort!;
port.on('message', async (m: IntakeRequest) => {
  try {
    const im = await validateImage(m.bytes, { name: m.name, contentType: m.contentType, limits: m.limits as Partial<IntakeLimits> });
    port.postMessage({ id: m.id, ok: true, sha256: im.sha256, width: im.width, height: im.height, format: im.format } satisfies IntakeReply);
  } catch (e) {
    if (e instanceof IntakeError) port.postMessage({ id: m.id, ok: false, intake: true, code: e.code, message: e.message } satisfies IntakeReply);
    else port.postMessage({ id: m.id, ok: false, intake: false, code: 'internal', message: e instanceof Error ? e.message : String(e) } satisfies IntakeReply);
  }
});
