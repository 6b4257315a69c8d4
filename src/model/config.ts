// MixerConfig, its validation and the named presets (the contract's `mixer.config` JSON keys).
import { ConfigError } from '../util/errors.js';

export interface MixerConfig {
  image_size: number;
  patch_size: number;
  in_chans: number;
  num_classes: number;
  hidden_dim: number;
  depth: number;
  tokens_mlp_dim: number;
  channels_mlp_dim: number;
  norm_eps: number;
}

/** Everything an emitted model records besides its weights. */
export interface ModelSpec {
  config: MixerConfig;
  labels: string[];
  /** Per-channel mean and std of [0,1]-scaled RGB. */
  mean: [number, number, number];
  std: [number, number, number];
}

/** CIFAR-10 class names, index = label: the default labels of a 10-class model and the classes of the CIFAR-10 readers. */
export const CIFAR10_LABELS = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];
export const CIFAR10_MEAN: [number, number, number] = [0.4914, 0.4822, 0.4465];
export const CIFAR10_STD: [number, number, number] = [0.247, 0.2435, 0.2616];

const base = { image_size: 32, in_chans: 3, num_classes: 10, norm_eps: 1e-6 };

export const PRESETS = {
  'cifar10-s4': { ...base, patch_size: 4, hidden_dim: 128, depth: 8, tokens_mlp_dim: 64, channels_mlp_dim: 512 },
  tiny: { ...base, patch_size: 8, hidden_dim: 32, depth: 2, tokens_mlp_dim: 16, channels_mlp_dim: 128 },
  'cifar10-s2': { ...base, patch_size: 2, hidden_dim: 128, depth: 8, tokens_mlp_dim: 256, channels_mlp_dim: 512 },
  'cifar10-b4': { ...base, patch_size: 4, hidden_dim: 256, depth: 8, tokens_mlp_dim: 128, channels_mlp_dim: 1024 },
} satisfies Record<string, MixerConfig>;

export type PresetName = keyof typeof PRESETS;
export const DEFAULT_PRESET: PresetName = 'cifar10-s4';

export { ConfigError };

export function preset(name: string): MixerConfig {
  if (!Object.hasOwn(PRESETS, name)) {
    throw new ConfigError(`unknown preset "${name}". Should be one of: ${Object.keys(PRESETS).join(', ')}`);
  }
  return { ...PRESETS[name as PresetName] };
}

/** The fields of a MixerConfig, in timm's order (also the keys of the `mixer.config` metadata). */
export const MIXER_CONFIG_KEYS: readonly (keyof MixerConfig)[] = [
  'image_size',
  'patch_size',
  'in_chans',
  'num_classes',
  'hidden_dim',
  'depth',
  'tokens_mlp_dim',
  'channels_mlp_dim',
  'norm_eps',
];

/** Checks a config (e.g. parsed from model metadata) and returns it with keys in contract order. */
export function validateConfig(c: Partial<Record<keyof MixerConfig, unknown>>): MixerConfig {
  const out = {} as MixerConfig;
  for (const k of MIXER_CONFIG_KEYS) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new ConfigError(`config.${k} must be a number, got ${JSON.stringify(v)}`);
    if (k !== 'norm_eps' && (!Number.isInteger(v) || v <= 0))
      throw new ConfigError(`config.${k} must be a positive integer, got ${v}`);
    if (k === 'norm_eps' && !(v > 0)) throw new ConfigError(`config.norm_eps must be positive, got ${v}`);
    out[k] = v;
  }
  if (out.image_size % out.patch_size !== 0) {
    throw new ConfigError(`config.image_size ${out.image_size} is not divisible by patch_size ${out.patch_size}`);
  }
  if (out.in_chans !== 3) throw new ConfigError(`config.in_chans must be 3 (RGB input), got ${out.in_chans}`);
  return out;
}

export function numTokens(c: MixerConfig): number {
  return (c.image_size / c.patch_size) ** 2;
}

export function defaultSpec(config: MixerConfig, labels?: string[]): ModelSpec {
  const l =
    labels ??
    (config.num_classes === 10 ? CIFAR10_LABELS : Array.from({ length: config.num_classes }, (_, i) => `class_${i}`));
  if (l.length !== config.num_classes) throw new ConfigError(`${l.length} labels for ${config.num_classes} classes`);
  return { config, labels: [...l], mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD] };
}

/** Multiply-adds of one forward pass per image (matmuls only). */
export function forwardMacs(c: MixerConfig): number {
  const S = numTokens(c);
  const C = c.hidden_dim;
  const stem = S * C * c.in_chans * c.patch_size ** 2;
  const block = 2 * C * S * c.tokens_mlp_dim + 2 * S * C * c.channels_mlp_dim;
  return stem + c.depth * block + C * c.num_classes;
}
