// Inference benchmark: images/s at batch 1/8/64 for our graphs (and the timm peer export), as ratios to the MatMul roofline and to the peer.

import { existsSync } from 'node:fs';
import { forwardMacs, type ModelSpec } from '../model/index.js';
import { LOGITS, PIXELS } from '../model/io-names.js';
import { Session } from '../runtime/session.js';
import { type Clock, interleavedTimes, median, medianRatio, rooflineSession, table } from './measure.js';

export interface InferenceBenchOptions {
  /** The first model is the baseline of the "× first" column; a model named `peer` gets its own column. */
  models: { name: string; bytes: Uint8Array | string; peer?: boolean }[];
  spec: ModelSpec;
  threads: number[];
  batches: number[];
  rounds: number;
  clock?: Clock;
}

export async function inferenceBench(o: InferenceBenchOptions): Promise<string> {
  const c = o.spec.config;
  const flopsPerImage = 2 * forwardMacs(c);
  const models = o.models.filter((m) => typeof m.bytes !== 'string' || existsSync(m.bytes));
  const first = models[0]!.name;
  const peer = models.find((m) => m.peer)?.name;
  const rows: (string | number)[][] = [];
  for (const threads of o.threads) {
    const roof = await rooflineSession(threads);
    const tasks: Record<string, () => Promise<void>> = { roofline: roof.run };
    const repsOf = new Map<string, number>();
    for (const m of models) {
      const s = await Session.create(m.bytes, { threads });
      for (const n of o.batches) {
        const data = Uint8Array.from({ length: n * c.image_size * c.image_size * 3 }, (_, i) => (i * 131) % 256);
        const feeds = { [PIXELS]: { dtype: 'uint8' as const, dims: [n, c.image_size, c.image_size, 3], data } };
        // Small batches run several times per round (timed as one task, reported per call) so a cold start after
        // another graph does not dominate them.
        const reps = Math.max(1, Math.floor(64 / n));
        repsOf.set(`${m.name}|${n}`, reps);
        tasks[`${m.name}|${n}`] = async () => {
          for (let i = 0; i < reps; i++) await s.run(feeds, [LOGITS]);
        };
      }
    }
    const raw = await interleavedTimes(tasks, o.rounds, 2, o.clock ?? 'wall');
    const times = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, v.map((x) => x / (repsOf.get(k) ?? 1))]));
    const roofMs = times['roofline']!;
    const roofGflops = roof.flops / median(roofMs) / 1e6;
    rows.push([
      `${threads}`,
      'MatMul 2048³ (roofline)',
      '-',
      median(roofMs).toFixed(2),
      '-',
      roofGflops.toFixed(1),
      '1.00',
      '-',
      '-',
    ]);
    for (const n of o.batches) {
      for (const m of models) {
        const t = times[`${m.name}|${n}`]!;
        const ms = median(t);
        // Per-round ratios: this model's speed over the roofline's / the baseline's / the peer's in the same round.
        const roofRatio = medianRatio(
          roofMs.map((r) => r / roof.flops),
          t.map((x) => x / (flopsPerImage * n)),
        );
        const vs = (other: string | undefined) =>
          other && other !== m.name ? medianRatio(times[`${other}|${n}`]!, t).toFixed(2) : '-';
        rows.push([
          `${threads}`,
          m.name,
          n,
          ms.toFixed(2),
          ((1000 * n) / ms).toFixed(0),
          ((flopsPerImage * n) / ms / 1e6).toFixed(1),
          roofRatio.toFixed(2),
          vs(first),
          vs(peer),
        ]);
      }
    }
  }
  const note = `ratio: vs the roofline; × ${first} and × peer: speed relative to those graphs. All are medians over ${o.rounds} interleaved rounds of per-round ratios; ${o.clock === 'cpu' ? 'times are process CPU ms' : 'times are wall ms'}.`;
  return `${table(['threads', 'graph', 'batch', o.clock === 'cpu' ? 'cpu ms/batch' : 'ms/batch', 'images/s', 'GFLOP/s', 'ratio', `× first`, '× peer'], rows)}\n\n${note}`;
}
