// Test-accuracy curves of several training runs on one chart, stages chained by epoch offsets, beside reference points.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../util/errors.js';
import { type AccuracyLine, accuracyChartSvg } from './plot.js';
import { type MetricsRow, pct, readMetrics } from './report.js';

/** One run on the chart: its label, its metrics log and how many epochs came before its epoch 1. */
export interface RunSpec {
  label: string;
  file: string;
  offset: number;
}

/** Reference points (another source's published curve): epoch and accuracy in 0..1. */
export interface PointSet {
  label: string;
  points: [number, number][];
}

/** A run's accuracies per total epoch (offset applied): the raw weights', and the EMA's when the log has them. */
export interface RunCurve {
  label: string;
  raw: [number, number][];
  ema: [number, number][];
}

export type CurveSet = 'test' | 'val';

/**
 * `[LABEL=]PATH[:OFFSET]`: PATH is a run folder (its metrics.jsonl) or a metrics log; OFFSET (default 0) is the epochs
 * that came before the run's first (a stage that continues another); LABEL defaults to the folder's name.
 */
export async function parseRunSpec(text: string): Promise<RunSpec> {
  const eq = text.indexOf('=');
  let label = eq > 0 ? text.slice(0, eq) : '';
  let rest = eq > 0 ? text.slice(eq + 1) : text;
  let offset = 0;
  const m = /:(\d+)$/.exec(rest);
  if (m) {
    offset = Number(m[1]);
    rest = rest.slice(0, m.index);
  }
  if (!rest) throw new UserError('BAD_RUN', `"${text}" names no run: give a run folder or a metrics.jsonl`);
  const info = await stat(rest).catch(() => null);
  if (!info) throw new UserError('BAD_RUN', `${rest} does not exist`);
  const file = info.isDirectory() ? path.join(rest, 'metrics.jsonl') : rest;
  if (info.isDirectory() && !(await stat(file).catch(() => null)))
    throw new UserError('BAD_RUN', `${rest} has no metrics.jsonl (is it a training run's --out-dir?)`);
  if (!label) label = path.basename(info.isDirectory() ? path.resolve(rest) : path.dirname(path.resolve(rest)));
  return { label, file, offset };
}

/** A run's curve from its log: rows without the set's accuracy (an epoch not evaluated) are left out. */
export function runCurve(spec: RunSpec, rows: readonly MetricsRow[], set: CurveSet): RunCurve {
  const rawKey = set === 'test' ? 'test_acc' : 'val_acc';
  const emaKey = set === 'test' ? 'ema_test_acc' : 'ema_val_acc';
  const pts = (k: keyof MetricsRow): [number, number][] =>
    rows
      .filter((r) => typeof r[k] === 'number')
      .map((r) => [r.epoch + spec.offset, r[k] as number] as [number, number]);
  return { label: spec.label, raw: pts(rawKey), ema: pts(emaKey) };
}

/**
 * Reference points from a CSV file, a point per line: `epoch,accuracy` (a percentage, or a fraction when every value
 * is at most 1), `#` comments and a header line allowed. `[LABEL=]FILE`; the label defaults to the file's name.
 */
export async function readPoints(text: string): Promise<PointSet> {
  const eq = text.indexOf('=');
  const file = eq > 0 ? text.slice(eq + 1) : text;
  const label = eq > 0 ? text.slice(0, eq) : path.basename(file).replace(/\.[^.]*$/, '');
  const body = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new UserError('BAD_POINTS', `cannot read ${file}: ${e.code ?? e.message}`);
  });
  const points: [number, number][] = [];
  let first = true;
  body.split('\n').forEach((line, i) => {
    const t = line.replace(/#.*/, '').trim();
    if (!t) return;
    const header = first;
    first = false;
    const cells = t.split(',').map((c) => c.trim());
    const [epoch, acc] = [Number(cells[0]), Number(cells[1])];
    if (cells.length < 2 || cells[0] === '' || cells[1] === '' || !Number.isFinite(epoch) || !Number.isFinite(acc)) {
      if (header && cells.every((c) => !/^[-+.\d]/.test(c))) return; // a header line ("epoch,accuracy")
      throw new UserError('BAD_POINTS', `${file}:${i + 1}: expected "epoch,accuracy", got "${t}"`);
    }
    if (epoch < 0 || acc < 0 || acc > 100)
      throw new UserError('BAD_POINTS', `${file}:${i + 1}: epoch ${epoch} or accuracy ${acc} is out of range`);
    points.push([epoch, acc]);
  });
  if (points.length === 0) throw new UserError('BAD_POINTS', `${file} has no "epoch,accuracy" line`);
  const percent = points.some((p) => p[1] > 1);
  return { label, points: points.map(([e, a]) => [e, percent ? a / 100 : a]) };
}

/** The accuracy a curve had at `epoch`: its last point at or before it (null outside the epochs it spans). */
export function valueAt(curve: readonly [number, number][], epoch: number): number | null {
  if (curve.length === 0 || epoch > curve.at(-1)![0]) return null;
  let v: number | null = null;
  for (const [e, a] of curve) if (e <= epoch) v = a;
  return v;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];

/** The chart: each run's EMA curve solid and its raw curve dashed (the raw one alone solid), the points as dots. */
export function curvesSvg(
  title: string,
  runs: readonly RunCurve[],
  refs: readonly PointSet[],
  o: { yMin?: number } = {},
): string {
  const lines: AccuracyLine[] = [];
  runs.forEach((r, i) => {
    const color = COLORS[i % COLORS.length]!;
    if (r.ema.length) lines.push({ name: `${r.label} (EMA)`, color, points: r.ema });
    if (r.raw.length)
      lines.push({ name: r.ema.length ? `${r.label} (raw)` : r.label, color, points: r.raw, dashed: r.ema.length > 0 });
  });
  refs.forEach((p, i) =>
    lines.push({ name: p.label, color: COLORS[(runs.length + i) % COLORS.length]!, points: p.points, dots: true }),
  );
  return accuracyChartSvg(title, lines, 'epoch', o);
}

/** A markdown table: each run's epochs, last and best accuracies, and its accuracy at each reference point's epoch. */
export function curvesTable(runs: readonly RunCurve[], refs: readonly PointSet[]): string {
  const rows = [
    '| run | epochs | last (EMA) | best (EMA) | last (raw) | best (raw) |',
    '|---|---|---:|---:|---:|---:|',
  ];
  const best = (c: readonly [number, number][]) => (c.length ? Math.max(...c.map((p) => p[1])) : null);
  for (const r of runs) {
    const all = [...r.raw, ...r.ema].map((p) => p[0]);
    const span = all.length ? `${Math.min(...all)}–${Math.max(...all)}` : '-';
    rows.push(
      `| ${r.label} | ${span} | ${pct(r.ema.at(-1)?.[1] ?? null)} | ${pct(best(r.ema))} | ${pct(r.raw.at(-1)?.[1] ?? null)} | ${pct(best(r.raw))} |`,
    );
  }
  for (const p of refs) {
    rows.push(
      '',
      `| epoch | ${p.label} | ${runs.map((r) => `${r.label} (${r.ema.length ? 'EMA' : 'raw'})`).join(' | ')} |`,
    );
    rows.push(`|---:|---:|${runs.map(() => '---:').join('|')}|`);
    for (const [e, a] of p.points)
      rows.push(`| ${e} | ${pct(a)} | ${runs.map((r) => pct(valueAt(r.ema.length ? r.ema : r.raw, e))).join(' | ')} |`);
  }
  return rows.join('\n');
}

/** Reads every run's log and the reference points: the chart and the table. */
export async function compareRuns(
  runSpecs: readonly string[],
  pointSpecs: readonly string[],
  set: CurveSet,
  title: string,
  o: { yMin?: number } = {},
): Promise<{ svg: string; table: string; runs: RunCurve[] }> {
  const runs: RunCurve[] = [];
  for (const s of runSpecs) {
    const spec = await parseRunSpec(s);
    const curve = runCurve(spec, await readMetrics(spec.file), set);
    if (!curve.raw.length && !curve.ema.length)
      throw new UserError(
        'BAD_RUN',
        `${spec.file} has no ${set === 'test' ? 'test' : 'validation'} accuracy in any epoch`,
      );
    runs.push(curve);
  }
  const refs = await Promise.all(pointSpecs.map(readPoints));
  return { svg: curvesSvg(title, runs, refs, o), table: curvesTable(runs, refs), runs };
}
