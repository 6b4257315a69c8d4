// Training artifacts: training, eval and AdamW optimizer graphs (and a fused train step), from the one forward graph.

import { type AdamWConfig, adamwScalars, adamwUpdate, DEFAULT_ADAMW } from '../autodiff/adamw.js';
import { backward } from '../autodiff/backward.js';
import { geluComposite } from '../autodiff/composite.js';
import { crossEntropy, softCrossEntropy } from '../autodiff/loss.js';
import { tiledGeluMlp } from '../autodiff/tiled-mlp.js';
import {
  forward,
  LOGITS,
  type ModelSpec,
  numTokens,
  type ParamSpec,
  PIXELS,
  paramTable,
  specMetadata,
} from '../model/index.js';
import { Builder, Graph, serializeModel, type Value } from '../onnx/index.js';

export interface ArtifactOptions {
  labelSmoothing: number;
  adamw?: AdamWConfig;
  /**
   * Soft targets (MixUp / CutMix): the loss takes the input `targets`, float [N,K], in place of `labels`;
   * label smoothing is then applied by the trainer to the targets, not in the graph.
   */
  softTargets?: boolean;
  /** Stochastic depth rate of the last block (timm's drop_path_rate; linear from 0 at block 0): mask inputs in training graphs. */
  dropPath?: number;
  /** Parameters kept fixed (--freeze): still graph inputs, but no gradients, optimizer state or updates. */
  frozen?: ReadonlySet<string>;
  /**
   * Graphs with a backward pass run each channel MLP on this many row tiles (a divisor of the token count), with a
   * hand-written gradient (tiledGeluMlp): the same values bit for bit, less memory traffic. 1: untiled. Default:
   * tiles of TOKENS_PER_TILE tokens (all images of the batch) where that divides the token count, else 1.
   */
  channelTiles?: number;
}

/** Tokens per channel-MLP tile in training graphs by default: cifar10-s4 (64 tokens) at batch 128, 8 tiles of 1,024 rows. */
export const TOKENS_PER_TILE = 8;

/** The channel-MLP tiles a training graph uses for `spec` (see ArtifactOptions.channelTiles). */
export function trainingChannelTiles(spec: ModelSpec, opts: Pick<ArtifactOptions, 'channelTiles'>): number {
  const S = numTokens(spec.config);
  const k = opts.channelTiles ?? (S > TOKENS_PER_TILE && S % TOKENS_PER_TILE === 0 ? S / TOKENS_PER_TILE : 1);
  if (!Number.isInteger(k) || k < 1 || S % k !== 0)
    throw new RangeError(`channel tiles ${k} must be a positive divisor of the ${S} tokens`);
  return k;
}

/** The parameters an optimizer step updates: all but the frozen ones, in table order. */
export function trainableParams(spec: ModelSpec, opts: Pick<ArtifactOptions, 'frozen'>): ReturnType<typeof paramTable> {
  return paramTable(spec.config).filter((p) => !opts.frozen?.has(p.name));
}

/** Per-block drop rates, linear from 0 to `rate` over the blocks (timm's dpr). */
export function dropPathRates(depth: number, rate: number): number[] {
  return Array.from({ length: depth }, (_, i) => (depth > 1 ? (rate * i) / (depth - 1) : rate));
}

/** The mask input of one residual branch: float [N], 0 or 1/(1 − rate) per sample. */
export function dropPathInput(block: number, branch: 'tokens' | 'channels'): string {
  return `drop_path.${block}.${branch}`;
}

interface TrainGraph {
  g: Graph;
  b: Builder;
  params: Value[];
  loss: Value;
  logits: Value;
}

/** pixels, labels (or soft targets) and one input per parameter, then forward + loss. */
function lossGraph(spec: ModelSpec, opts: ArtifactOptions, name: string, stats: boolean, masks = false): TrainGraph {
  const g = new Graph(name);
  const b = new Builder(g);
  const c = spec.config;
  const pixels = g.input(PIXELS, 'uint8', ['N', c.image_size, c.image_size, 3]);
  const labels = opts.softTargets
    ? g.input('targets', 'float32', ['N', c.num_classes])
    : g.input('labels', 'int64', ['N']);
  const params = paramTable(c).map((p) => g.input(p.name, 'float32', p.shape));
  const rates = masks && opts.dropPath ? dropPathRates(c.depth, opts.dropPath) : null;
  const dropPath = rates
    ? (i: number, br: 'tokens' | 'channels') => (rates[i]! > 0 ? g.input(dropPathInput(i, br), 'float32', ['N']) : null)
    : undefined;
  // Graphs with a backward pass (stats) keep LayerNorm's statistics and use the GELU with a hand-written gradient,
  // and the channel MLPs on row tiles (also with a hand-written gradient).
  const tiles = stats ? trainingChannelTiles(spec, opts) : 1;
  const trainable = (v: Value) => !opts.frozen?.has(v.name);
  const channelMlp = (b: Builder, h: Value, prefix: string) =>
    tiledGeluMlp(
      b,
      h,
      {
        w1: g.value(`${prefix}.fc1.weight`),
        b1: g.value(`${prefix}.fc1.bias`),
        w2: g.value(`${prefix}.fc2.weight`),
        b2: g.value(`${prefix}.fc2.bias`),
      },
      tiles,
      numTokens(c) === tiles ? 'N' : `N*${numTokens(c) / tiles}`,
      trainable,
    );
  const logitsRaw = forward(b, spec, pixels, (n) => g.value(n), {
    layerNormStats: stats,
    ...(stats ? { gelu: geluComposite } : {}),
    ...(tiles > 1 ? { layers: { channelMlp } } : {}),
    ...(dropPath ? { dropPath } : {}),
  });
  const ce = opts.softTargets
    ? softCrossEntropy(b, logitsRaw, labels)
    : crossEntropy(b, logitsRaw, labels, opts.labelSmoothing);
  const loss = b.identity(ce, 'loss');
  const logits = b.identity(logitsRaw, LOGITS);
  return { g, b, params, loss, logits };
}

export function trainingGraph(spec: ModelSpec, opts: ArtifactOptions): Graph {
  const t = lossGraph(spec, opts, 'mixer_training', true, true);
  const wrt = t.params.filter((p) => !opts.frozen?.has(p.name));
  const grads = backward(t.b, t.loss, wrt);
  t.g.output(t.loss);
  t.g.output(t.logits);
  for (const p of wrt) t.g.output(t.b.identity(grads.get(p.name)!, `${p.name}_grad`));
  return t.g;
}

export function evalGraph(spec: ModelSpec, opts: ArtifactOptions): Graph {
  const t = lossGraph(spec, opts, 'mixer_eval', false);
  t.g.output(t.loss);
  t.g.output(t.logits);
  return t.g;
}

/** Parameters with weight decay: matrices and the conv kernel, not norms or biases. */
export function decays(shape: readonly number[]): boolean {
  return shape.length > 1;
}

/**
 * The AdamW step of every trainable parameter, added to `g`: inputs learning_rate, step and each parameter's moments
 * (`<name>.exp_avg`, `<name>.exp_avg_sq`); outputs the updated parameter and moments. `param` and `grad` give each
 * parameter's value and gradient (graph inputs of the optimizer graph, or values of the fused train step), called in
 * that order just before its moments are declared.
 *
 * The update runs on flat buffers, one per group (with and without weight decay): the parameters, gradients and
 * moments of a group are concatenated, updated by one chain of elementwise ops and split back. Per element it is the
 * same arithmetic as a per-parameter update (bit for bit), in about 30 nodes instead of 14 per parameter.
 */
function adamwStep(
  g: Graph,
  b: Builder,
  spec: ModelSpec,
  opts: ArtifactOptions,
  param: (p: ParamSpec) => Value,
  grad: (p: ParamSpec) => Value,
): void {
  const cfg = opts.adamw ?? DEFAULT_ADAMW;
  const lr = g.input('learning_rate', 'float32', []);
  const step = g.input('step', 'int64', []);
  const s = adamwScalars(b, cfg, lr, step);
  const table = trainableParams(spec, opts);
  const state = table.map((p) => {
    const pv = param(p);
    const gv = grad(p);
    return {
      p,
      pv,
      gv,
      m: g.input(`${p.name}.exp_avg`, 'float32', p.shape),
      v: g.input(`${p.name}.exp_avg_sq`, 'float32', p.shape),
    };
  });
  const updated = new Map<string, [Value, Value, Value]>();
  for (const decay of [true, false]) {
    const group = state.filter((x) => decays(x.p.shape) === decay);
    if (group.length === 0) continue;
    const sizes = group.map((x) => x.p.shape.reduce((a, d) => a * d, 1));
    const flat = (vs: Value[]): Value =>
      vs.length === 1
        ? b.reshape(vs[0]!, [sizes[0]!])
        : b.concat(
            vs.map((v, i) => b.reshape(v, [sizes[i]!])),
            0,
          );
    const outs = adamwUpdate(
      b,
      cfg,
      s,
      flat(group.map((x) => x.pv)),
      flat(group.map((x) => x.gv)),
      flat(group.map((x) => x.m)),
      flat(group.map((x) => x.v)),
      decay,
    );
    const pieces = outs.map((x) => (group.length === 1 ? [x] : b.split(x, 0, sizes)));
    group.forEach((x, i) => {
      updated.set(x.p.name, [0, 1, 2].map((k) => pieces[k]![i]!) as [Value, Value, Value]);
    });
  }
  for (const { p } of state) {
    const [pv, m, v] = updated.get(p.name)!;
    g.output(b.reshape(pv, p.shape, `${p.name}.updated`));
    g.output(b.reshape(m, p.shape, `${p.name}.exp_avg.updated`));
    g.output(b.reshape(v, p.shape, `${p.name}.exp_avg_sq.updated`));
  }
}

export function optimizerGraph(spec: ModelSpec, opts: ArtifactOptions): Graph {
  const g = new Graph('mixer_optimizer');
  adamwStep(
    g,
    new Builder(g),
    spec,
    opts,
    (p) => g.input(p.name, 'float32', p.shape),
    (p) => g.input(`${p.name}_grad`, 'float32', p.shape),
  );
  return g;
}

/** Forward + backward + AdamW in one graph: inputs as training + optimizer, outputs loss, logits and updated state. */
export function trainStepGraph(spec: ModelSpec, opts: ArtifactOptions): Graph {
  const t = lossGraph(spec, opts, 'mixer_train_step', true, true);
  const { g, b } = t;
  const grads = backward(
    b,
    t.loss,
    t.params.filter((p) => !opts.frozen?.has(p.name)),
  );
  g.output(t.loss);
  g.output(t.logits);
  adamwStep(
    g,
    b,
    spec,
    opts,
    (p) => g.value(p.name),
    (p) => grads.get(p.name)!,
  );
  return g;
}

export function artifactMetadata(spec: ModelSpec, opts: ArtifactOptions): Record<string, string> {
  return {
    ...specMetadata(spec),
    'mixer.optimizer': JSON.stringify({
      name: 'adamw',
      ...(opts.adamw ?? DEFAULT_ADAMW),
      no_decay: '1-D parameters (norms, biases)',
    }),
    'mixer.label_smoothing': String(opts.labelSmoothing),
    ...(opts.dropPath
      ? {
          'mixer.drop_path': JSON.stringify({
            rate: opts.dropPath,
            inputs: 'drop_path.<block>.<tokens|channels> float [N]: 0 or 1/(1 − rate_block)',
          }),
        }
      : {}),
    ...(opts.softTargets
      ? { 'mixer.targets': 'soft: float [N,K] input `targets`, label smoothing applied by the trainer' }
      : {}),
    ...(opts.frozen?.size ? { 'mixer.frozen': JSON.stringify([...opts.frozen]) } : {}),
  };
}

export interface Artifacts {
  training: Uint8Array;
  eval: Uint8Array;
  optimizer: Uint8Array;
  trainStep: Uint8Array;
}

export function buildArtifacts(spec: ModelSpec, opts: ArtifactOptions): Artifacts {
  const metadata = artifactMetadata(spec, opts);
  return {
    training: serializeModel(trainingGraph(spec, opts), {
      metadata,
      docString: 'MLP-Mixer training graph: loss, logits and gradients',
    }),
    eval: serializeModel(evalGraph(spec, opts), { metadata, docString: 'MLP-Mixer eval graph: loss and logits' }),
    optimizer: serializeModel(optimizerGraph(spec, opts), { metadata, docString: 'AdamW optimizer step' }),
    trainStep: serializeModel(trainStepGraph(spec, opts), {
      metadata,
      docString: 'Fused forward + backward + AdamW step',
    }),
  };
}
