// Emits the inference model: uint8 pixels in, logits and probabilities out, weights as initializers.

import { Builder, Graph, serializeModel, type Value } from '../onnx/index.js';
import { type MixerConfig, type ModelSpec, numTokens } from './config.js';
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

/** How an inference graph runs its channel MLPs: in `channelTiles` row blocks, for batches of `tileMinBatch` or more. */
export type Tiling = Pick<ForwardOptions, 'channelTiles' | 'tileMinBatch'>;

/** Batches from this size up run tiled by default (measured: tiling pays at 16 and beyond, costs at 1). */
export const TILE_MIN_BATCH = 16;

/**
 * The inference graphs' default: the largest divisor of the token count up to 8 (8 for 64 tokens, 7 for 196), for
 * batches of 16 or more; one block for smaller batches, and for models whose token count has no such divisor.
 */
export function defaultTiling(c: MixerConfig): Required<Tiling> {
  const S = numTokens(c);
  let k = 8;
  while (S % k !== 0) k--;
  return { channelTiles: k, tileMinBatch: TILE_MIN_BATCH };
}

/** The `mixer.channel_tiles` metadata of a tiled graph, e.g. {"tiles":8,"min_batch":16}; none when untiled. */
export function tilingMetadata(o: Tiling): Record<string, string> {
  return (o.channelTiles ?? 1) > 1
    ? { 'mixer.channel_tiles': JSON.stringify({ tiles: o.channelTiles, min_batch: o.tileMinBatch ?? 1 }) }
    : {};
}

export function inferenceGraph(spec: ModelSpec, params: Params, o: Tiling = defaultTiling(spec.config)): Graph {
  const g = new Graph('mixer');
  const b = new Builder(g);
  const pixels = mixerGraphInputs(g, spec, params);
  const logitsRaw = forward(b, spec, pixels, (name) => g.value(name), o);
  const logits = b.identity(logitsRaw, LOGITS);
  g.output(logits);
  g.output(b.softmax(logitsRaw, -1, PROBABILITIES));
  return g;
}

/** An inference model's metadata: the spec's, then `extra` (any stale `mixer.channel_tiles` dropped), then the tiling. */
export function inferenceMetadata(spec: ModelSpec, extra: Record<string, string>, o: Tiling): Record<string, string> {
  const { 'mixer.channel_tiles': _, ...rest } = extra;
  return { ...specMetadata(spec), ...rest, ...tilingMetadata(o) };
}

export function buildInferenceModel(
  spec: ModelSpec,
  params: Params,
  extra: Record<string, string> = {},
  o: Tiling = defaultTiling(spec.config),
): Uint8Array {
  return serializeModel(inferenceGraph(spec, params, o), {
    metadata: inferenceMetadata(spec, extra, o),
    docString: 'MLP-Mixer image classifier',
  });
}
