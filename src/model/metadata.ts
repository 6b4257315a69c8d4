// The `mixer.*` metadata shared by every emitted graph and checkpoint, and its parsing back into a ModelSpec.
import { ConfigError, type ModelSpec, validateConfig } from './config.js';

export function specMetadata(spec: ModelSpec): Record<string, string> {
  return {
    'mixer.config': JSON.stringify(spec.config),
    'mixer.labels': JSON.stringify(spec.labels),
    'mixer.mean': JSON.stringify(spec.mean),
    'mixer.std': JSON.stringify(spec.std),
  };
}

/** The message of a model without onnx-mixer's metadata (other tools may add what to do instead). */
export const NOT_OURS = 'not a model written by onnx-mixer';

function json(meta: Record<string, string>, key: string): unknown {
  const s = meta[key];
  if (s === undefined) throw new ConfigError(`metadata '${key}' is missing: ${NOT_OURS}`);
  try {
    return JSON.parse(s);
  } catch {
    throw new ConfigError(`metadata '${key}' is not valid JSON`);
  }
}

function triple(v: unknown, key: string): [number, number, number] {
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number'))
    throw new ConfigError(`metadata '${key}' must be 3 numbers`);
  return [v[0] as number, v[1] as number, v[2] as number];
}

export function specFromMetadata(meta: Record<string, string>): ModelSpec {
  const config = validateConfig(json(meta, 'mixer.config') as Record<string, unknown>);
  const labels = json(meta, 'mixer.labels');
  if (!Array.isArray(labels) || labels.length !== config.num_classes || !labels.every((l) => typeof l === 'string')) {
    throw new ConfigError(`metadata 'mixer.labels' must be ${config.num_classes} strings`);
  }
  return {
    config,
    labels,
    mean: triple(json(meta, 'mixer.mean'), 'mixer.mean'),
    std: triple(json(meta, 'mixer.std'), 'mixer.std'),
  };
}
