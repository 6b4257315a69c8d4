// The MLP-Mixer forward graph, written once over the builder and shared by inference and training.
// N = batch, H = W = image size, p = patch, G = H/p, S = G*G tokens, C = hidden, D_S / D_C = MLP widths, K = classes.
import type { Builder, Value } from '../onnx/index.js';
import { type ModelSpec, numTokens } from './config.js';

export interface ForwardOptions {
  /** Ask LayerNormalization for its Mean/InvStdDev outputs (the backward pass reuses them). */
  layerNormStats?: boolean;
  /**
   * Stochastic depth: a float [N] mask (0 or 1/keep per sample) scaling each residual branch, or null for none.
   * The masks come in as graph inputs, so the graph stays deterministic.
   */
  dropPath?: (block: number, branch: 'tokens' | 'channels') => Value | null;
  /** Replaces how the MLP layers are computed (the int8 model uses this); the default is float Gemms. */
  layers?: LayerHooks;
  /**
   * Run each channel MLP on this many row blocks of [S·N, C] (a divisor of S), one after the other, so that a block's
   * [rows, D_C] hidden activations stay in cache from the first GEMM through GELU to the second. 1 (default): one block.
   */
  channelTiles?: number;
  /**
   * With channelTiles > 1: tile only batches of at least this many images. The blocks are then emitted twice, as the
   * two branches of an If on the batch size (sharing the weights); smaller batches run them untiled.
   */
  tileMinBatch?: number;
  /** The GELU to use (default: exact, erf). */
  gelu?: (b: Builder, x: Value) => Value;
}

/** How the per-block MLPs and the head are computed. */
export interface LayerHooks {
  /** x [M, in] → x·Wᵀ + b for the Linear `prefix` (W is timm's [out, in]). */
  rows?(b: Builder, x: Value, prefix: string): Value;
  /** The token MLP of block `prefix` on LN1's output viewed as [S, N·C]; returns [S, N·C]. */
  tokenMlp?(b: Builder, h: Value, prefix: string): Value;
  /** The whole channel MLP `prefix` on rows [M, C] (both Linears and the GELU between them); returns [M, C]. */
  channelMlp?(b: Builder, h: Value, prefix: string): Value;
}

/** Exact GELU as 0.5·x·(1 + erf(x/√2)), the pattern ORT fuses into one Gelu kernel. */
export function gelu(b: Builder, x: Value): Value {
  const e = b.erf(b.div(x, b.scalar(Math.SQRT2)));
  return b.mul(b.mul(x, b.add(e, b.scalar(1))), b.scalar(0.5));
}

/**
 * GELU's tanh approximation, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), max abs error about 5e-4 against the exact one.
 * Written in the node order ORT's FastGeluFusion matches, so it runs as one FastGelu kernel (much cheaper than erf).
 */
export function geluTanh(b: Builder, x: Value): Value {
  const inner = b.mul(b.add(x, b.mul(b.pow(x, b.scalar(3)), b.scalar(0.044715))), b.scalar(Math.sqrt(2 / Math.PI)));
  return b.mul(b.mul(x, b.scalar(0.5)), b.add(b.tanh(inner), b.scalar(1)));
}

/**
 * Returns the logits [N, K] for uint8 pixels [N, H, W, 3]; `param(name)` supplies each timm-named parameter.
 *
 * The residual stream is kept token-major, [S, N, C] (stored as [S·N, C]), so that every linear layer is one 2-D GEMM
 * over the whole batch with no activation transposes inside the blocks:
 * - channel mixing works on rows of C: [S·N, C] · Wᵀ;
 * - token mixing works on columns: W [D, S] · [S, N·C], the same buffer viewed as [S, N·C].
 * The only data movement is the patchify transpose, done on the uint8 pixels.
 */
export function forward(
  b: Builder,
  spec: ModelSpec,
  pixels: Value,
  param: (name: string) => Value,
  o: ForwardOptions = {},
): Value {
  const act = o.gelu ?? gelu;
  const c = spec.config;
  const p = c.patch_size;
  const G = c.image_size / p;
  const S = numTokens(c);
  const C = c.hidden_dim;
  const P = 3 * p * p;
  const SN = `N*${S}`;
  const NC = `N*${C}`;
  const linear = (b: Builder, x: Value, prefix: string) =>
    o.layers?.rows
      ? o.layers.rows(b, x, prefix)
      : b.gemm(x, param(`${prefix}.weight`), param(`${prefix}.bias`), { transB: true });
  const norm = (b: Builder, x: Value, prefix: string) =>
    b.layerNorm(x, param(`${prefix}.weight`), param(`${prefix}.bias`), {
      axis: -1,
      epsilon: c.norm_eps,
      stats: o.layerNormStats ?? false,
    })[0]!;
  // Token mixing: W [D, S] · X [S, N·C] + b[D, 1].
  const tokenLinear = (b: Builder, x: Value, prefix: string, rows: number) =>
    b.gemm(param(`${prefix}.weight`), x, b.reshape(param(`${prefix}.bias`), [rows, 1]));
  const tokenMlp = (b: Builder, h: Value, prefix: string) =>
    o.layers?.tokenMlp
      ? o.layers.tokenMlp(b, h, prefix)
      : tokenLinear(b, act(b, tokenLinear(b, h, `${prefix}.fc1`, c.tokens_mlp_dim)), `${prefix}.fc2`, S);

  const mlp = (b: Builder, h: Value, prefix: string) =>
    o.layers?.channelMlp
      ? o.layers.channelMlp(b, h, prefix)
      : linear(b, act(b, linear(b, h, `${prefix}.fc1`)), `${prefix}.fc2`);
  const tiles = o.channelTiles ?? 1;
  if (!Number.isInteger(tiles) || tiles < 1 || S % tiles !== 0)
    throw new Error(`channelTiles ${tiles} must divide the ${S} tokens`);
  const channelMlp = (b: Builder, h: Value, prefix: string, k: number): Value => {
    if (k === 1) return mlp(b, h, prefix);
    const rows = `N*${S / k}`;
    const parts = b.split(b.reshape(h, [k, rows, C]), 0, new Array<number>(k).fill(1));
    return b.reshape(
      b.concat(
        parts.map((part) => b.reshape(mlp(b, b.reshape(part, [rows, C]), prefix), [1, rows, C])),
        0,
      ),
      [SN, C],
    );
  };
  // The blocks, on the residual stream [S·N, C], with the channel MLPs in k row blocks.
  const blocks = (b: Builder, x: Value, k: number): Value => {
    for (let i = 0; i < c.depth; i++) {
      const blk = `blocks.${i}`;
      const h = b.reshape(norm(b, x, `${blk}.norm1`), [S, NC]);
      const t = tokenMlp(b, h, `${blk}.mlp_tokens`); // [S, N·C]
      const mt = o.dropPath?.(i, 'tokens') ?? null;
      // Drop path scales each sample's branch: the stream is token-major, so a sample is the middle axis of [S, N, C].
      x = b.add(x, b.reshape(mt ? b.mul(b.reshape(t, [S, 'N', C]), b.reshape(mt, [1, 'N', 1])) : t, [SN, C]));
      const ch = channelMlp(b, norm(b, x, `${blk}.norm2`), `${blk}.mlp_channels`, k); // [S·N, C]
      const mc = o.dropPath?.(i, 'channels') ?? null;
      x = b.add(x, mc ? b.reshape(b.mul(b.reshape(ch, [S, 'N', C]), b.reshape(mc, [1, 'N', 1])), [SN, C]) : ch);
    }
    return x;
  };

  // Stem: the stride-p conv as patchify + one GEMM. Patches are ordered (token, image) and each patch vector
  // (row, col, channel) as the pixels lie in memory; the conv kernel is permuted to match inside the graph.
  const patches = b.reshape(b.transpose(b.reshape(pixels, ['N', G, p, G, p, 3]), [1, 3, 0, 2, 4, 5]), [SN, P]); // uint8
  const x0 = normalizePatches(b, spec, b.cast(patches, 'float32'), p * p);
  const stemW = b.reshape(b.transpose(param('stem.proj.weight'), [0, 2, 3, 1]), [C, P]);
  const stem = b.gemm(x0, stemW, param('stem.proj.bias'), { transB: true }); // [S·N, C]
  const minBatch = o.tileMinBatch ?? 0;
  const x =
    tiles > 1 && minBatch > 1
      ? b.ifElse(
          b.greaterOrEqual(b.dimOf(pixels, 0), b.ints([minBatch])),
          (tb) => [blocks(tb, stem, tiles)],
          (eb) => [blocks(eb, stem, 1)],
        )[0]!
      : blocks(b, stem, tiles);
  const pooled = b.reduceMean(b.reshape(norm(b, x, 'norm'), [S, 'N', C]), [0], false); // [N, C]
  return linear(b, pooled, 'head');
}

/** Scales float patch vectors [S·N, k·3] (channel fastest) to [0,1] and normalises by mean/std, in one Mul + Add. */
function normalizePatches(b: Builder, spec: ModelSpec, x: Value, k: number): Value {
  const scale = spec.std.map((s) => 1 / (255 * s));
  const shift = spec.mean.map((m, i) => -m / spec.std[i]!);
  const tile = (v: number[]) => Array.from({ length: k * 3 }, (_, j) => v[j % 3]!);
  return b.add(b.mul(x, b.constant(tile(scale), [k * 3])), b.constant(tile(shift), [k * 3]));
}
