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
}

/** Exact GELU as 0.5·x·(1 + erf(x/√2)), the pattern ORT fuses into one Gelu kernel. */
export function gelu(b: Builder, x: Value): Value {
  const e = b.erf(b.div(x, b.scalar(Math.SQRT2)));
  return b.mul(b.mul(x, b.add(e, b.scalar(1))), b.scalar(0.5));
}

/** uint8 [N,H,W,3] → float [N,H,W,3] scaled to [0,1] and normalised by mean/std, in one Mul + Add. */
export function normalizePixels(b: Builder, spec: ModelSpec, pixels: Value): Value {
  const scale = spec.std.map((s) => 1 / (255 * s));
  const shift = spec.mean.map((m, i) => -m / spec.std[i]!);
  return b.add(b.mul(b.cast(pixels, 'float32'), b.constant(scale, [3])), b.constant(shift, [3]));
}

/** Returns the logits [N, K] for uint8 pixels [N, H, W, 3]; `param(name)` supplies each timm-named parameter. */
export function forward(b: Builder, spec: ModelSpec, pixels: Value, param: (name: string) => Value, o: ForwardOptions = {}): Value {
  const c = spec.config;
  const p = c.patch_size;
  const G = c.image_size / p;
  const S = numTokens(c);
  const C = c.hidden_dim;
  const NS = 'N*' + S;
  const linear = (x: Value, prefix: string) => b.gemm(x, param(`${prefix}.weight`), param(`${prefix}.bias`), { transB: true });
  const norm = (x: Value, prefix: string) =>
    b.layerNorm(x, param(`${prefix}.weight`), param(`${prefix}.bias`), { axis: -1, epsilon: c.norm_eps, stats: o.layerNormStats ?? false })[0]!;

  // Stem: the stride-p conv as patchify + one GEMM. Patch vectors are ordered (channel, row, col) like the conv kernel.
  const x0 = normalizePixels(b, spec, pixels);
  const patches = b.reshape(b.transpose(b.reshape(x0, ['N', G, p, G, p, 3]), [0, 1, 3, 5, 2, 4]), [NS, 3 * p * p]);
  const stemW = b.reshape(param('stem.proj.weight'), [C, 3 * p * p]);
  let x = b.gemm(patches, stemW, param('stem.proj.bias'), { transB: true }); // [N*S, C]

  for (let i = 0; i < c.depth; i++) {
    const blk = `blocks.${i}`;
    // Token mixing: W1 [D_S,S] @ LN(x) [N,S,C] → [N,D_S,C]; the MLP acts along tokens with no transposes.
    const h = b.reshape(norm(x, `${blk}.norm1`), ['N', S, C]);
    const t1 = b.add(b.matmul(param(`${blk}.mlp_tokens.fc1.weight`), h), b.reshape(param(`${blk}.mlp_tokens.fc1.bias`), [c.tokens_mlp_dim, 1]));
    const t2 = b.add(b.matmul(param(`${blk}.mlp_tokens.fc2.weight`), gelu(b, t1)), b.reshape(param(`${blk}.mlp_tokens.fc2.bias`), [S, 1]));
    const mt = o.dropPath?.(i, 'tokens') ?? null;
    x = b.add(x, b.reshape(mt ? b.mul(t2, b.reshape(mt, ['N', 1, 1])) : t2, [NS, C]));
    // Channel mixing on [N*S, C].
    const ch = linear(gelu(b, linear(norm(x, `${blk}.norm2`), `${blk}.mlp_channels.fc1`)), `${blk}.mlp_channels.fc2`);
    const mc = o.dropPath?.(i, 'channels') ?? null;
    x = b.add(x, mc ? b.reshape(b.mul(b.reshape(ch, ['N', S, C]), b.reshape(mc, ['N', 1, 1])), [NS, C]) : ch);
  }
  const pooled = b.reduceMean(b.reshape(norm(x, 'norm'), ['N', S, C]), [1], false); // [N, C]
  return linear(pooled, 'head');
}
