// The forensic engine's entry point: bytes (plus optional claim context) in, an
// explainable report out. Pure with respect to the outside world: no storage, no network.

import { performance } from 'node:perf_hooks';
import { IntakeError } from './errors.ts';
import { intakeImage, type IntakeOptions } from './intake.ts';
import { DETECTORS } from './registry.ts';
import { combineRisk, imageVerdict } from './risk.ts';
import type { AnalysisContext, AnalysisReport, DecodedImage, Detector, ImageReport, Signal } from './types.ts';

export const ENGINE_VERSION = '0.1.0';
export const SCHEMA_VERSION = '1.0' as const;

/** A detector that has not answered after this long is abandoned (its signals are missing). */
export const DEFAULT_DETECTOR_TIMEOUT_MS = 60_000;

export interface AnalyzeOptions extends IntakeOptions {
  context?: AnalysisContext;
  /** Detectors to run; defaults to every registered one. */
  detectors?: readonly Detector[];
  /** Per-detector time limit, ms (default DEFAULT_DETECTOR_TIMEOUT_MS). */
  detectorTimeoutMs?: number;
}

/**
 * Runs every detector on an already accepted image. Detector failures never escape: a
 * detector that throws, rejects, does not answer within the time limit or returns a
 * malformed signal is recorded in `detectors[].error` and the others still count. (A
 * detector that blocks the event loop synchronously cannot be interrupted from here;
 * the fuzz test guards against those.)
 */
export async function analyzeDecoded(
  image: DecodedImage,
  file: string,
  context: AnalysisContext = {},
  detectors: readonly Detector[] = DETECTORS,
  options: { detectorTimeoutMs?: number } = {},
): Promise<ImageReport> {
  const timeoutMs = options.detectorTimeoutMs ?? DEFAULT_DETECTOR_TIMEOUT_MS;
  const signals: Signal[] = [];
  const ran: NonNullable<ImageReport['detectors']> = [];
  for (const d of detectors) {
    const t0 = performance.now();
    const ms = () => Math.round((performance.now() - t0) * 10) / 10;
    try {
      const out = await runWithTimeout(d, image, context, timeoutMs);
      if (!Array.isArray(out)) throw new Error(`run() returned ${typeof out}, not an array of signals`);
      const bad = out.map(signalProblem).find((p) => p !== undefined);
      if (bad) throw new Error(`returned a malformed signal: ${bad}`);
      signals.push(...out);
      ran.push({ id: d.id, version: d.version, ms: ms() });
    } catch (e) {
      // A detector bug must not lose the claim: record it and go on with the others.
      ran.push({ id: d.id, version: d.version, ms: ms(), error: e instanceof Error ? e.message : String(e) });
    }
  }
  const risk = combineRisk(signals);
  return {
    file,
    sha256: image.sha256,
    width: image.width,
    height: image.height,
    format: image.format,
    risk,
    verdict: imageVerdict(signals, risk),
    signals,
    detectors: ran,
  };
}

async function runWithTimeout(d: Detector, image: DecodedImage, context: AnalysisContext, timeoutMs: number): Promise<Signal[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms; abandoned`)), timeoutMs);
  });
  try {
    // Promise.resolve().then: a synchronous throw becomes a rejection like any other.
    return await Promise.race([Promise.resolve().then(() => d.run(image, context)), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const SIGNAL_VERDICTS: ReadonlySet<string> = new Set(['tampered', 'ai_generated', 'suspicious', 'info']);
const SIGNAL_ID = /^[a-z0-9_]+(\.[a-z0-9_]+)+$/;

/** Why a signal breaks the report contract (schema/analyze-report.v1.json), or undefined. */
export function signalProblem(s: unknown): string | undefined {
  if (!s || typeof s !== 'object') return 'not an object';
  const x = s as Partial<Signal>;
  if (typeof x.id !== 'string' || !SIGNAL_ID.test(x.id)) return `id ${JSON.stringify(x.id)} is not a dotted id`;
  if (typeof x.verdict !== 'string' || !SIGNAL_VERDICTS.has(x.verdict)) return `${x.id}: verdict ${JSON.stringify(x.verdict)}`;
  for (const k of ['score', 'confidence'] as const) {
    const v = x[k];
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) return `${x.id}: ${k} ${String(v)} is not within 0–1`;
  }
  if (!x.summary || typeof x.summary.en !== 'string' || typeof x.summary.zh !== 'string' || !x.summary.en || !x.summary.zh) {
    return `${x.id}: summary needs en and zh text`;
  }
  if (!x.evidence || typeof x.evidence !== 'object') return `${x.id}: evidence is not an object`;
  return undefined;
}

/** Intake plus analysis of one file's bytes; refused input becomes an `error` entry. */
export async function analyzeBytes(bytes: Uint8Array, file: string, opts: AnalyzeOptions = {}): Promise<ImageReport> {
  let image: DecodedImage;
  try {
    image = await intakeImage(bytes, { name: opts.name ?? file, contentType: opts.contentType, limits: opts.limits });
  } catch (e) {
    return errorReport(file, e);
  }
  return analyzeDecoded(image, file, opts.context, opts.detectors, { detectorTimeoutMs: opts.detectorTimeoutMs });
}

export function errorReport(file: string, e: unknown): ImageReport {
  if (e instanceof IntakeError) return { file, signals: [], error: { code: e.code, message: e.message } };
  return { file, signals: [], error: { code: 'internal', message: e instanceof Error ? e.message : String(e) } };
}

export function makeReport(images: ImageReport[]): AnalysisReport {
  return { schemaVersion: SCHEMA_VERSION, engine: { name: 'claimlens', version: ENGINE_VERSION }, images };
}
