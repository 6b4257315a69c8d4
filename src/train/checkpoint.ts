// Checkpoints as safetensors: timm-named parameters, AdamW moments, the weight EMA, and the mixer.* / training metadata.

import { readSafetensors, SafetensorsError, type StTensor, writeSafetensors } from '../formats/safetensors.js';
import {
  ConfigError,
  defaultSpec,
  type MixerConfig,
  type ModelSpec,
  type Params,
  paramTable,
  specFromMetadata,
  specMetadata,
  validateConfig,
} from '../model/index.js';

/** Where a run stands: the loader reproduces batches from (seed, epoch, stepInEpoch). */
export interface RunPosition {
  step: number;
  epoch: number;
  stepInEpoch: number;
  /** Training wall time so far, summed over resumed runs. */
  wallSeconds: number;
}

export interface Checkpoint {
  spec: ModelSpec;
  params: Params;
  expAvg: Params | null;
  expAvgSq: Params | null;
  /** Exponential moving average of the parameters (`ema.<name>` tensors), when the run keeps one. */
  ema?: Params | null;
  progress: RunPosition;
  hyper: Record<string, unknown>;
  metadata: Record<string, string>;
}

export async function saveCheckpoint(path: string, c: Omit<Checkpoint, 'metadata'>): Promise<void> {
  const t = new Map<string, StTensor>();
  for (const p of paramTable(c.spec.config)) {
    const data = c.params.get(p.name)!;
    t.set(p.name, { dtype: 'F32', shape: p.shape, data });
  }
  if (c.expAvg && c.expAvgSq) {
    for (const p of paramTable(c.spec.config))
      t.set(`optimizer.exp_avg.${p.name}`, { dtype: 'F32', shape: p.shape, data: c.expAvg.get(p.name)! });
    for (const p of paramTable(c.spec.config))
      t.set(`optimizer.exp_avg_sq.${p.name}`, { dtype: 'F32', shape: p.shape, data: c.expAvgSq.get(p.name)! });
  }
  if (c.ema)
    for (const p of paramTable(c.spec.config))
      t.set(`ema.${p.name}`, { dtype: 'F32', shape: p.shape, data: c.ema.get(p.name)! });
  await writeSafetensors(path, t, {
    format: 'pt',
    ...specMetadata(c.spec),
    step: String(c.progress.step),
    epoch: String(c.progress.epoch),
    step_in_epoch: String(c.progress.stepInEpoch),
    wall_seconds: String(c.progress.wallSeconds),
    'mixer.hyperparameters': JSON.stringify(c.hyper),
  });
}

/** Infers a MixerConfig from timm state_dict shapes (for checkpoints without mixer metadata). */
export function configFromShapes(t: Map<string, StTensor>): MixerConfig {
  const shape = (n: string) => {
    const s = t.get(n)?.shape;
    if (!s) throw new ConfigError(`not an MlpMixer state_dict: '${n}' is missing`);
    return s;
  };
  const [C, , p] = shape('stem.proj.weight') as [number, number, number];
  const [DS, S] = shape('blocks.0.mlp_tokens.fc1.weight') as [number, number];
  const [DC] = shape('blocks.0.mlp_channels.fc1.weight') as [number];
  const [K] = shape('head.weight') as [number];
  let depth = 0;
  while (t.has(`blocks.${depth}.norm1.weight`)) depth++;
  return validateConfig({
    image_size: p * Math.round(Math.sqrt(S)),
    patch_size: p,
    in_chans: 3,
    num_classes: K,
    hidden_dim: C,
    depth,
    tokens_mlp_dim: DS,
    channels_mlp_dim: DC,
    norm_eps: 1e-6,
  });
}

function toF32(name: string, s: StTensor): Float32Array {
  if (s.data instanceof Float32Array) return s.data;
  if (s.data instanceof Float64Array) return Float32Array.from(s.data);
  throw new SafetensorsError(`tensor '${name}' has dtype ${s.dtype}; expected F32`);
}

/** Loads an onnx-mixer checkpoint or a plain timm MlpMixer state_dict saved as safetensors. */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  const { tensors, metadata } = await readSafetensors(path);
  const spec = metadata['mixer.config'] ? specFromMetadata(metadata) : defaultSpec(configFromShapes(tensors));
  const params: Params = new Map();
  const expAvg: Params = new Map();
  const expAvgSq: Params = new Map();
  const ema: Params = new Map();
  for (const p of paramTable(spec.config)) {
    const s = tensors.get(p.name);
    if (!s) throw new SafetensorsError(`${path}: parameter '${p.name}' is missing`);
    if (s.shape.join(',') !== p.shape.join(','))
      throw new SafetensorsError(`${path}: '${p.name}' has shape [${s.shape}] but the config needs [${p.shape}]`);
    params.set(p.name, toF32(p.name, s));
    const m = tensors.get(`optimizer.exp_avg.${p.name}`);
    const v = tensors.get(`optimizer.exp_avg_sq.${p.name}`);
    if (m && v) {
      expAvg.set(p.name, toF32(p.name, m));
      expAvgSq.set(p.name, toF32(p.name, v));
    }
    const e = tensors.get(`ema.${p.name}`);
    if (e) {
      if (e.shape.join(',') !== p.shape.join(','))
        throw new SafetensorsError(`${path}: 'ema.${p.name}' has shape [${e.shape}] but the config needs [${p.shape}]`);
      ema.set(p.name, toF32(`ema.${p.name}`, e));
    }
  }
  if (ema.size > 0 && ema.size !== params.size)
    throw new SafetensorsError(`${path}: the EMA has ${ema.size} of ${params.size} parameters`);
  const hasMoments = expAvg.size === params.size;
  let hyper: Record<string, unknown> = {};
  try {
    hyper = JSON.parse(metadata['mixer.hyperparameters'] ?? '{}') as Record<string, unknown>;
  } catch {
    hyper = {};
  }
  return {
    spec,
    params,
    expAvg: hasMoments ? expAvg : null,
    expAvgSq: hasMoments ? expAvgSq : null,
    ema: ema.size > 0 ? ema : null,
    progress: {
      step: Number(metadata['step'] ?? 0),
      epoch: Number(metadata['epoch'] ?? 0),
      stepInEpoch: Number(metadata['step_in_epoch'] ?? 0),
      wallSeconds: Number(metadata['wall_seconds'] ?? 0),
    },
    hyper,
    metadata,
  };
}
