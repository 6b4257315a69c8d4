// Writes <run>/report.md and <run>/training.svg from the metrics log and the final evaluation.
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ModelSpec } from '../model/index.js';
import { paramCount } from '../model/index.js';
import { UserError } from '../util/errors.js';
import type { RunPosition } from './checkpoint.js';
import { type EvalResult, formatEval } from './evaluate.js';
import { lineChartSvg } from './plot.js';

interface ReportInput {
  spec: ModelSpec;
  hyper: Record<string, unknown>;
  final: EvalResult;
  /** Test evaluation of the raw weights when `final` is of the EMA weights. */
  finalRaw?: EvalResult | null;
  weights?: 'ema' | 'raw';
  metricsPath: string;
  progress: RunPosition;
  command: string;
  /** What `final` was measured on: the test set, or (image folders) the validation split. Default 'test'. */
  finalSet?: 'test' | 'validation';
  /** What the model was trained on, for the plot's title (default CIFAR-10). */
  dataName?: string;
  /** Where the input normalisation came from (e.g. "from the 162 training images"). */
  normalisation?: string;
  /** Markdown lines appended to the report (e.g. what an image folder used and skipped). */
  extra?: string[];
}

/** One line of a run's metrics.jsonl (one per epoch). */
export interface MetricsRow {
  epoch: number;
  train_loss: number;
  train_acc: number;
  test_loss: number | null;
  test_acc: number | null;
  ema_test_acc?: number | null;
  val_acc?: number | null;
  ema_val_acc?: number | null;
  images_per_s: number;
  data_wait_s?: number;
}

/** An accuracy (0..1) as a percentage with two decimals; '-' when there is none. */
export const pct = (x: number | null | undefined): string =>
  x === null || x === undefined ? '-' : `${(100 * x).toFixed(2)}%`;

/** A run's metrics log, a row per epoch (a torn last line, from a run killed while writing it, is left out). */
export async function readMetrics(file: string): Promise<MetricsRow[]> {
  const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim());
  const rows: MetricsRow[] = [];
  lines.forEach((l, i) => {
    try {
      rows.push(JSON.parse(l) as MetricsRow);
    } catch (e) {
      if (i < lines.length - 1) throw new UserError('BAD_METRICS', `${file}:${i + 1} is not a JSON line`, { cause: e });
    }
  });
  return rows;
}

/** Writes <run>/training.svg (loss and accuracy per epoch) from the metrics log; returns the log's rows. */
export async function writeCurve(dir: string, metricsPath: string, data = 'CIFAR-10'): Promise<MetricsRow[]> {
  const rows = await readMetrics(metricsPath);
  const has = (k: keyof MetricsRow) => rows.some((m) => m[k] !== undefined && m[k] !== null);
  const pts = (k: keyof MetricsRow) =>
    rows.filter((m) => m[k] !== undefined && m[k] !== null).map((m) => [m.epoch, m[k] as number] as [number, number]);
  const svg = lineChartSvg(
    `MLP-Mixer on ${data}`,
    [
      { name: 'train loss', color: '#1f77b4', axis: 'left', points: rows.map((m) => [m.epoch, m.train_loss]) },
      {
        name: 'test loss',
        color: '#ff7f0e',
        axis: 'left',
        points: rows.filter((m) => m.test_loss !== null).map((m) => [m.epoch, m.test_loss!]),
      },
      { name: 'train accuracy', color: '#2ca02c', axis: 'right', points: rows.map((m) => [m.epoch, m.train_acc]) },
      {
        name: 'test accuracy',
        color: '#d62728',
        axis: 'right',
        points: rows.filter((m) => m.test_acc !== null).map((m) => [m.epoch, m.test_acc!]),
      },
      ...(has('ema_test_acc')
        ? [{ name: 'EMA test accuracy', color: '#9467bd', axis: 'right' as const, points: pts('ema_test_acc') }]
        : []),
      ...(has('val_acc')
        ? [{ name: 'val accuracy', color: '#8c564b', axis: 'right' as const, points: pts('val_acc') }]
        : []),
      ...(has('ema_val_acc')
        ? [{ name: 'EMA val accuracy', color: '#e377c2', axis: 'right' as const, points: pts('ema_val_acc') }]
        : []),
    ],
    'epoch',
    'loss',
    'accuracy',
  );
  await writeFile(path.join(dir, 'training.svg'), svg);
  return rows;
}

export async function writeReport(dir: string, r: ReportInput): Promise<void> {
  const rows = await writeCurve(dir, r.metricsPath, r.dataName);
  const has = (k: keyof MetricsRow) => rows.some((m) => m[k] !== undefined && m[k] !== null);
  const ips = rows.map((m) => m.images_per_s).sort((a, b) => a - b);
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const md = [
    '# Training report',
    '',
    `**${r.finalSet === 'validation' ? 'Validation' : 'Test'} accuracy: ${(100 * r.final.accuracy).toFixed(2)}%** on ${r.final.count} images after ${rows.length} epochs (${r.progress.step} steps)` +
      (r.finalRaw
        ? ` with the EMA weights (model.onnx); raw weights: ${(100 * r.finalRaw.accuracy).toFixed(2)}%.`
        : '.'),
    '',
    ...(has('val_acc') && r.finalSet !== 'validation'
      ? [
          `Per-epoch evaluation used ${String(r.hyper['valSplit'])} images held out of the training set (the test set only for the figure above); last epoch: val accuracy ${pct(rows.at(-1)!.val_acc)}${has('ema_val_acc') ? `, EMA ${pct(rows.at(-1)!.ema_val_acc)}` : ''}.`,
          '',
        ]
      : []),
    ...(Array.isArray(r.hyper['overrides'])
      ? [
          'Recipe changed on resume (--override): ' +
            (r.hyper['overrides'] as { key: string; checkpoint: unknown; given: unknown; step?: number }[])
              .map(
                (d) => `${d.key} ${JSON.stringify(d.checkpoint)} → ${JSON.stringify(d.given)} at step ${d.step ?? '?'}`,
              )
              .join('; '),
          '',
        ]
      : []),
    `- Wall time: ${(r.progress.wallSeconds / 3600).toFixed(2)} h of training (${Math.round(r.progress.wallSeconds)} s, evaluation excluded)`,
    `- Machine: ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.arch()}, Node ${process.version}`,
    `- Median training throughput: ${ips.length ? ips[Math.floor(ips.length / 2)]!.toFixed(0) : '-'} images/s (first epoch ${rows[0]?.images_per_s.toFixed(0) ?? '-'}, later epochs median ${rows.length > 1 ? median(rows.slice(1).map((m) => m.images_per_s)).toFixed(0) : '-'})`,
    `- Model: ${JSON.stringify(r.spec.config)} (${paramCount(r.spec.config).toLocaleString('en-US')} parameters)`,
    `- Input normalisation (RGB, 0–1): mean ${r.spec.mean.join(', ')}, std ${r.spec.std.join(', ')}${r.normalisation ? ` (${r.normalisation})` : ''}`,
    r.command ? `- Command: \`${r.command}\`` : '',
    '',
    '## Hyperparameters',
    '',
    '| name | value |',
    '|---|---|',
    ...Object.entries(r.hyper).map(([k, v]) => `| ${k} | \`${JSON.stringify(v)}\` |`),
    '',
    '## Curves',
    '',
    '![loss and accuracy](training.svg)',
    '',
    '## Final evaluation',
    '',
    '```',
    formatEval(r.final),
    '```',
    '',
    '## Per epoch',
    '',
    '| epoch | train loss | train acc | test loss | test acc | EMA test acc | val acc | EMA val acc | images/s | data wait s |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (m) =>
        `| ${m.epoch} | ${m.train_loss.toFixed(4)} | ${(100 * m.train_acc).toFixed(2)}% | ${m.test_loss?.toFixed(4) ?? '-'} | ${pct(m.test_acc)} | ${pct(m.ema_test_acc)} | ${pct(m.val_acc)} | ${pct(m.ema_val_acc)} | ${m.images_per_s.toFixed(0)} | ${m.data_wait_s?.toFixed(1) ?? '-'} |`,
    ),
    '',
    ...(r.extra ?? []),
  ];
  await writeFile(path.join(dir, 'report.md'), md.join('\n'));
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
