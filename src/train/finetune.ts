// --init: start training from given weights (our checkpoint or a timm MlpMixer state_dict), optionally with a fresh head.

import { readSafetensors, type StTensor } from '../formats/safetensors.js';
import {
  defaultSpec,
  initParams,
  type MixerConfig,
  type ModelSpec,
  type Params,
  paramTable,
  specFromMetadata,
} from '../model/index.js';
import { UsageError } from '../util/errors.js';
import { configFromShapes } from './checkpoint.js';

const HEAD = ['head.weight', 'head.bias'];

/** The model config stored in (or inferred from the shapes of) a checkpoint, for --init without model flags. */
export async function initConfig(path: string): Promise<MixerConfig> {
  const { tensors, metadata } = await readSafetensors(path);
  return metadata['mixer.config'] ? specFromMetadata(metadata).config : defaultSpec(configFromShapes(tensors)).config;
}

function asF32(name: string, s: StTensor, path: string): Float32Array {
  if (s.data instanceof Float32Array) return Float32Array.from(s.data);
  if (s.data instanceof Float64Array) return Float32Array.from(s.data);
  throw new UsageError(`--init ${path}: tensor '${name}' has dtype ${s.dtype}; expected F32`);
}

/**
 * Initial parameters for `spec` from the checkpoint at `path`. Every tensor must match the config's shape; the first that
 * does not is named. With `resetHead` the classifier (head.weight, head.bias) is freshly initialised instead of loaded.
 */
export async function loadInitParams(
  path: string,
  spec: ModelSpec,
  o: { resetHead: boolean; seed: number },
): Promise<Params> {
  const { tensors } = await readSafetensors(path);
  const fresh = initParams(spec.config, o.seed);
  const out: Params = new Map();
  for (const p of paramTable(spec.config)) {
    if (o.resetHead && HEAD.includes(p.name)) {
      out.set(p.name, fresh.get(p.name)!);
      continue;
    }
    const t = tensors.get(p.name);
    if (!t)
      throw new UsageError(
        `--init ${path}: parameter '${p.name}' is missing (not an MlpMixer checkpoint of this depth?)`,
      );
    if (t.shape.join(',') !== p.shape.join(',')) {
      const hint = HEAD.includes(p.name)
        ? `: the checkpoint has ${t.shape[0]} classes and the data ${spec.config.num_classes}; add --reset-head to start a new classifier`
        : ': pass the model flags the checkpoint was trained with (or none, to take its config)';
      throw new UsageError(
        `--init ${path}: '${p.name}' has shape [${t.shape.join(', ')}] but the model needs [${p.shape.join(', ')}]${hint}`,
      );
    }
    out.set(p.name, asF32(p.name, t, path));
  }
  return out;
}
