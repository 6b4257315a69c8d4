// Emits the int8 inference model: the shared forward graph with its MLP layers quantized (stem, norms, GELU, head stay float).

import { forward, gelu, geluTanh, type ModelSpec, type Params, paramTable } from '../model/index.js';
import { LOGITS, PIXELS, PROBABILITIES } from '../model/io-names.js';
import { Builder, Graph, serializeModel, type Value } from '../onnx/index.js';
import { quantizeWeight, uint8Params } from './weights.js';

export type Activations = 'dynamic' | 'static';

export interface QuantOptions {
  /** dynamic: DynamicQuantizeLinear + MatMulInteger per batch (ORT: DynamicQuantizeMatMul); static: QuantizeLinear with calibrated ranges, in QDQ form around a Gemm (ORT: QGemm). */
  activations: Activations;
  /** One weight scale per output channel (else one per tensor). */
  perChannel: boolean;
  /** Also quantize the token-mixing MLPs, run weight-on-the-right on the transposed activations [N·C, S]. */
  tokens: boolean;
  /** Static activations: [lo, hi] of each quantized layer's input, by layer prefix. */
  ranges?: ReadonlyMap<string, readonly [number, number]>;
  /**
   * GELU as exact erf, the tanh approximation (cheaper; its error is far below int8 rounding), or (static activations
   * only) uint8: x·σ(1.702x) on the first Linear's uint8 output (QLinearSigmoid + QLinearMul after ORT's QDQ fusion),
   * so each MLP runs uint8 from its first GEMM's output to its second GEMM's input.
   */
  gelu?: 'erf' | 'tanh' | 'uint8';
  /** Row blocks for the channel MLPs (see ForwardOptions.channelTiles). */
  channelTiles?: number;
  /** Tile only batches of this many images or more (see ForwardOptions.tileMinBatch); default 1 (every batch). */
  tileMinBatch?: number;
}

/** The sigmoid GELU's slope: x·σ(1.702x) ≈ x·Φ(x). */
export const SIGMOID_GELU = 1.702;

/** The calibration key of a layer's output range (the first Linears' outputs with the uint8 GELU). */
export const outputKey = (prefix: string): string => `${prefix}.output`;

/** The ranges a static model needs: each quantized layer's input, and with the uint8 GELU each first Linear's output. */
export function calibrationKeys(spec: ModelSpec, o: Pick<QuantOptions, 'tokens' | 'gelu'>): string[] {
  const layers = quantizedLayers(spec, o.tokens);
  if (o.gelu !== 'uint8') return layers;
  return [...layers, ...layers.filter((l) => l.endsWith('.fc1')).map(outputKey)];
}

/** [min, max] of x·σ(1.702x) for x in [lo, hi] (sampled densely; the minimum, about −0.16 at x ≈ −0.75, is interior). */
export function sigmoidGeluRange(lo: number, hi: number): [number, number] {
  const f = (x: number) => x / (1 + Math.exp(-SIGMOID_GELU * x));
  let a = Math.min(f(lo), f(hi));
  let z = Math.max(f(lo), f(hi));
  for (let i = 0; i <= 4096; i++) {
    const v = f(lo + ((hi - lo) * i) / 4096);
    a = Math.min(a, v);
    z = Math.max(z, v);
  }
  return [a, z];
}

/** A uint8 tensor with its affine parameters. */
export interface QTensor {
  q: Value;
  scale: number;
  zero: number;
}

/**
 * GELU as x·σ(1.702x) on uint8: σ reads the same uint8 values with the scale × 1.702 (so ORT's QLinearSigmoid, a
 * 256-entry table, computes σ(1.702x)) into uint8 over [0, 1]; QLinearMul multiplies it by x into uint8 over the
 * function's range on the input's whole uint8 range. In QDQ form (DequantizeLinear → Sigmoid → QuantizeLinear, and
 * two DequantizeLinear → Mul → QuantizeLinear), which ORT's QDQ fusions turn into those two uint8 kernels.
 */
export function sigmoidGeluUint8(b: Builder, h: QTensor): QTensor {
  const hz = b.scalar(h.zero, 'uint8');
  const u = { scale: 1 / 255, zero: 0 };
  const uz = b.scalar(u.zero, 'uint8');
  const sig = b.quantize(b.sigmoid(b.dequantize(h.q, b.scalar(h.scale * SIGMOID_GELU), hz)), b.scalar(u.scale), uz);
  const prod = b.mul(b.dequantize(h.q, b.scalar(h.scale), hz), b.dequantize(sig, b.scalar(u.scale), uz));
  const { scale, zero } = uint8Params(...sigmoidGeluRange((0 - h.zero) * h.scale, (255 - h.zero) * h.scale));
  return { q: b.quantize(prod, b.scalar(scale), b.scalar(zero, 'uint8')), scale, zero };
}

/** Prefixes of the Linear layers that get int8 weights. */
export function quantizedLayers(spec: ModelSpec, tokens: boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < spec.config.depth; i++) {
    if (tokens) out.push(`blocks.${i}.mlp_tokens.fc1`, `blocks.${i}.mlp_tokens.fc2`);
    out.push(`blocks.${i}.mlp_channels.fc1`, `blocks.${i}.mlp_channels.fc2`);
  }
  return out;
}

export function quantizedGraph(spec: ModelSpec, params: Params, o: QuantOptions): Graph {
  const g = new Graph('mixer_int8');
  const b = new Builder(g);
  const c = spec.config;
  const shapes = new Map(paramTable(c).map((p) => [p.name, p.shape]));
  const pixels = g.input(PIXELS, 'uint8', ['N', c.image_size, c.image_size, 3]);
  // Float parameters become initializers under their timm names when first used.
  const param = (name: string): Value => {
    if (g.values.has(name)) return g.value(name);
    const data = params.get(name);
    if (!data) throw new Error(`missing parameter ${name}`);
    return g.initializer(name, { dtype: 'float32', dims: shapes.get(name)!, data });
  };
  const layers = new Set(quantizedLayers(spec, o.tokens));

  /** The int8 weight [in, out], its scales and zero points as initializers, made once per layer. */
  const quantWeights = (prefix: string): [Value, Value, Value] => {
    const name = `${prefix}.weight_quantized`;
    if (g.values.has(name))
      return [g.value(name), g.value(`${prefix}.weight_scale`), g.value(`${prefix}.weight_zero_point`)];
    const [out, inp] = shapes.get(`${prefix}.weight`)! as [number, number];
    const w = quantizeWeight(params.get(`${prefix}.weight`)!, out, inp, o.perChannel, true);
    const sdims = o.perChannel ? [out] : [];
    return [
      g.initializer(name, { dtype: 'int8', dims: w.dims, data: w.q }),
      g.initializer(`${prefix}.weight_scale`, { dtype: 'float32', dims: sdims, data: w.scale }),
      g.initializer(`${prefix}.weight_zero_point`, { dtype: 'int8', dims: sdims, data: new Int8Array(w.scale.length) }),
    ];
  };

  /** x [M, in] → x·Wᵀ + b with W as int8 [in, out] (weight on the right, so ORT can use its int8 GEMM kernels). */
  const qlinear = (b: Builder, x: Value, prefix: string): Value => {
    const [wq, ws, wz] = quantWeights(prefix);
    if (o.activations === 'dynamic') {
      const [xq, xs, xz] = b.dynamicQuantize(x);
      const acc = b.matmulInteger(xq, wq, xz, wz);
      return b.add(b.mul(b.cast(acc, 'float32'), b.mul(xs, ws)), param(`${prefix}.bias`));
    }
    return qgemm(b, quantizeInput(b, x, prefix), prefix);
  };

  const range = (key: string): readonly [number, number] => {
    const r = o.ranges?.get(key);
    if (!r) throw new Error(`no calibrated range for ${key}`);
    return r;
  };

  /** Static: the float input of `prefix` as uint8 over its calibrated range. */
  const quantizeInput = (b: Builder, x: Value, prefix: string): QTensor => {
    const [lo, hi] = range(prefix);
    const { scale, zero } = uint8Params(lo, hi);
    return { q: b.quantize(x, b.scalar(scale), b.scalar(zero, 'uint8')), scale, zero };
  };

  /**
   * QDQ form: DQ on the uint8 input, DQ on the int8 weight and on an int32 bias (scale = input scale × weight scale),
   * all into one Gemm, which ONNX Runtime fuses into its int8 QGemm kernel; with `out`, a QuantizeLinear after the
   * Gemm makes the kernel write uint8 instead of float.
   */
  function qgemm(b: Builder, x: QTensor, prefix: string): Value;
  function qgemm(b: Builder, x: QTensor, prefix: string, out: { scale: number; zero: number }): QTensor;
  function qgemm(b: Builder, x: QTensor, prefix: string, out?: { scale: number; zero: number }): Value | QTensor {
    const [wq, ws, wz] = quantWeights(prefix);
    const xd = b.dequantize(x.q, b.scalar(x.scale), b.scalar(x.zero, 'uint8'));
    const y = b.gemm(xd, b.dequantize(wq, ws, wz, 1), quantBias(b, prefix, x.scale));
    if (!out) return y;
    return { q: b.quantize(y, b.scalar(out.scale), b.scalar(out.zero, 'uint8')), ...out };
  }

  /** Static with the uint8 GELU: fc1 (uint8 out) → GELU (uint8) → fc2 (float out), on float rows [M, in]. */
  const mlpUint8 = (b: Builder, x: Value, prefix: string): Value => {
    const fc1 = `${prefix}.fc1`;
    const h = qgemm(b, quantizeInput(b, x, fc1), fc1, uint8Params(...range(outputKey(fc1))));
    return qgemm(b, sigmoidGeluUint8(b, h), `${prefix}.fc2`);
  };

  /** The layer's float bias as int32 in units of (input scale × weight scale), dequantized: QGemm's bias form. */
  const quantBias = (b: Builder, prefix: string, inputScale: number): Value => {
    const name = `${prefix}.bias_quantized`;
    if (!g.values.has(name)) {
      const bias = params.get(`${prefix}.bias`)!;
      const ws = g.initializers.get(`${prefix}.weight_scale`)!.data as Float32Array; // made by quantWeights
      const s = new Float32Array(bias.length);
      const q = new Int32Array(bias.length);
      for (let j = 0; j < bias.length; j++) {
        s[j] = inputScale * ws[ws.length === 1 ? 0 : j]!;
        q[j] = Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, Math.round(bias[j]! / s[j]!)));
      }
      g.initializer(name, { dtype: 'int32', dims: [bias.length], data: q });
      g.initializer(`${prefix}.bias_scale`, { dtype: 'float32', dims: [bias.length], data: s });
      g.initializer(`${prefix}.bias_zero_point`, {
        dtype: 'int32',
        dims: [bias.length],
        data: new Int32Array(bias.length),
      });
    }
    return b.dequantize(g.value(name), g.value(`${prefix}.bias_scale`), g.value(`${prefix}.bias_zero_point`), 0);
  };

  if (o.gelu === 'uint8' && o.activations !== 'static') throw new Error('the uint8 GELU needs static activations');
  const u8 = o.gelu === 'uint8';
  // Float GELUs that remain (token MLPs left float with the uint8 GELU) take the tanh form.
  const act = o.gelu === 'tanh' || u8 ? geluTanh : gelu;
  const logitsRaw = forward(b, spec, pixels, param, {
    gelu: act,
    channelTiles: o.channelTiles ?? 1,
    tileMinBatch: o.tileMinBatch ?? 1,
    layers: {
      rows: (bb, x, prefix) =>
        layers.has(prefix)
          ? qlinear(bb, x, prefix)
          : bb.gemm(x, param(`${prefix}.weight`), param(`${prefix}.bias`), { transB: true }),
      ...(u8 ? { channelMlp: (bb, h, prefix) => mlpUint8(bb, h, prefix) } : {}),
      ...(o.tokens
        ? {
            tokenMlp: (bb, h, prefix) => {
              const ht = bb.transpose(h, [1, 0]); // [N·C, S]
              const y = u8
                ? mlpUint8(bb, ht, prefix)
                : qlinear(bb, act(bb, qlinear(bb, ht, `${prefix}.fc1`)), `${prefix}.fc2`);
              return bb.transpose(y, [1, 0]);
            },
          }
        : {}),
    },
  });
  g.output(b.identity(logitsRaw, LOGITS));
  g.output(b.softmax(logitsRaw, -1, PROBABILITIES));
  return g;
}

/** The `mixer.quantization` metadata value. */
export function quantizationMetadata(method: string, images: number, o: QuantOptions): string {
  return JSON.stringify({
    method,
    images,
    per_channel: o.perChannel,
    activations: o.activations,
    token_mlp: o.tokens ? 'int8' : 'float',
    channel_tiles: o.channelTiles ?? 1,
    tile_min_batch: o.tileMinBatch ?? 1,
    gelu: o.gelu === 'uint8' ? 'uint8' : 'float',
  });
}

export function buildQuantizedModel(
  spec: ModelSpec,
  params: Params,
  o: QuantOptions,
  metadata: Record<string, string>,
): Uint8Array {
  return serializeModel(quantizedGraph(spec, params, o), {
    metadata,
    docString: 'MLP-Mixer image classifier (int8 MLP weights)',
  });
}
