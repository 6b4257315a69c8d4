// One-line summaries the trainer prints (model size and cost, throughput) and the report's data section.
import path from 'node:path';
import type { FolderReport } from '../data/folder.js';
import { forwardMacs, type ModelSpec, numTokens, paramCount, paramTable } from '../model/index.js';

const n = (x: number): string => x.toLocaleString('en-US');

/** Shape, parameter count (trainable when some are frozen) and forward FLOPs per image. */
export function modelSummary(spec: ModelSpec, frozen: ReadonlySet<string>): string {
  const c = spec.config;
  const total = paramCount(c);
  const fixed = paramTable(c)
    .filter((p) => frozen.has(p.name))
    .reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
  const flops = 2 * forwardMacs(c);
  return (
    `model: ${c.image_size}×${c.image_size} input, patch ${c.patch_size} (${numTokens(c)} tokens), hidden ${c.hidden_dim}, depth ${c.depth}, ` +
    `tokens-mlp ${c.tokens_mlp_dim}, channels-mlp ${c.channels_mlp_dim}, ${c.num_classes} classes: ${n(total)} parameters` +
    (fixed > 0 ? ` (${n(total - fixed)} trainable, ${n(fixed)} frozen)` : '') +
    `, ${(flops / 1e6).toFixed(1)} MFLOPs per image forward`
  );
}

/** Images/s of the first epoch (ORT warm-up, cold page cache) and the median of the later ones. */
export function throughputLine(history: readonly { images_per_s: number }[]): string {
  if (history.length === 0) return 'throughput: no complete epoch';
  const later = history
    .slice(1)
    .map((h) => h.images_per_s)
    .sort((a, b) => a - b);
  return (
    `throughput: first epoch ${history[0]!.images_per_s.toFixed(0)} images/s` +
    (later.length
      ? `, later epochs ${later[Math.floor(later.length / 2)]!.toFixed(0)} images/s (median of ${later.length})`
      : '')
  );
}

/** The report's "Data" section for an image folder (nothing for other sources). */
export function dataReportLines(r: FolderReport | undefined): string[] {
  if (!r) return [];
  const lines = [
    '## Data',
    '',
    `Image folder \`${r.name}\` (sha256 of its file list and sizes: \`${r.sha256.slice(0, 16)}\`): decoded in ${r.decodeSeconds.toFixed(2)} s on ${r.threads} worker threads ` +
      `(${r.cacheHits} from the decode cache, ${r.decoded} decoded)${r.streamed ? '; larger than --cache-mb, so streamed from the cache on disk' : ''}.`,
    '',
    '| class | train | validation |',
    '|---|---:|---:|',
    ...r.classes.map((c, k) => `| ${c} | ${r.trainCounts[k]} | ${r.valCounts[k]} |`),
    '',
    `Skipped ${r.skipped.length} undecodable file${r.skipped.length === 1 ? '' : 's'}${r.skipped.length ? ':' : '.'}`,
  ];
  if (r.skipped.length) lines.push('', ...r.skipped.map((s) => `- \`${path.relative(r.root, s.file)}\`: ${s.reason}`));
  lines.push('');
  return lines;
}
