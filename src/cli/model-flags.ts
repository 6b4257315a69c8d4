// Model-shape flags shared by commands that build a model: a preset, --config model.json, and per-dimension overrides.
import { readFileSync } from 'node:fs';
import { DEFAULT_PRESET, type MixerConfig, PRESETS, preset, validateConfig } from '../model/index.js';
import { num, type Options, str, UsageError } from './args.js';
import { type Flag, flagOptions } from './flags.js';

const dimension = (flag: string, help: string): Flag => ({ flag, kind: 'int', arg: 'N', min: 1, help });

/** The flags, for the synopsis; MODEL_FLAGS_HELP documents them together. */
export const MODEL_SHAPE_FLAGS: readonly Flag[] = [
  { flag: 'config', kind: 'string', arg: 'FILE', help: 'a MixerConfig JSON instead of --preset' },
  dimension('image-size', 'image size (divisible by the patch)'),
  dimension('patch-size', 'patch size'),
  dimension('hidden', 'hidden dimension'),
  dimension('depth', 'mixer blocks'),
  dimension('tokens-mlp', 'token-mixing MLP width'),
  dimension('channels-mlp', 'channel-mixing MLP width'),
];

export const MODEL_FLAGS: Options = flagOptions(MODEL_SHAPE_FLAGS);

export const MODEL_FLAGS_HELP = `  --config FILE          a MixerConfig JSON (image_size, patch_size, hidden_dim, depth, tokens_mlp_dim,
                         channels_mlp_dim; num_classes comes from the data) instead of --preset
  --image-size N --patch-size N --hidden N --depth N --tokens-mlp N --channels-mlp N
                         override one dimension of the preset or --config (image size divisible by the patch)`;

const OVERRIDES: [string, keyof MixerConfig][] = [
  ['image-size', 'image_size'],
  ['patch-size', 'patch_size'],
  ['hidden', 'hidden_dim'],
  ['depth', 'depth'],
  ['tokens-mlp', 'tokens_mlp_dim'],
  ['channels-mlp', 'channels_mlp_dim'],
];

/** The config the flags describe, starting from `base` (the preset's by default); one-line UsageError when invalid. */
export function modelConfig(v: Record<string, unknown>, base?: MixerConfig): MixerConfig {
  let c: Record<string, unknown>;
  if (v['config'] !== undefined) {
    const file = str(v, 'config');
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new UsageError(
        `--config ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message.split('\n')[0]}`,
        { cause: e },
      );
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new UsageError(`--config ${file}: expected a JSON object (a MixerConfig)`);
    c = { in_chans: 3, num_classes: 10, norm_eps: 1e-6, ...(parsed as Record<string, unknown>) };
  } else {
    const name = str(v, 'preset', DEFAULT_PRESET);
    if (base === undefined && !Object.hasOwn(PRESETS, name))
      throw new UsageError(`unknown preset "${name}". Should be one of: ${Object.keys(PRESETS).join(', ')}`);
    c = { ...(base ?? preset(name)) };
  }
  for (const [flag, key] of OVERRIDES) if (v[flag] !== undefined) c[key] = num(v, flag, 0, { int: true, min: 1 });
  try {
    return validateConfig(c);
  } catch (e) {
    throw new UsageError(`invalid model shape: ${(e as Error).message}`, { cause: e });
  }
}
