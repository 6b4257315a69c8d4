// Inference benchmark: images/s at batch 1/8/64 for our graphs (and the timm peer export), as ratios to the float and int8 MatMul rooflines and to the peer.

import { existsSync } from 'node:fs';
import { forwardMacs, type ModelSpec } from '../model/index.js';
import { LOGITS, PIXELS } from '../model/io-names.js';
import { type HostTensor, Session } from '../runtime/session.js';
import { amxNote, type Hardware } from './hardware.js';
import { profileKernels } from './int8-profile.js';
import {
  type Clock,
  int8RooflineSession,
  interleavedTimes,
  median,
  medianRatio,
  ROOFLINE_N,
  rooflineSession,
  table,
} from './measure.js';

export interface InferenceBenchOptions {
  /**
   * The first model is the baseline of the "× first" column; a model marked `peer` gets its own column; a model with
   * `int8Macs` (int8 multiply-adds per image, see int8MacsPerImage) is rated against the int8 roofline.
   */
  models: { name: string; bytes: Uint8Array | string; peer?: boolean; int8Macs?: number }[];
  spec: ModelSpec;
  threads: number[];
  batches: number[];
  rounds: number;
  clock?: Clock;
  /** The machine's label: its flags say which kernels the int8 figures come from. */
  hw: Hardware;
}

export async function inferenceBench(o: InferenceBenchOptions): Promise<string> {
  const c = o.spec.config;
  const flopsPerImage = 2 * forwardMacs(c);
  const models = o.models.filter((m) => typeof m.bytes !== 'string' || existsSync(m.bytes));
  const first = models[0]!.name;
  const peer = models.find((m) => m.peer)?.name;
  const rows: (string | number)[][] = [];
  /** The int8 GEMM kernels' own figures, from one profiled session per int8 model, batch and thread count. */
  const gemmRows: (string | number)[][] = [];
  for (const threads of o.threads) {
    const roof = await rooflineSession(threads);
    const roof8 = await int8RooflineSession(threads);
    const tasks: Record<string, () => Promise<void>> = { roofline: roof.run, roofline8: roof8.run };
    const repsOf = new Map<string, number>();
    const feedsOf = new Map<string, Record<string, HostTensor>>();
    for (const m of models) {
      const s = await Session.create(m.bytes, { threads });
      for (const n of o.batches) {
        const data = Uint8Array.from({ length: n * c.image_size * c.image_size * 3 }, (_, i) => (i * 131) % 256);
        const feeds = { [PIXELS]: { dtype: 'uint8' as const, dims: [n, c.image_size, c.image_size, 3], data } };
        // Small batches run several times per round (timed as one task, reported per call) so a cold start after
        // another graph does not dominate them.
        const reps = Math.max(1, Math.floor(64 / n));
        repsOf.set(`${m.name}|${n}`, reps);
        feedsOf.set(`${m.name}|${n}`, feeds);
        tasks[`${m.name}|${n}`] = async () => {
          for (let i = 0; i < reps; i++) await s.run(feeds, [LOGITS]);
        };
      }
    }
    const raw = await interleavedTimes(tasks, o.rounds, 2, o.clock ?? 'wall');
    const times = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, v.map((x) => x / (repsOf.get(k) ?? 1))]));
    const roofMs = times['roofline']!;
    const roof8Ms = times['roofline8']!;
    const roofGflops = roof.flops / median(roofMs) / 1e6;
    const N = ROOFLINE_N;
    const [f32, i8] = [median(roofMs), median(roof8Ms)];
    rows.push(
      [
        `${threads}`,
        `MatMul ${N}³ f32 (roofline)`,
        '-',
        f32.toFixed(2),
        '-',
        roofGflops.toFixed(1),
        '1.00',
        '-',
        '-',
        '-',
        '-',
      ],
      [
        `${threads}`,
        `MatMulInteger ${N}³ u8×s8 (int8 roofline)`,
        '-',
        i8.toFixed(2),
        '-',
        '-',
        '-',
        '-',
        '-',
        (roof8.ops / i8 / 1e6).toFixed(1),
        '1.00',
      ],
    );
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
          ...int8Figures(m.int8Macs, n, t, roof8Ms, roof8.ops),
        ]);
      }
    }
    // The int8 GEMMs' own rate: the int8 ops over the median time × the share of kernel time in int8 GEMM kernels.
    for (const m of models.filter((x) => x.int8Macs)) {
      for (const n of o.batches) {
        const k = await profileKernels(m.bytes, threads, feedsOf.get(`${m.name}|${n}`)!);
        const share = k.total > 0 ? k.int8Gemm / k.total : NaN;
        const gops = (2 * m.int8Macs! * n) / (median(times[`${m.name}|${n}`]!) * share) / 1e6;
        const ratio = gops / (roof8.ops / i8 / 1e6);
        gemmRows.push([`${threads}`, m.name, n, `${(100 * share).toFixed(0)}%`, gops.toFixed(1), ratio.toFixed(2)]);
      }
    }
  }
  const int8 = models.find((m) => m.int8Macs);
  const notes = [
    `ratio: vs the float roofline; × ${first} and × peer: speed relative to those graphs. All are medians over ${o.rounds} interleaved rounds of per-round ratios; ${o.clock === 'cpu' ? 'times are process CPU ms' : 'times are wall ms'}.`,
    `int8 GOP/s: 2 × the int8 multiply-adds${int8 ? ` of the int8 layers (${((int8.int8Macs ?? 0) / 1e6).toFixed(1)} M per image)` : ''} over the whole graph's time, so a lower bound on its int8 GEMMs' own rate; × int8 roof: vs the MatMulInteger roofline.`,
  ];
  const amx = amxNote(o.hw, int8 ? 'the int8 roofline and the int8 model' : 'the int8 roofline');
  if (amx) notes.push(amx);
  const header = ['threads', 'graph', 'batch', o.clock === 'cpu' ? 'cpu ms/batch' : 'ms/batch', 'images/s'];
  header.push('GFLOP/s', 'ratio', '× first', '× peer', 'int8 GOP/s', '× int8 roof');
  const gemm = gemmRows.length
    ? `${table(['threads', 'int8 graph', 'batch', 'int8 GEMM share of kernel time', 'int8 GEMM GOP/s', '× int8 roof'], gemmRows)}\n\nint8 GEMM share: ORT's profiler over 5 runs (after a warm-up) of one session per row; int8 GEMM GOP/s: 2 × the int8 multiply-adds over (the median time × that share); × int8 roof: vs the roofline's median.\n\n`
    : '';
  return `${table(header, rows)}\n\n${gemm}${notes.join('\n')}`;
}

/** An int8 model's achieved int8 GOP/s at batch n and its per-round ratio to the int8 roofline; '-' for other graphs. */
function int8Figures(
  macs: number | undefined,
  n: number,
  t: readonly number[],
  roofMs: readonly number[],
  roofOps: number,
): string[] {
  if (!macs) return ['-', '-'];
  const ops = 2 * macs * n;
  return [
    (ops / median([...t]) / 1e6).toFixed(1),
    medianRatio(
      roofMs.map((r) => r / roofOps),
      t.map((x) => x / ops),
    ).toFixed(2),
  ];
}
