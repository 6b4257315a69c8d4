// The parameter table: timm MlpMixer state_dict names, shapes and initialisation, and seeded init.
import { Rng } from '../util/rng.js';
import { type MixerConfig, numTokens } from './config.js';

export type Init = 'xavier' | 'lecun' | 'mlp_bias' | 'zeros' | 'ones';

export interface ParamSpec {
  name: string;
  shape: number[];
  init: Init;
}

/** Parameters in timm's state_dict order. S = tokens, C = hidden, D_S / D_C = MLP widths, K = classes, p = patch. */
export function paramTable(c: MixerConfig): ParamSpec[] {
  const S = numTokens(c);
  const C = c.hidden_dim;
  const p = c.patch_size;
  const t: ParamSpec[] = [
    { name: 'stem.proj.weight', shape: [C, c.in_chans, p, p], init: 'lecun' },
    { name: 'stem.proj.bias', shape: [C], init: 'zeros' },
  ];
  for (let i = 0; i < c.depth; i++) {
    const b = `blocks.${i}`;
    t.push(
      { name: `${b}.norm1.weight`, shape: [C], init: 'ones' },
      { name: `${b}.norm1.bias`, shape: [C], init: 'zeros' },
      { name: `${b}.mlp_tokens.fc1.weight`, shape: [c.tokens_mlp_dim, S], init: 'xavier' },
      { name: `${b}.mlp_tokens.fc1.bias`, shape: [c.tokens_mlp_dim], init: 'mlp_bias' },
      { name: `${b}.mlp_tokens.fc2.weight`, shape: [S, c.tokens_mlp_dim], init: 'xavier' },
      { name: `${b}.mlp_tokens.fc2.bias`, shape: [S], init: 'mlp_bias' },
      { name: `${b}.norm2.weight`, shape: [C], init: 'ones' },
      { name: `${b}.norm2.bias`, shape: [C], init: 'zeros' },
      { name: `${b}.mlp_channels.fc1.weight`, shape: [c.channels_mlp_dim, C], init: 'xavier' },
      { name: `${b}.mlp_channels.fc1.bias`, shape: [c.channels_mlp_dim], init: 'mlp_bias' },
      { name: `${b}.mlp_channels.fc2.weight`, shape: [C, c.channels_mlp_dim], init: 'xavier' },
      { name: `${b}.mlp_channels.fc2.bias`, shape: [C], init: 'mlp_bias' },
    );
  }
  t.push(
    { name: 'norm.weight', shape: [C], init: 'ones' },
    { name: 'norm.bias', shape: [C], init: 'zeros' },
    { name: 'head.weight', shape: [c.num_classes, C], init: 'zeros' },
    { name: 'head.bias', shape: [c.num_classes], init: 'zeros' },
  );
  return t;
}

export function paramCount(c: MixerConfig): number {
  return paramTable(c).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
}

export type Params = Map<string, Float32Array>;

/** Deterministic timm-style initialisation for a seed. */
export function initParams(c: MixerConfig, seed: number): Params {
  const rng = new Rng(seed);
  const out: Params = new Map();
  for (const p of paramTable(c)) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const a = new Float32Array(n);
    const fanOut = p.shape[0]!;
    const fanIn = n / fanOut;
    switch (p.init) {
      case 'xavier': {
        const bound = Math.sqrt(6 / (fanIn + fanOut));
        for (let i = 0; i < n; i++) a[i] = rng.uniform(-bound, bound);
        break;
      }
      case 'lecun': {
        // timm lecun_normal_: truncated normal on [-2σ, 2σ], σ corrected for the truncation
        const std = Math.sqrt(1 / fanIn) / 0.8796256610342398;
        for (let i = 0; i < n; i++) a[i] = rng.truncatedNormal() * std;
        break;
      }
      case 'mlp_bias':
        for (let i = 0; i < n; i++) a[i] = rng.normal() * 1e-6;
        break;
      case 'ones':
        a.fill(1);
        break;
      case 'zeros':
        break;
    }
    out.set(p.name, a);
  }
  return out;
}

/** Fills every parameter with random values (tests: the head is zero at init). */
export function randomParams(c: MixerConfig, seed: number, scale = 0.5): Params {
  const rng = new Rng(seed);
  const out: Params = new Map();
  for (const p of paramTable(c)) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const fan = n / p.shape[0]!;
    const s = p.shape.length === 1 ? 0.3 : scale / Math.sqrt(fan);
    const base = p.init === 'ones' ? 1 : 0;
    out.set(
      p.name,
      Float32Array.from({ length: n }, () => base + rng.normal() * s),
    );
  }
  return out;
}
