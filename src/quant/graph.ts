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
  /** GELU as exact erf or the tanh approximation (cheaper; its error is far below int8 rounding). */
  gelu?: 'erf' | 'tanh';
  /** Row blocks for the channel MLPs (see ForwardOptions.channelTiles). */
  channelTiles?: number;
  /** Tile only batches of this many images or more (see ForwardOptions.tileMinBatch); default 1 (every batch). */
  tileMinBatch?: number;
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
    const r = o.ranges?.get(prefix);
    if (!r) throw new Error(`no calibrated range for ${prefix}`);
    // QDQ form: Q→DQ on the input, DQ on the int8 weight and on an int32 bias (scale = input scale × weight scale),
    // all into one Gemm, which ONNX Runtime fuses into its int8 QGemm kernel (fed by one QuantizeLinear).
    const { scale, zero } = uint8Params(r[0], r[1]);
    const xs = b.scalar(scale);
    const xz = b.scalar(zero, 'uint8');
    const xd = b.dequantize(b.quantize(x, xs, xz), xs, xz);
    const wd = b.dequantize(wq, ws, wz, 1);
    return b.gemm(xd, wd, quantBias(b, prefix, scale));
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

  const act = o.gelu === 'tanh' ? geluTanh : gelu;
  const logitsRaw = forward(b, spec, pixels, param, {
    gelu: act,
    channelTiles: o.channelTiles ?? 1,
    tileMinBatch: o.tileMinBatch ?? 1,
    layers: {
      rows: (bb, x, prefix) =>
        layers.has(prefix)
          ? qlinear(bb, x, prefix)
          : bb.gemm(x, param(`${prefix}.weight`), param(`${prefix}.bias`), { transB: true }),
      ...(o.tokens
        ? {
            tokenMlp: (bb, h, prefix) => {
              const ht = bb.transpose(h, [1, 0]); // [N·C, S]
              return bb.transpose(qlinear(bb, act(bb, qlinear(bb, ht, `${prefix}.fc1`)), `${prefix}.fc2`), [1, 0]);
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
