// What the metadata, configuration and statistics calls answer about a loaded version, in the v2/Triton field names every protocol uses.
import path from 'node:path';
import type { VersionPolicy } from '../repository/config-file.js';
import type { ModelInstance } from '../repository/instance.js';
import type { InferenceStats } from '../stats.js';
import { tensorMetadata, V2_TYPES, v2Shape } from './datatypes.js';

/** v2 model metadata of a loaded version; `versions` are the model's ready versions. */
export function modelMetadata(m: ModelInstance, versions: readonly string[]) {
  return {
    name: m.name,
    versions: [...versions],
    platform: 'onnxruntime_onnx',
    inputs: m.contract.io.inputs.map(tensorMetadata),
    outputs: m.contract.io.outputs.map(tensorMetadata),
  };
}

/** Triton's config data_type for a tensor element type: TYPE_ + the v2 datatype (BYTES is TYPE_STRING). */
export const tritonType = (v2: string): string => `TYPE_${v2 === 'BYTES' ? 'STRING' : v2}`;

/** A loaded version as Triton's ModelConfig JSON (dims leave out the batch dim when max_batch_size > 0). */
export function modelConfig(m: ModelInstance, batchDelayMs: number) {
  const c = m.contract;
  const maxBatch = m.batchable ? c.maxBatch : 0;
  const dims = (shape: Parameters<typeof v2Shape>[0]) => (maxBatch > 0 ? v2Shape(shape).slice(1) : v2Shape(shape));
  return {
    name: m.name,
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    max_batch_size: maxBatch,
    input: c.io.inputs.map((i) => ({
      name: i.name,
      data_type: tritonType(V2_TYPES[i.type]),
      format: 'FORMAT_NONE',
      dims: dims(i.shape),
    })),
    output: c.io.outputs.map((o) => ({ name: o.name, data_type: tritonType(V2_TYPES[o.type]), dims: dims(o.shape) })),
    ...(maxBatch > 0 ? { dynamic_batching: { max_queue_delay_microseconds: Math.round(batchDelayMs * 1000) } } : {}),
    instance_group: [
      { name: `${m.name}_0`, kind: m.provider === 'cuda' ? 'KIND_GPU' : 'KIND_CPU', count: c.instances },
    ],
    version_policy: versionPolicy(m.configFile.version_policy),
    default_model_filename: path.basename(m.file),
    model_transaction_policy: { decoupled: false },
    response_cache: { enable: m.configFile.response_cache?.enable === true },
  };
}

/**
 * config.json's version_policy in Triton's form (its shorthands spelled out); none set: every version found is
 * served, which is Triton's `all`, not its default of the latest one.
 */
function versionPolicy(p: VersionPolicy | undefined) {
  if (!p || 'all' in p) return { all: {} };
  if ('latest' in p) {
    const v = p.latest;
    return { latest: { num_versions: typeof v === 'number' ? v : v.num_versions } };
  }
  const v = p.specific;
  return { specific: { versions: [...(Array.isArray(v) ? v : v.versions)] } };
}

/** One version's entry of model_stats (Triton's statistics extension: counts and cumulative ns). */
export function modelStats(stats: InferenceStats, name: string, version: number) {
  const s = stats.of(name, version);
  const d = s.inference_stats;
  const zero = { count: 0, ns: 0 };
  return {
    name,
    version: String(version),
    last_inference: s.last_inference,
    inference_count: s.inference_count,
    execution_count: s.execution_count,
    inference_stats: { ...d },
    batch_stats: [...s.batch_stats.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([size, run]) => ({
        batch_size: size,
        compute_input: zero,
        compute_infer: { ...run },
        compute_output: zero,
      })),
    memory_usage: [],
  };
}
