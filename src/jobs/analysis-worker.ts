// Runs the forensic engine in a worker thread: photo bytes and reference bytes in,
// ImageReports out. The database stays in the main thread; reuse-index lookups are asked
// of the main thread by message.

import { parentPort } from 'node:worker_threads';
import { analyzeDecoded, errorReport } from '../forensics/engine.ts';
import { intakeImage } from '../forensics/intake.ts';
import type { AnalysisContext, DecodedImage, ImageReport, ReferenceMedia, ReuseMatch } from '../forensics/types.ts';
import { pdqHashImage } from '../forensics/pdq/index.ts';
import { screenshotRegionQueries } from '../forensics/reuse/query-hashes.ts';
import { extractKeyframesFromBytes } from '../forensics/reference/video.ts';

/** Keyframes taken from a packing video as references, and from a video of the damage for analysis. */
const REFERENCE_KEYFRAMES = 12;
const EVIDENCE_KEYFRAMES = 6;
import type { AnalysisResult, AnalysisTask, WorkerReply, WorkerRequest } from './pool.ts';

const port = parentPort!;
let nextReq = 1;
const pendingReuse = new Map<number, (m: ReuseMatch[]) => void>();

async function hashOf(image: DecodedImage): Promise<string | null> {
  try {
    const r = await pdqHashImage(image);
    // Below quality 50 a PDQ hash is too unreliable to compare.
    return r.quality >= 50 ? r.hash : null;
  } catch {
    return null;
  }
}

/** The hash (as is, variant 0) of each photo region inside a screenshot; [] for other photos. */
async function regionHashesOf(image: DecodedImage): Promise<string[]> {
  try {
    return (await screenshotRegionQueries(image)).map((r) => r.hashes[0]!);
  } catch {
    return [];
  }
}

async function run(task: AnalysisTask): Promise<AnalysisResult> {
  const references: ReferenceMedia[] = [];
  const referenceHashes: (string | null)[] = [];
  for (const r of task.references) {
    try {
      if (r.video) {
        // A packing video: its keyframes are the references (ids `<media id>#keyframe-<n>`).
        const frames = await extractKeyframesFromBytes(r.bytes, { maxFrames: REFERENCE_KEYFRAMES });
        for (const f of frames) references.push({ id: `${r.id}#keyframe-${f.index}`, kind: 'video_keyframe', image: f.image });
        referenceHashes.push(task.hashes && frames[0] ? await hashOf(frames[0].image) : null);
        continue;
      }
      const image = await intakeImage(r.bytes, { name: r.filename });
      references.push({ id: r.id, kind: r.kind, image });
      referenceHashes.push(task.hashes ? await hashOf(image) : null);
    } catch {
      // A reference that cannot be read is left out; it was checked at upload.
      referenceHashes.push(null);
    }
  }
  const ctx: AnalysisContext = {
    claimId: task.context.claimId,
    buyerId: task.context.buyerId,
    deliveredAt: task.context.deliveredAt ? new Date(task.context.deliveredAt) : undefined,
    uploadedAt: task.context.uploadedAt ? new Date(task.context.uploadedAt) : undefined,
    references,
  };
  if (task.reuse) {
    ctx.reuse = {
      lookup: (hashes, maxDistance, opts) =>
        new Promise<ReuseMatch[]>((resolve) => {
          const reqId = nextReq++;
          pendingReuse.set(reqId, resolve);
          port.postMessage({ type: 'reuse', taskId: task.id, reqId, hashes, maxDistance, ...(opts ? { opts } : {}) } satisfies WorkerReply);
        }),
    };
  }
  const reports: ImageReport[] = [];
  const hashes: (string | null)[] = [];
  const regionHashes: string[][] = [];
  for (const im of task.images) {
    try {
      if (im.video) {
        // A video of the damage: its keyframes are analysed like photos and the report of the
        // riskiest one stands for the video (named `<file>#keyframe-<n>`; the reviewer sees the video).
        const frames = await extractKeyframesFromBytes(im.bytes, { maxFrames: EVIDENCE_KEYFRAMES });
        let best: { report: ImageReport; image: DecodedImage } | undefined;
        for (const f of frames) {
          const report = await analyzeDecoded(f.image, `${im.file}#keyframe-${f.index}`, ctx);
          if (!best || (report.risk ?? 0) > (best.report.risk ?? 0)) best = { report, image: f.image };
        }
        if (!best) throw new Error('the video yielded no frames');
        reports.push(best.report);
        hashes.push(task.hashes ? await hashOf(best.image) : null);
        regionHashes.push([]);
        continue;
      }
      const image = await intakeImage(im.bytes, { name: im.file, contentType: im.contentType });
      reports.push(await analyzeDecoded(image, im.file, ctx));
      hashes.push(task.hashes ? await hashOf(image) : null);
      regionHashes.push(task.hashes ? await regionHashesOf(image) : []);
    } catch (e) {
      reports.push(errorReport(im.file, e));
      hashes.push(null);
      regionHashes.push([]);
    }
  }
  return { reports, hashes, regionHashes, referenceHashes };
}

port.on('message', (m: WorkerRequest) => {
  if (m.type === 'reuseResult') {
    pendingReuse.get(m.reqId)?.(m.matches);
    pendingReuse.delete(m.reqId);
    return;
  }
  run(m.task).then(
    (result) => port.postMessage({ type: 'done', taskId: m.task.id, result } satisfies WorkerReply),
    (e) => port.postMessage({ type: 'error', taskId: m.task.id, message: e instanceof Error ? e.message : String(e) } satisfies WorkerReply),
  );
});
