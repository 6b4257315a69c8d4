// Test-time augmentation in the inference graph: average the logits of the image and its horizontal mirror.

import { Builder, Graph, serializeModel, type Value } from '../onnx/index.js';
import { defaultTiling, inferenceMetadata, mixerGraphInputs, type Tiling } from './build.js';
import type { ModelSpec } from './config.js';
import { forward } from './forward.js';
import { LOGITS, PROBABILITIES } from './io-names.js';
import type { Params } from './params.js';

export type Tta = 'none' | 'flip';
export const TTA_MODES: readonly Tta[] = ['none', 'flip'];

/** uint8 [N,H,W,3] → its left-right mirror, exactly: a MatMul with the W×W anti-identity over small integers. */
export function mirrorPixels(b: Builder, pixels: Value): Value {
  const W = pixels.shape[2] as number;
  const j = Array.from({ length: W * W }, (_, k) => (Math.floor(k / W) + (k % W) === W - 1 ? 1 : 0));
  const x = b.transpose(b.cast(pixels, 'float32'), [0, 1, 3, 2]); // [N,H,3,W]
  const flipped = b.transpose(b.matmul(x, b.constant(j, [W, W])), [0, 1, 3, 2]); // x[..., W-1-w]
  return b.cast(flipped, 'uint8');
}

/** The inference graph whose logits are the mean of the logits of `pixels` and of their mirror (2× the compute). */
export function flipTtaGraph(spec: ModelSpec, params: Params, o: Tiling = defaultTiling(spec.config)): Graph {
  const g = new Graph('mixer');
  const b = new Builder(g);
  const pixels = mixerGraphInputs(g, spec, params);
  const param = (name: string) => g.value(name);
  const a = forward(b, spec, pixels, param, o);
  const m = forward(b, spec, mirrorPixels(b, pixels), param, o);
  const logitsRaw = b.mul(b.add(a, m), b.scalar(0.5));
  g.output(b.identity(logitsRaw, LOGITS));
  g.output(b.softmax(logitsRaw, -1, PROBABILITIES));
  return g;
}

export function buildFlipTtaModel(
  spec: ModelSpec,
  params: Params,
  extra: Record<string, string> = {},
  o: Tiling = defaultTiling(spec.config),
): Uint8Array {
  return serializeModel(flipTtaGraph(spec, params, o), {
    metadata: { ...inferenceMetadata(spec, extra, o), 'mixer.tta': 'flip' },
    docString: 'MLP-Mixer image classifier, logits averaged over the image and its horizontal mirror',
  });
}
