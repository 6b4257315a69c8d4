// What /v1/model, /v1/models and `mixer info` report about a loaded model version: contract, preprocessing, parameters, MACs, batching.
import type { ServerConfig } from '../config.js';
import { countParameters } from '../repository/contract.js';
import type { ModelInstance } from '../repository/instance.js';
import { tensorMetadata, v2Shape } from './datatypes.js';

export function describeInstance(m: ModelInstance, c: Pick<ServerConfig, 'batchDelayMs' | 'maxQueue'>) {
  const k = m.contract;
  const img = k.image;
  const spec = k.mixer ? JSON.parse(k.io.metadata['mixer.config'] ?? 'null') : null;
  const meta = (key: string) => (k.mixer ? (JSON.parse(k.io.metadata[key] ?? 'null') as number[] | null) : null);
  const inInfo = img ? k.io.inputs.find((i) => i.name === img.input)! : null;
  return {
    name: m.name,
    version: String(m.version),
    sha256: m.sha256,
    provider: m.provider,
    config: spec,
    configFile: Object.keys(m.configFile).length > 0 ? m.configFile : null,
    classifier: img !== null,
    ...(img ? {} : { notClassifierReason: k.notImage }),
    labels: m.labels,
    inputSize: img && img.height === img.width ? img.height : null,
    input:
      img && inInfo ? { name: img.input, datatype: img.dtype, shape: v2Shape(inInfo.shape), layout: img.layout } : null,
    preprocessing: img
      ? {
          size: [img.height, img.width],
          channels: img.channels,
          resize: img.resize,
          resizeShorter: img.resizeShorter,
          color: img.color,
          scale: img.dtype === 'float32' ? img.scale : null,
          mean: img.dtype === 'float32' ? img.mean : null,
          std: img.dtype === 'float32' ? img.std : null,
        }
      : null,
    output: img ? { name: img.output, softmax: img.softmax, classes: m.classes } : null,
    inputs: k.io.inputs.map(tensorMetadata),
    outputs: k.io.outputs.map(tensorMetadata),
    parameters: countParameters(k.io),
    macsPerImage: k.io.macs,
    mean: meta('mixer.mean'),
    std: meta('mixer.std'),
    opset: k.io.opset,
    fileBytes: m.fileBytes,
    batching: {
      maxBatch: k.maxBatch,
      fixedBatch: k.fixedBatch,
      batchDelayMs: c.batchDelayMs,
      maxQueue: c.maxQueue,
      workers: k.instances,
      threads: k.threads,
    },
    timings: { loadMs: Math.round(m.timings.loadMs), warmupMs: Math.round(m.timings.warmupMs) },
  };
}

/** A model with every version's state (and what a model picker needs of the ready ones) and its latest ready version. */
export function describeModel(
  name: string,
  versions: { version: number; state: string; reason: string; instance: ModelInstance | null }[],
  error: string | null,
  c: Pick<ServerConfig, 'batchDelayMs' | 'maxQueue'>,
) {
  const latest = [...versions].reverse().find((v) => v.instance);
  return {
    name,
    reason: error,
    versions: versions.map((v) => {
      const img = v.instance?.contract.image ?? null;
      return {
        version: String(v.version),
        state: v.state,
        reason: v.reason,
        // What a model picker needs per version (the page lists every ready image classifier and version).
        ...(v.instance
          ? {
              classifier: img !== null,
              inputSize: img ? [img.height, img.width] : null,
              classes: img ? v.instance.classes : null,
            }
          : {}),
      };
    }),
    latest: latest?.instance ? describeInstance(latest.instance, c) : null,
  };
}
