// Writes <run>/report.md and <run>/training.svg from the metrics log and the final evaluation.
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ModelSpec } from '../model/index.js';
import { paramCount } from '../model/index.js';
import type { Progress } from './checkpoint.js';
import { type EvalResult, formatEval } from './evaluate.js';
import { lineChartSvg } from './plot.js';

interface ReportInput {
  spec: ModelSpec;
  hyper: Record<string, unknown>;
  final: EvalResult;
  metricsPath: string;
  progress: Progress;
  command: string;
  /** Markdown lines appended to the report (e.g. what an image folder used and skipped). */
  extra?: string[];
}

export async function writeReport(dir: string, r: ReportInput): Promise<void> {
  const rows = (await readFile(r.metricsPath, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { epoch: number; train_loss: number; train_acc: number; test_loss: number | null; test_acc: number | null; images_per_s: number });
  const svg = lineChartSvg(
    'MLP-Mixer on CIFAR-10',
    [
      { name: 'train loss', color: '#1f77b4', axis: 'left', points: rows.map((m) => [m.epoch, m.train_loss]) },
      { name: 'test loss', color: '#ff7f0e', axis: 'left', points: rows.filter((m) => m.test_loss !== null).map((m) => [m.epoch, m.test_loss!]) },
      { name: 'train accuracy', color: '#2ca02c', axis: 'right', points: rows.map((m) => [m.epoch, m.train_acc]) },
      { name: 'test accuracy', color: '#d62728', axis: 'right', points: rows.filter((m) => m.test_acc !== null).map((m) => [m.epoch, m.test_acc!]) },
    ],
    'epoch',
    'loss',
    'accuracy',
  );
  await writeFile(path.join(dir, 'training.svg'), svg);
  const ips = rows.map((m) => m.images_per_s).sort((a, b) => a - b);
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const md = [
    '# Training report',
    '',
    `**Test accuracy: ${(100 * r.final.accuracy).toFixed(2)}%** on ${r.final.count} images after ${rows.length} epochs (${r.progress.step} steps).`,
    '',
    `- Wall time: ${(r.progress.wallSeconds / 3600).toFixed(2)} h of training (${Math.round(r.progress.wallSeconds)} s, evaluation excluded)`,
    `- Machine: ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.arch()}, Node ${process.version}`,
    `- Median training throughput: ${ips.length ? ips[Math.floor(ips.length / 2)]!.toFixed(0) : '-'} images/s (first epoch ${rows[0]?.images_per_s.toFixed(0) ?? '-'}, later epochs median ${rows.length > 1 ? median(rows.slice(1).map((m) => m.images_per_s)).toFixed(0) : '-'})`,
    `- Model: ${JSON.stringify(r.spec.config)} (${paramCount(r.spec.config).toLocaleString('en-US')} parameters)`,
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
    '| epoch | train loss | train acc | test loss | test acc | images/s |',
    '|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (m) =>
        `| ${m.epoch} | ${m.train_loss.toFixed(4)} | ${(100 * m.train_acc).toFixed(2)}% | ${m.test_loss?.toFixed(4) ?? '-'} | ${m.test_acc === null ? '-' : (100 * m.test_acc).toFixed(2) + '%'} | ${m.images_per_s.toFixed(0)} |`,
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
