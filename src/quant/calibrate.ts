// Static-activation calibration: runs the float model over training images and picks each quantized layer's input range.

import type { ImageDataset } from '../data/dataset.js';
import { forward, gelu, type ModelSpec, numTokens, type Params, paramTable } from '../model/index.js';
import { LOGITS, PIXELS } from '../model/io-names.js';
import { Builder, Graph, serializeModel, type Value } from '../onnx/index.js';
import { Session } from '../runtime/session.js';
import { outputKey } from './graph.js';

export const METHODS = ['minmax', 'percentile', 'entropy'] as const;
export type Method = (typeof METHODS)[number];

const BINS = 2048;

/** The graph output carrying the values of calibration key `key` (a layer prefix: its input; outputKey(prefix): its output). */
const tapName = (key: string) => `${key}.tap`;

/** A float inference graph that also outputs every value calibrated on: layer inputs and outputs named in `keys`. */
function tapGraph(spec: ModelSpec, params: Params, keys: ReadonlySet<string>): Uint8Array {
  const g = new Graph('mixer_calibration');
  const b = new Builder(g);
  const c = spec.config;
  for (const p of paramTable(c)) g.initializer(p.name, { dtype: 'float32', dims: p.shape, data: params.get(p.name)! });
  const param = (n: string) => g.value(n);
  const tap = (x: Value, key: string) => {
    if (keys.has(key)) g.output(b.identity(x, tapName(key)));
    return x;
  };
  const pixels = g.input(PIXELS, 'uint8', ['N', c.image_size, c.image_size, 3]);
  const logits = forward(b, spec, pixels, param, {
    layers: {
      rows: (bb, x, prefix) => {
        tap(x, prefix);
        return tap(bb.gemm(x, param(`${prefix}.weight`), param(`${prefix}.bias`), { transB: true }), outputKey(prefix));
      },
      tokenMlp: (bb, h, prefix) => {
        const lin = (x: Value, p: string, rows: number) =>
          bb.gemm(param(`${p}.weight`), x, bb.reshape(param(`${p}.bias`), [rows, 1]));
        tap(h, `${prefix}.fc1`);
        const t = gelu(bb, tap(lin(h, `${prefix}.fc1`, c.tokens_mlp_dim), outputKey(`${prefix}.fc1`)));
        tap(t, `${prefix}.fc2`);
        return lin(t, `${prefix}.fc2`, numTokens(c));
      },
    },
  });
  g.output(b.identity(logits, LOGITS));
  return serializeModel(g);
}

/** Evenly spaced indices of `n` images out of `count` (deterministic, covers the whole split). */
export function calibrationIndices(count: number, n: number): number[] {
  const k = Math.min(n, count);
  return Array.from({ length: k }, (_, i) => Math.floor((i * count) / k));
}

/** Smallest symmetric threshold whose clipped, 128-level histogram is closest to the original in KL divergence. */
export function entropyThreshold(hist: Float64Array, binWidth: number, levels = 128): number {
  const n = hist.length;
  let best = n;
  let bestKl = Infinity;
  for (let i = levels; i <= n; i++) {
    const p = Array.from(hist.subarray(0, i));
    let outliers = 0;
    for (let j = i; j < n; j++) outliers += hist[j]!;
    p[i - 1]! += outliers;
    const q = new Array<number>(i).fill(0);
    const per = i / levels;
    for (let l = 0; l < levels; l++) {
      const a = Math.floor(l * per);
      const e = l === levels - 1 ? i : Math.floor((l + 1) * per);
      let sum = 0;
      let nz = 0;
      // q is built from the clipped slice without the outliers (TensorRT's KL calibration); p carries them.
      for (let j = a; j < e; j++) {
        if (hist[j]! > 0) {
          sum += hist[j]!;
          nz++;
        }
      }
      for (let j = a; j < e; j++) if (hist[j]! > 0) q[j] = sum / nz;
    }
    const ps = p.reduce((s, v) => s + v, 0);
    const qs = q.reduce((s, v) => s + v, 0);
    if (ps === 0 || qs === 0) continue;
    let kl = 0;
    for (let j = 0; j < i; j++) {
      if (p[j]! === 0) continue;
      const pj = p[j]! / ps;
      const qj = q[j]! / qs;
      kl += qj > 0 ? pj * Math.log(pj / qj) : pj * 30;
    }
    if (kl < bestKl) {
      bestKl = kl;
      best = i;
    }
  }
  return (best + 0.5) * binWidth;
}

export interface CalibrationOptions {
  method: Method;
  images: number;
  /** percentile method: the share of values kept inside the range on each side, in percent. */
  percentile?: number;
  batchSize?: number;
  threads?: number;
}

/** Range [lo, hi] of every calibration key in `layers` (a layer's input, or outputKey(layer)), from `o.images` images of `train`. */
export async function calibrate(
  spec: ModelSpec,
  params: Params,
  layers: readonly string[],
  train: ImageDataset,
  o: CalibrationOptions,
): Promise<Map<string, [number, number]>> {
  const session = await Session.create(tapGraph(spec, params, new Set(layers)), { threads: o.threads ?? 1 });
  const idx = calibrationIndices(train.count, o.images);
  const px = train.height * train.width * 3;
  const bs = o.batchSize ?? 32;
  const outputs = layers.map(tapName);
  const batches = async (each: (name: string, data: Float32Array) => void) => {
    for (let s = 0; s < idx.length; s += bs) {
      const ids = idx.slice(s, s + bs);
      const pixels = new Uint8Array(ids.length * px);
      ids.forEach((id, j) => pixels.set(train.images.subarray(id * px, (id + 1) * px), j * px));
      const r = await session.run(
        { [PIXELS]: { dtype: 'uint8', dims: [ids.length, train.height, train.width, 3], data: pixels } },
        outputs,
      );
      for (const l of layers) each(l, r[tapName(l)]!.data as Float32Array);
    }
  };
  const lo = new Map(layers.map((l) => [l, Infinity]));
  const hi = new Map(layers.map((l) => [l, -Infinity]));
  await batches((l, d) => {
    let a = lo.get(l)!;
    let z = hi.get(l)!;
    for (let i = 0; i < d.length; i++) {
      const v = d[i]!;
      if (v < a) a = v;
      if (v > z) z = v;
    }
    lo.set(l, a);
    hi.set(l, z);
  });
  const ranges = new Map<string, [number, number]>(layers.map((l) => [l, [lo.get(l)!, hi.get(l)!]]));
  if (o.method === 'minmax') {
    await session.release();
    return ranges;
  }
  // Second pass: histograms of the values (percentile) or of their magnitudes (entropy).
  const hists = new Map(layers.map((l) => [l, new Float64Array(BINS)]));
  const amax = (l: string) => Math.max(Math.abs(lo.get(l)!), Math.abs(hi.get(l)!)) || 1;
  await batches((l, d) => {
    const h = hists.get(l)!;
    if (o.method === 'entropy') {
      const k = BINS / amax(l);
      for (let i = 0; i < d.length; i++) h[Math.min(BINS - 1, Math.floor(Math.abs(d[i]!) * k))]!++;
    } else {
      const a = lo.get(l)!;
      const k = BINS / (hi.get(l)! - a || 1);
      for (let i = 0; i < d.length; i++) h[Math.min(BINS - 1, Math.floor((d[i]! - a) * k))]!++;
    }
  });
  await session.release();
  for (const l of layers) {
    const h = hists.get(l)!;
    const [a, z] = ranges.get(l)!;
    if (o.method === 'entropy') {
      const t = entropyThreshold(h, amax(l) / BINS);
      ranges.set(l, [Math.max(a, -t), Math.min(z, t)]);
    } else {
      const total = h.reduce((s, v) => s + v, 0);
      const cut = (total * (100 - (o.percentile ?? 99.99))) / 100;
      const w = (z - a) / BINS;
      let i = 0;
      for (let acc = 0; i < BINS - 1 && acc + h[i]! <= cut; i++) acc += h[i]!;
      let j = BINS - 1;
      for (let acc = 0; j > 0 && acc + h[j]! <= cut; j--) acc += h[j]!;
      ranges.set(l, [a + i * w, a + (j + 1) * w]);
    }
  }
  return ranges;
}
