// Emits the inference model: uint8 pixels in, logits and probabilities out, weights as initializers.

import { Builder, Graph, serializeModel, type Value } from '../onnx/index.js';
import type { ModelSpec } from './config.js';
import { type ForwardOptions, forward } from './forward.js';
import { LOGITS, PIXELS, PROBABILITIES } from './io-names.js';
import { specMetadata } from './metadata.js';
import { type Params, paramTable } from './params.js';

/** Adds the uint8 [N,H,W,3] `pixels` input and every parameter as a float32 initializer to `g`; returns the input. */
export function mixerGraphInputs(g: Graph, spec: ModelSpec, params: Params): Value {
  const c = spec.config;
  const pixels = g.input(PIXELS, 'uint8', ['N', c.image_size, c.image_size, 3]);
  for (const p of paramTable(c)) {
    const data = params.get(p.name);
    if (!data) throw new Error(`missing parameter ${p.name}`);
    g.initializer(p.name, { dtype: 'float32', dims: p.shape, data });
  }
  return pixels;
}

export function inferenceGraph(spec: ModelSpec, params: Params, o: Pick<ForwardOptions, 'channelTiles'> = {}): Graph {
  const g = new Graph('mixer');
  const b = new Builder(g);
  const pixels = mixerGraphInputs(g, spec, params);
  const logitsRaw = forward(b, spec, pixels, (name) => g.value(name), o);
  const logits = b.identity(logitsRaw, LOGITS);
  g.output(logits);
  g.output(b.softmax(logitsRaw, -1, PROBABILITIES));
  return g;
}

export function buildInferenceModel(
  spec: ModelSpec,
  params: Params,
  extra: Record<string, string> = {},
  o: Pick<ForwardOptions, 'channelTiles'> = {},
): Uint8Array {
  return serializeModel(inferenceGraph(spec, params, o), {
    metadata: { ...specMetadata(spec), ...extra },
    docString: 'MLP-Mixer image classifier',
  });
}
