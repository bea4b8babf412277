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

export interface AnalyzeOptions extends IntakeOptions {
  context?: AnalysisContext;
  /** Detectors to run; defaults to every registered one. */
  detectors?: readonly Detector[];
}

/** Runs every detector on an already accepted image. Detector failures never escape. */
export async function analyzeDecoded(
  image: DecodedImage,
  file: string,
  context: AnalysisContext = {},
  detectors: readonly Detector[] = DETECTORS,
): Promise<ImageReport> {
  const signals: Signal[] = [];
  const ran: NonNullable<ImageReport['detectors']> = [];
  for (const d of detectors) {
    const t0 = performance.now();
    try {
      const out = await d.run(image, context);
      signals.push(...out);
      ran.push({ id: d.id, version: d.version, ms: Math.round((performance.now() - t0) * 10) / 10 });
    } catch (e) {
      // A detector bug must not lose the claim: record it and go on with the others.
      ran.push({
        id: d.id,
        version: d.version,
        ms: Math.round((performance.now() - t0) * 10) / 10,
        error: e instanceof Error ? e.message : String(e),
      });
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

/** Intake plus analysis of one file's bytes; refused input becomes an `error` entry. */
export async function analyzeBytes(bytes: Uint8Array, file: string, opts: AnalyzeOptions = {}): Promise<ImageReport> {
  let image: DecodedImage;
  try {
    image = await intakeImage(bytes, { name: opts.name ?? file, contentType: opts.contentType, limits: opts.limits });
  } catch (e) {
    return errorReport(file, e);
  }
  return analyzeDecoded(image, file, opts.context, opts.detectors);
}

export function errorReport(file: string, e: unknown): ImageReport {
  if (e instanceof IntakeError) return { file, signals: [], error: { code: e.code, message: e.message } };
  return { file, signals: [], error: { code: 'internal', message: e instanceof Error ? e.message : String(e) } };
}

export function makeReport(images: ImageReport[]): AnalysisReport {
  return { schemaVersion: SCHEMA_VERSION, engine: { name: 'claimlens', version: ENGINE_VERSION }, images };
}
