// AdamW (decoupled weight decay, bias-corrected) as ONNX ops, one update per parameter, torch.optim.AdamW semantics.
import type { Builder, Value } from '../onnx/index.js';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weight_decay: number;
}

export const DEFAULT_ADAMW: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.05 };

/** Per-step scalars shared by every parameter: bias corrections from the 1-based step. */
export function adamwScalars(
  b: Builder,
  o: AdamWConfig,
  lr: Value,
  step: Value,
): { lr: Value; stepSize: Value; bc2Sqrt: Value } {
  // Bias corrections in float64: 1 − β2^t cancels about 8 bits in float32 at small t.
  const t = b.cast(step, 'float64');
  const one = b.scalar(1, 'float64');
  const bc1 = b.sub(one, b.pow(b.scalar(o.beta1, 'float64'), t)); // 1 − β1^t
  const bc2 = b.sub(one, b.pow(b.scalar(o.beta2, 'float64'), t)); // 1 − β2^t
  return {
    lr,
    stepSize: b.cast(b.div(b.cast(lr, 'float64'), bc1), 'float32'), // lr / (1 − β1^t)
    bc2Sqrt: b.cast(b.sqrt(bc2), 'float32'), // √(1 − β2^t)
  };
}

/**
 * Returns [param', m', v'] for one parameter, or for several concatenated into one flat buffer. Weight decay applies
 * only when `decay` (matrices, not norms or biases). `names` names the outputs.
 */
export function adamwUpdate(
  b: Builder,
  o: AdamWConfig,
  s: { lr: Value; stepSize: Value; bc2Sqrt: Value },
  p: Value,
  grad: Value,
  m: Value,
  v: Value,
  decay: boolean,
  names?: { p: string; m: string; v: string },
): [Value, Value, Value] {
  // p ← p·(1 − lr·λ)                       decoupled weight decay
  const pDecayed =
    decay && o.weight_decay > 0 ? b.mul(p, b.sub(b.scalar(1), b.mul(s.lr, b.scalar(o.weight_decay)))) : p;
  // m ← β1·m + (1 − β1)·g                   first moment
  const m2 = b.add(b.mul(m, b.scalar(o.beta1)), b.mul(grad, b.scalar(1 - o.beta1)), names?.m);
  // v ← β2·v + (1 − β2)·g²                  second moment
  const v2 = b.add(b.mul(v, b.scalar(o.beta2)), b.mul(b.mul(grad, grad), b.scalar(1 - o.beta2)), names?.v);
  // denom ← √v / √(1 − β2^t) + ε
  const denom = b.add(b.div(b.sqrt(v2), s.bc2Sqrt), b.scalar(o.eps));
  // p ← p − lr/(1 − β1^t) · m / denom
  const p2 = b.sub(pDecayed, b.mul(s.stepSize, b.div(m2, denom)), names?.p);
  return [p2, m2, v2];
}
