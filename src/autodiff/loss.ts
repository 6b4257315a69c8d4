// Mean softmax cross-entropy: hard labels with label smoothing fixed at build time, or soft (probability) targets.
import type { Builder, Value } from '../onnx/index.js';

/** loss = −mean_n Σ_k t[n,k]·log_softmax(logits)[n,k], with t = (1−ε)·onehot + ε/K. */
export function crossEntropy(b: Builder, logits: Value, labels: Value, smoothing: number): Value {
  if (!(smoothing >= 0 && smoothing < 1)) throw new RangeError(`label smoothing must be in [0, 1), got ${smoothing}`);
  const K = logits.shape[1] as number;
  const target = b.oneHot(labels, K, smoothing / K, 1 - smoothing + smoothing / K, logits.dtype);
  return softCrossEntropy(b, logits, target);
}

/** loss = −mean_n Σ_k targets[n,k]·log_softmax(logits)[n,k] (torch's cross_entropy with probability targets). */
export function softCrossEntropy(b: Builder, logits: Value, targets: Value): Value {
  const perSample = b.reduceSum(b.mul(targets, b.logSoftmax(logits, -1)), [1], false);
  return b.neg(b.reduceMean(perSample, [0], false));
}
