// Training-step benchmark: fused, separate and data-parallel steps at batch 128, GFLOP/s counting 3× forward, vs the
// MatMul roofline; the fused step with untiled channel MLPs (the step before tiling) beside it, and per-op profiles.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { forwardMacs, initParams, type ModelSpec, paramTable } from '../model/index.js';
import { serializeModel } from '../onnx/index.js';
import { type HostTensor, Session } from '../runtime/session.js';
import { type ArtifactOptions, trainingChannelTiles, trainStepGraph } from '../train/artifacts.js';
import { type StepMode, Stepper, zerosLike } from '../train/stepper.js';
import { kernelTimes } from './int8-profile.js';
import { type Clock, interleavedTimes, median, medianRatio, ROOFLINE_N, rooflineSession, table } from './measure.js';

interface Variant {
  label: string;
  mode: StepMode;
  opts: ArtifactOptions;
}

function variants(spec: ModelSpec, threads: number): Variant[] {
  const base: ArtifactOptions = { labelSmoothing: 0.1 };
  const k = trainingChannelTiles(spec, base);
  const out: Variant[] = [{ label: `fused, ${k} channel tiles`, mode: 'fused', opts: base }];
  if (k > 1) out.push({ label: 'fused, untiled', mode: 'fused', opts: { ...base, channelTiles: 1 } });
  out.push({ label: 'separate', mode: 'separate', opts: base });
  // parallel: the batch split over `threads` single-threaded worker sessions (one thread: the separate graphs).
  if (threads > 1) out.push({ label: 'parallel', mode: 'parallel', opts: base });
  return out;
}

function batchInputs(spec: ModelSpec, batch: number): { pixels: Uint8Array; labels: BigInt64Array } {
  const c = spec.config;
  return {
    pixels: Uint8Array.from({ length: batch * c.image_size * c.image_size * 3 }, (_, i) => (i * 131) % 256),
    labels: BigInt64Array.from({ length: batch }, (_, i) => BigInt(i % c.num_classes)),
  };
}

export async function trainStepBench(
  spec: ModelSpec,
  threadsList: number[],
  batch: number,
  rounds: number,
  clock: Clock = 'wall',
): Promise<string> {
  const c = spec.config;
  const flops = 3 * 2 * forwardMacs(c) * batch;
  const { pixels, labels } = batchInputs(spec, batch);
  const rows: (string | number)[][] = [];
  for (const threads of threadsList) {
    const roof = await rooflineSession(threads);
    const tasks: Record<string, () => Promise<void>> = { roofline: roof.run };
    const vs = variants(spec, threads);
    const steppers: Stepper[] = [];
    for (const v of vs) {
      const st = await Stepper.create(spec, v.opts, v.mode, threads);
      steppers.push(st);
      const p = initParams(c, 0);
      const state = { params: p, expAvg: zerosLike(p), expAvgSq: zerosLike(p) };
      let step = 0;
      tasks[v.label] = async () =>
        void (await st.step({ state, pixels, labels, size: batch, learningRate: 1e-3, step: ++step }));
    }
    const times = await interleavedTimes(tasks, rounds, 2, clock);
    const roofMs = median(times['roofline']!);
    const roofG = roof.flops / roofMs / 1e6;
    rows.push([`${threads}`, `MatMul ${ROOFLINE_N}³ f32 (roofline)`, roofMs.toFixed(1), '-', roofG.toFixed(1), '1.00']);
    for (const v of vs) {
      const ms = median(times[v.label]!);
      // The ratio is the median over rounds of (roofline ms × step FLOPs) / (step ms × roofline FLOPs): load shared
      // by both within a round cancels.
      const ratio = medianRatio(times['roofline']!, times[v.label]!) * (flops / roof.flops);
      rows.push([
        `${threads}`,
        `train step (${v.label})`,
        ms.toFixed(1),
        ((1000 * batch) / ms).toFixed(0),
        (flops / ms / 1e6).toFixed(1),
        ratio.toFixed(2),
      ]);
    }
    for (const st of steppers) await st.release();
  }
  const rss = process.resourceUsage().maxRSS / 1024;
  return `${table(['threads', 'what', `ms/step (${clock})`, 'images/s', 'GFLOP/s', 'ratio'], rows)}\n\nbatch ${batch}, ${c.depth} blocks; ratio: median over interleaved rounds of the step's GFLOP/s ÷ the roofline's; peak RSS of this process ${rss.toFixed(0)} MB`;
}

interface KernelProfile {
  byOp: Record<string, number>;
  total: number;
  nodes: number;
}

/**
 * ORT's per-op kernel times (ms per step) of fused train step graphs, one per options set, profiled in interleaved
 * steps (`runs` each after one warm-up), so that load from other processes falls on all of them alike.
 */
async function stepKernelTimes(
  spec: ModelSpec,
  optsList: readonly ArtifactOptions[],
  threads: number,
  batch: number,
  runs: number,
): Promise<KernelProfile[]> {
  const c = spec.config;
  const { pixels, labels } = batchInputs(spec, batch);
  const p = initParams(c, 0);
  const f32 = (dims: readonly number[], data: Float32Array): HostTensor => ({ dtype: 'float32', dims, data });
  const feeds: Record<string, HostTensor> = {
    pixels: { dtype: 'uint8', dims: [batch, c.image_size, c.image_size, 3], data: pixels },
    labels: { dtype: 'int64', dims: [batch], data: labels },
    learning_rate: f32([], Float32Array.of(1e-3)),
    step: { dtype: 'int64', dims: [], data: BigInt64Array.of(1n) },
  };
  for (const q of paramTable(c)) feeds[q.name] = f32(q.shape, p.get(q.name)!);
  for (const q of paramTable(c)) {
    feeds[`${q.name}.exp_avg`] = f32(q.shape, new Float32Array(p.get(q.name)!.length));
    feeds[`${q.name}.exp_avg_sq`] = f32(q.shape, new Float32Array(p.get(q.name)!.length));
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mixer-step-profile-'));
  try {
    const graphs = optsList.map((o) => trainStepGraph(spec, o));
    const sessions: Session[] = [];
    for (const [i, g] of graphs.entries())
      sessions.push(
        await Session.create(serializeModel(g), { threads, memPattern: false, profile: path.join(dir, `s${i}`) }),
      );
    for (let r = 0; r <= runs; r++) for (const s of sessions) await s.run(feeds);
    const out: KernelProfile[] = [];
    for (const [i, s] of sessions.entries()) {
      s.endProfiling();
      await s.release();
      const file = readdirSync(dir).find((f) => f.startsWith(`s${i}_`) && f.endsWith('.json'));
      if (!file) throw new Error('ORT wrote no profile');
      const k = kernelTimes(JSON.parse(readFileSync(path.join(dir, file), 'utf8')), 1);
      const byOp = Object.fromEntries(Object.entries(k.byOp).map(([op, us]) => [op, us / k.runs / 1000]));
      out.push({ byOp, total: k.total / k.runs / 1000, nodes: graphs[i]!.nodes.length });
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Per-op kernel ms per step of the fused step, default (tiled) and untiled, profiled in interleaved steps: the ops
 * above 0.5% of either, then the rest.
 */
export async function trainStepProfile(spec: ModelSpec, threads: number, batch: number, runs = 3): Promise<string> {
  const base: ArtifactOptions = { labelSmoothing: 0.1 };
  const k = trainingChannelTiles(spec, base);
  const [tiled, untiled] = (await stepKernelTimes(
    spec,
    [base, { ...base, channelTiles: 1 }],
    threads,
    batch,
    runs,
  )) as [KernelProfile, KernelProfile];
  const ops = [...new Set([...Object.keys(tiled.byOp), ...Object.keys(untiled.byOp)])].sort(
    (a, b) => (untiled.byOp[b] ?? 0) - (untiled.byOp[a] ?? 0),
  );
  const share = (t: typeof tiled, op: string) => (t.byOp[op] ?? 0) / t.total;
  const rows: (string | number)[][] = [];
  let rest = [0, 0];
  for (const op of ops) {
    if (share(tiled, op) < 0.005 && share(untiled, op) < 0.005) {
      rest = [rest[0]! + (untiled.byOp[op] ?? 0), rest[1]! + (tiled.byOp[op] ?? 0)];
      continue;
    }
    const cell = (t: typeof tiled) => `${(t.byOp[op] ?? 0).toFixed(1)} (${(100 * share(t, op)).toFixed(1)}%)`;
    rows.push([op, cell(untiled), cell(tiled)]);
  }
  rows.push(['other ops', rest[0]!.toFixed(1), rest[1]!.toFixed(1)]);
  rows.push([
    'all kernels (nodes)',
    `${untiled.total.toFixed(1)} (${untiled.nodes})`,
    `${tiled.total.toFixed(1)} (${tiled.nodes})`,
  ]);
  return `${table(['op', 'untiled ms/step (share)', `${k} channel tiles ms/step (share)`], rows)}\n\nORT kernel times, fused step, batch ${batch}, ${threads} thread(s), ${runs} profiled steps each after a warm-up, interleaved`;
}
