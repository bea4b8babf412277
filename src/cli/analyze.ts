// `claimlens analyze FILE... [--delivered-at ISO] [--reference REF ...] [--json] [--out DIR]`
// Human output: a table per image; --json: one AnalysisReport document on stdout.
// Exit code 0 when every file was analysed (whatever the verdicts), 1 when any could not be.

import { access, constants, mkdir, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import picocolors from 'picocolors';
import cliProgress from 'cli-progress';
import { analyzeDecoded, errorReport, makeReport } from '../forensics/engine.ts';
import { intakeImage } from '../forensics/intake.ts';
import { loadReferences } from '../forensics/references.ts';
import type { AnalysisContext, AnalysisReport, ImageReport, Signal } from '../forensics/types.ts';
import { UsageError, parse, pickLang } from './args.ts';
import type { Command } from './main.ts';
import { readInputFile } from './input-file.ts';

const HELP = `Usage: claimlens analyze FILE... [options]

Analyses claim photos and reports signs of AI generation or editing, with reasons.

Options:
  --delivered-at ISO   when the order was delivered (capture before it is odd)
  --reference REF      merchant reference photo, video or folder (repeatable)
  --json               print one JSON document (schema/analyze-report.v1.json)
  --out DIR            write report.json, report.md and heatmaps to DIR
  --lang en|zh         language of the human output (default from LANG)
  -h, --help           this help

Exit code: 0 when every file was analysed, 1 when any could not be, 2 for bad usage
(a --reference that does not exist, or references of which none could be used).`;

/**
 * Colour only where a person looks at a terminal: stdout is a TTY (and not TERM=dumb),
 * unless NO_COLOR says no or FORCE_COLOR says yes. picocolors alone also colours piped
 * output whenever CI is set, which would put escape codes into files and pipes.
 */
export function colourWanted(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false') return true;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}
const pc = picocolors.createColors(colourWanted(process.stdout));

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * An ISO 8601 date or date-time (`2025-06-01`, `2025-06-01T14:30:00+08:00`), or undefined.
 * Stricter than `new Date()`, which also takes '1' or 'June 1' and guesses.
 */
export function parseIsoDate(text: string): Date | undefined {
  if (!ISO_DATE.test(text.trim())) return undefined;
  const d = new Date(text.trim());
  if (Number.isNaN(d.getTime())) return undefined;
  // Reject dates JavaScript rolls over (2025-02-30 → March 2).
  const [y, m, day] = text.trim().slice(0, 10).split('-').map(Number) as [number, number, number];
  const check = new Date(Date.UTC(y, m - 1, day));
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== m - 1 || check.getUTCDate() !== day) return undefined;
  return d;
}

export const command: Command = {
  summary: 'analyse claim photos and explain what was found',
  async run(args) {
    const { values, positionals } = parse(args, {
      'delivered-at': { type: 'string' },
      reference: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      out: { type: 'string' },
      lang: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      process.stdout.write(HELP + '\n');
      return 0;
    }
    if (positionals.length === 0) throw new UsageError('no FILE given\n\n' + HELP);
    if (values.out !== undefined) {
      // Checked before the analysis, so a typo in --out does not cost a long run.
      try {
        await mkdir(values.out, { recursive: true });
        await access(values.out, constants.W_OK);
      } catch (e) {
        throw new UsageError(`--out ${values.out}: cannot write there (${(e as Error).message})`);
      }
    }
    const lang = pickLang(values.lang);
    const context: AnalysisContext = { uploadedAt: new Date() };
    if (values['delivered-at'] !== undefined) {
      const d = parseIsoDate(values['delivered-at']);
      if (!d) throw new UsageError(`--delivered-at is not an ISO date: '${values['delivered-at']}'`);
      context.deliveredAt = d;
    }
    if (values.reference?.length) {
      const refs = await loadReferences(values.reference);
      // A reference path that is not there is a mistyped argument: analysing without it would
      // report "no sign of a derived photo" for a comparison that never ran. The same when
      // nothing given could be used. One unusable file among usable ones is only a warning.
      const missing = refs.problems.find((p) => p.named);
      if (missing) throw new UsageError(`--reference ${missing.path}: ${missing.message}`);
      if (refs.references.length === 0) {
        const why = refs.problems.map((p) => `${p.path}: ${p.message}`).join('; ');
        throw new UsageError(`--reference: no usable reference photo or video in ${values.reference.join(', ')}${why ? ` (${why})` : ''}`);
      }
      for (const problem of refs.problems) process.stderr.write(pc.yellow(`warning: reference ${problem.path}: ${problem.message}\n`));
      context.references = refs.references;
    }

    const showProgress = !values.json && positionals.length > 1 && process.stderr.isTTY;
    const bar = showProgress
      ? new cliProgress.SingleBar({ format: ' {bar} {value}/{total} {file}', stream: process.stderr, clearOnComplete: true }, cliProgress.Presets.shades_classic)
      : undefined;
    bar?.start(positionals.length, 0, { file: '' });
    const images: ImageReport[] = [];
    for (const file of positionals) {
      bar?.update(images.length, { file: basename(file) });
      images.push(await analyzeFile(file, context));
    }
    bar?.update(images.length, { file: '' });
    bar?.stop();
    const report = makeReport(images);

    if (values.out) await writeOutDir(values.out, report);
    if (values.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else process.stdout.write(formatHuman(report, lang));
    return images.some((i) => i.error) ? 1 : 0;
  },
};

async function analyzeFile(file: string, context: AnalysisContext): Promise<ImageReport> {
  const input = await readInputFile(file);
  if (input.error) return { file, signals: [], error: input.error };
  const bytes = input.bytes;
  try {
    const image = await intakeImage(bytes, { name: file });
    return await analyzeDecoded(image, file, context);
  } catch (e) {
    return errorReport(file, e);
  }
}

const VERDICT_COLOUR: Record<string, (s: string) => string> = {
  clean: pc.green,
  suspicious: pc.yellow,
  tampered: pc.red,
  ai_generated: pc.magenta,
  info: pc.dim,
};

const VERDICT_ZH: Record<string, string> = {
  clean: '未见异常',
  suspicious: '可疑',
  tampered: '疑似篡改',
  ai_generated: '疑似AI生成',
  info: '信息',
};

function verdictLabel(v: string, lang: 'en' | 'zh'): string {
  const text = lang === 'zh' ? VERDICT_ZH[v] ?? v : v;
  return (VERDICT_COLOUR[v] ?? ((s: string) => s))(text);
}

export function formatHuman(report: AnalysisReport, lang: 'en' | 'zh'): string {
  const lines: string[] = [];
  for (const img of report.images) {
    lines.push(pc.bold(img.file));
    if (img.error) {
      lines.push(`  ${pc.red(lang === 'zh' ? '无法分析' : 'not analysed')}: ${img.error.code} — ${img.error.message}`);
      lines.push('');
      continue;
    }
    const risk = `${Math.round((img.risk ?? 0) * 100)}%`;
    lines.push(
      `  ${lang === 'zh' ? '结论' : 'verdict'}: ${verdictLabel(img.verdict ?? 'clean', lang)}   ${lang === 'zh' ? '风险' : 'risk'}: ${risk}   ${img.format?.toUpperCase()} ${img.width}×${img.height}`,
    );
    const rows = [...img.signals].sort(bySeverity);
    if (rows.length === 0) lines.push(`  ${pc.dim(lang === 'zh' ? '（无信号）' : '(no signals)')}`);
    const idWidth = Math.max(8, ...rows.map((s) => s.id.length));
    for (const s of rows) {
      const score = `${Math.round(s.score * 100)}%`.padStart(4);
      const v = verdictLabel(s.verdict, lang);
      const pad = ' '.repeat(Math.max(0, 12 - (lang === 'zh' ? (VERDICT_ZH[s.verdict]?.length ?? 0) * 2 : s.verdict.length)));
      lines.push(`  ${s.id.padEnd(idWidth)}  ${v}${pad} ${score}  ${s.summary[lang]}`);
      const nRegions = s.evidence.regions?.length ?? 0;
      if (nRegions) lines.push(`  ${' '.repeat(idWidth)}  ${pc.dim(lang === 'zh' ? `区域 ${nRegions} 处` : `${nRegions} region(s)`)}`);
    }
    lines.push('');
  }
  const failed = report.images.filter((i) => i.error).length;
  lines.push(
    lang === 'zh'
      ? `共 ${report.images.length} 个文件，${report.images.length - failed} 个已分析，${failed} 个无法分析。`
      : `${report.images.length} file(s), ${report.images.length - failed} analysed, ${failed} not analysed.`,
  );
  return lines.join('\n') + '\n';
}

const SEVERITY: Record<string, number> = { ai_generated: 0, tampered: 1, suspicious: 2, info: 3 };
function bySeverity(a: Signal, b: Signal): number {
  return (SEVERITY[a.verdict] ?? 9) - (SEVERITY[b.verdict] ?? 9) || b.score * b.confidence - a.score * a.confidence;
}

/** Writes report.json, report.md (both languages) and each heatmap as a PNG file. */
export async function writeOutDir(dir: string, report: AnalysisReport): Promise<void> {
  await mkdir(dir, { recursive: true });
  const md: string[] = ['# claimlens report', ''];
  for (const [i, img] of report.images.entries()) {
    const stem = `${String(i + 1).padStart(3, '0')}-${basename(img.file, extname(img.file)).replace(/[^\w.-]+/g, '_')}`;
    md.push(`## ${img.file}`, '');
    if (img.error) {
      md.push(`Not analysed / 无法分析: \`${img.error.code}\` — ${img.error.message}`, '');
      continue;
    }
    md.push(`- verdict / 结论: **${img.verdict}** (${VERDICT_ZH[img.verdict ?? 'clean']}), risk / 风险: ${img.risk}`);
    md.push(`- ${img.format} ${img.width}×${img.height}, sha256 \`${img.sha256}\``, '');
    for (const s of img.signals) {
      md.push(`### \`${s.id}\` — ${s.verdict} (score ${s.score}, confidence ${s.confidence})`, '');
      md.push(`- ${s.summary.en}`, `- ${s.summary.zh}`);
      if (s.why) md.push(`- Why it matters: ${s.why.en}`, `- 意义：${s.why.zh}`);
      for (const r of s.evidence.regions ?? []) md.push(`- region / 区域: x=${r.x} y=${r.y} w=${r.width} h=${r.height}${r.label ? ` (${r.label})` : ''}`);
      if (s.evidence.heatmap) {
        const name = `${stem}.${s.id}.heatmap.png`;
        await writeFile(join(dir, name), Buffer.from(s.evidence.heatmap.data, 'base64'));
        md.push(`- heatmap / 热力图: ![${s.id}](${name})`);
      }
      md.push('');
    }
  }
  await writeFile(join(dir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  await writeFile(join(dir, 'report.md'), md.join('\n') + '\n');
}

