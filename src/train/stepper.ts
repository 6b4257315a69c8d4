// One optimisation step on ORT: one fused train-step graph, training graph + optimizer graph (separate), or the
// training graph on slices of the batch in single-threaded worker sessions + the optimizer graph (parallel).

import { type ModelSpec, type Params, paramTable } from '../model/index.js';
import { LOGITS, PIXELS } from '../model/io-names.js';
import { serializeModel } from '../onnx/index.js';
import { type HostTensor, Session, type SessionOptions } from '../runtime/session.js';
import {
  type ArtifactOptions,
  artifactMetadata,
  optimizerGraph,
  trainableParams,
  trainingGraph,
  trainStepGraph,
} from './artifacts.js';
import { DataParallel } from './data-parallel.js';

export type StepMode = 'fused' | 'separate' | 'parallel';
export const STEP_MODES: readonly StepMode[] = ['fused', 'separate', 'parallel'];

export interface OptimState {
  params: Params;
  expAvg: Params;
  expAvgSq: Params;
}

/** One optimisation step's inputs. The buffers may hold more rows than `size`; only the first `size` are fed. */
export interface StepArgs {
  /** Parameters and AdamW moments; the step replaces the trainable tensors. */
  state: OptimState;
  /** size×H×W×3 uint8 pixels. */
  pixels: Uint8Array;
  /** Class indices (hard-target steppers). */
  labels: BigInt64Array;
  /** Rows in this batch. */
  size: number;
  learningRate: number;
  /** The 1-based optimizer step (AdamW bias correction). */
  step: number;
  /** size×K target probabilities (soft-target steppers: mixup, cutmix). */
  targets?: Float32Array | undefined;
  /** More feeds with the batch as their first dimension (drop-path masks). */
  extraFeeds?: Record<string, HostTensor> | undefined;
}

export interface StepResult {
  loss: number;
  logits: Float32Array;
}

const f32 = (dims: readonly number[], data: Float32Array): HostTensor => ({ dtype: 'float32', dims, data });

/** Training sessions run without ORT's memory pattern (see SessionOptions.memPattern): half the peak memory. */
const TRAIN_SESSION = (threads: number): SessionOptions => ({ threads, memPattern: false });

export class Stepper {
  private constructor(
    readonly mode: StepMode,
    private readonly spec: ModelSpec,
    /** The fused or training graph's session; null in parallel mode. */
    private readonly train: Session | null,
    private readonly optim: Session | null,
    readonly soft: boolean,
    private readonly trainable: ReturnType<typeof paramTable>,
    private readonly parallel: DataParallel | null = null,
  ) {}

  static async create(spec: ModelSpec, opts: ArtifactOptions, mode: StepMode, threads: number): Promise<Stepper> {
    const meta = artifactMetadata(spec, opts);
    if (mode === 'fused') {
      const s = await Session.create(
        serializeModel(trainStepGraph(spec, opts), { metadata: meta }),
        TRAIN_SESSION(threads),
      );
      return new Stepper(mode, spec, s, null, Boolean(opts.softTargets), trainableParams(spec, opts));
    }
    const training = serializeModel(trainingGraph(spec, opts), { metadata: meta });
    const opt = await Session.create(
      serializeModel(optimizerGraph(spec, opts), { metadata: meta }),
      TRAIN_SESSION(threads),
    );
    const trainable = trainableParams(spec, opts);
    if (mode === 'parallel') {
      const dp = await DataParallel.create(training, threads);
      return new Stepper(mode, spec, null, opt, Boolean(opts.softTargets), trainable, dp);
    }
    const t = await Session.create(training, TRAIN_SESSION(threads));
    return new Stepper(mode, spec, t, opt, Boolean(opts.softTargets), trainable);
  }

  /**
   * Runs forward, backward and AdamW on one batch, replacing the trainable tensors in `state` (frozen ones stay).
   * A soft-target stepper takes `targets` and ignores `labels`.
   */
  async step(args: StepArgs): Promise<StepResult> {
    const { state, pixels, labels, size: n, learningRate: lr, step, targets, extraFeeds: extra } = args;
    const c = this.spec.config;
    const table = paramTable(c);
    const feeds: Record<string, HostTensor> = {
      [PIXELS]: {
        dtype: 'uint8',
        dims: [n, c.image_size, c.image_size, 3],
        data: pixels.subarray(0, n * c.image_size * c.image_size * 3),
      },
    };
    if (this.soft) {
      if (!targets || targets.length < n * c.num_classes)
        throw new Error(`soft-target step needs ${n}×${c.num_classes} targets`);
      feeds['targets'] = f32([n, c.num_classes], targets.subarray(0, n * c.num_classes));
    } else {
      feeds['labels'] = { dtype: 'int64', dims: [n], data: labels.subarray(0, n) };
    }
    // Everything so far has the batch as its first dimension (drop-path masks are [n] too); the parameters do not.
    if (extra) Object.assign(feeds, extra);
    const perRow = { ...feeds };
    const params: Record<string, HostTensor> = {};
    for (const p of table) params[p.name] = f32(p.shape, state.params.get(p.name)!);
    Object.assign(feeds, params);
    const sched: Record<string, HostTensor> = {
      learning_rate: f32([], Float32Array.of(lr)),
      step: { dtype: 'int64', dims: [], data: BigInt64Array.of(BigInt(step)) },
    };
    for (const p of this.trainable) {
      sched[`${p.name}.exp_avg`] = f32(p.shape, state.expAvg.get(p.name)!);
      sched[`${p.name}.exp_avg_sq`] = f32(p.shape, state.expAvgSq.get(p.name)!);
    }
    let out: Record<string, HostTensor>;
    let result: StepResult;
    if (this.optim === null) {
      out = await this.train!.run({ ...feeds, ...sched });
      result = { loss: (out['loss']!.data as Float32Array)[0]!, logits: out[LOGITS]!.data as Float32Array };
    } else {
      const of: Record<string, HostTensor> = { ...sched };
      if (this.parallel) {
        const names = this.trainable.map((p) => p.name);
        const g = await this.parallel.run(n, perRow, params, names);
        result = { loss: g.loss, logits: g.logits };
        for (const p of this.trainable) of[`${p.name}_grad`] = f32(p.shape, g.grads.get(p.name)!);
      } else {
        const fb = await this.train!.run(feeds);
        result = { loss: (fb['loss']!.data as Float32Array)[0]!, logits: fb[LOGITS]!.data as Float32Array };
        for (const p of this.trainable) of[`${p.name}_grad`] = fb[`${p.name}_grad`]!;
      }
      for (const p of this.trainable) of[p.name] = params[p.name]!;
      out = await this.optim.run(of);
    }
    for (const p of this.trainable) {
      state.params.set(p.name, out[`${p.name}.updated`]!.data as Float32Array);
      state.expAvg.set(p.name, out[`${p.name}.exp_avg.updated`]!.data as Float32Array);
      state.expAvgSq.set(p.name, out[`${p.name}.exp_avg_sq.updated`]!.data as Float32Array);
    }
    return result;
  }

  async release(): Promise<void> {
    await this.train?.release();
    await this.optim?.release();
    await this.parallel?.close();
  }
}

export function zerosLike(p: Params): Params {
  return new Map([...p].map(([k, v]) => [k, new Float32Array(v.length)]));
}
