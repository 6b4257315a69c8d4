// Timing helpers for benchmarks: the 2048³ float32 MatMul and int8 MatMulInteger roofline graphs, median timing, interleaved rounds.
import { Builder, Graph, serializeModel } from '../onnx/index.js';
import { type HostTensor, Session } from '../runtime/session.js';

export const ROOFLINE_N = 2048;

/** A single MatMul of two N×N float32 inputs: the compute ceiling for this machine and thread count. */
export async function rooflineSession(threads: number): Promise<{ run: () => Promise<void>; flops: number }> {
  const g = new Graph('matmul');
  const b = new Builder(g);
  const n = ROOFLINE_N;
  const A = g.input('A', 'float32', [n, n]);
  const B = g.input('B', 'float32', [n, n]);
  g.output(b.matmul(A, B, 'C'));
  const s = await Session.create(serializeModel(g), { threads });
  const data = Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const feeds: Record<string, HostTensor> = {
    A: { dtype: 'float32', dims: [n, n], data },
    B: { dtype: 'float32', dims: [n, n], data },
  };
  return { run: async () => void (await s.run(feeds)), flops: 2 * n ** 3 };
}

/** The int8 roofline's ONNX graph and a feed: A uint8 [n, n] (an input, zero point 128) × B int8 [n, n] (a constant, zero point 0). */
export interface Int8Roofline {
  bytes: Uint8Array;
  a: Uint8Array;
  b: Int8Array;
  aZero: number;
  bZero: number;
  feeds: Record<string, HostTensor>;
}

/**
 * One MatMulInteger node, uint8 activations × int8 weights → int32, as the int8 model's layers run it: the weights an
 * initializer (ORT packs them once), the activations an input with a uint8 zero point, the weights' int8 zero point 0.
 */
export function int8RooflineModel(n: number): Int8Roofline {
  const g = new Graph('matmul_integer');
  const bd = new Builder(g);
  const aZero = 128;
  const bZero = 0;
  const a = Uint8Array.from({ length: n * n }, (_, i) => (i * 7919) % 251);
  const b = Int8Array.from({ length: n * n }, (_, i) => ((i * 104729) % 255) - 127);
  const A = g.input('A', 'uint8', [n, n]);
  const B = g.initializer('B', { dtype: 'int8', dims: [n, n], data: b });
  const az = g.initializer('A_zero_point', { dtype: 'uint8', dims: [], data: Uint8Array.of(aZero) });
  const bz = g.initializer('B_zero_point', { dtype: 'int8', dims: [], data: Int8Array.of(bZero) });
  g.output(bd.matmulInteger(A, B, az, bz));
  return { bytes: serializeModel(g), a, b, aZero, bZero, feeds: { A: { dtype: 'uint8', dims: [n, n], data: a } } };
}

/** The int8 ceiling beside the float one: a ROOFLINE_N³ MatMulInteger (see int8RooflineModel); `ops` counts 2 per multiply-add. */
export async function int8RooflineSession(
  threads: number,
  n = ROOFLINE_N,
): Promise<{ run: () => Promise<void>; ops: number }> {
  const m = int8RooflineModel(n);
  const s = await Session.create(m.bytes, { threads });
  return { run: async () => void (await s.run(m.feeds)), ops: 2 * n ** 3 };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * wall: elapsed ms. cpu: ms of CPU time used by this process (user + system, all threads) during the call; on a
 * shared machine it leaves out the time other processes held the core, so it is steadier than wall time (with
 * several ORT threads it counts work, not latency).
 */
export type Clock = 'wall' | 'cpu';

export async function timeOnce(f: () => Promise<void>, clock: Clock = 'wall'): Promise<number> {
  if (clock === 'cpu') {
    const c = process.cpuUsage();
    await f();
    const d = process.cpuUsage(c);
    return (d.user + d.system) / 1000;
  }
  const t = performance.now();
  await f();
  return performance.now() - t;
}

/** Runs each task once per round, in turn (rotating), for `rounds` rounds after `warmup` rounds; returns every round's ms per task. */
export async function interleavedTimes(
  tasks: Record<string, () => Promise<void>>,
  rounds: number,
  warmup = 2,
  clock: Clock = 'wall',
): Promise<Record<string, number[]>> {
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(tasks).map((k) => [k, []]));
  const entries = Object.entries(tasks);
  for (let r = 0; r < warmup + rounds; r++) {
    // Rotate the order every round, so no task always runs right after the same one (e.g. cold caches after the roofline).
    for (let j = 0; j < entries.length; j++) {
      const [k, f] = entries[(j + r) % entries.length]!;
      const ms = await timeOnce(f, clock);
      if (r >= warmup) times[k]!.push(ms);
    }
  }
  return times;
}

/** Median ms per task over interleaved rounds (see interleavedTimes). */
export async function interleaved(
  tasks: Record<string, () => Promise<void>>,
  rounds: number,
  warmup = 2,
): Promise<Record<string, number>> {
  const times = await interleavedTimes(tasks, rounds, warmup);
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
}

/** Median over rounds of a[i] / b[i]: a speed ratio that cancels load shared by both within a round. */
export function medianRatio(a: readonly number[], b: readonly number[]): number {
  return median(a.map((x, i) => x / b[i]!));
}

export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const w = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ')} |`;
  return [
    line(header),
    `|${w.map((x, i) => (i === 0 ? '-'.repeat(x + 2) : `${'-'.repeat(x + 1)}:`)).join('|')}|`,
    ...rows.map((r) => line(r.map(String))),
  ].join('\n');
}
