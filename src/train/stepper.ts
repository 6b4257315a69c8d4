// One optimisation step on ORT: either training graph + optimizer graph (separate) or one fused train-step graph.

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

export type StepMode = 'fused' | 'separate';
export const STEP_MODES: readonly StepMode[] = ['fused', 'separate'];

export interface OptimState {
  params: Params;
  expAvg: Params;
  expAvgSq: Params;
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
    private readonly train: Session,
    private readonly optim: Session | null,
    readonly soft: boolean,
    private readonly trainable: ReturnType<typeof paramTable>,
  ) {}

  static async create(spec: ModelSpec, o: ArtifactOptions, mode: StepMode, threads: number): Promise<Stepper> {
    const meta = artifactMetadata(spec, o);
    if (mode === 'fused') {
      const s = await Session.create(
        serializeModel(trainStepGraph(spec, o), { metadata: meta }),
        TRAIN_SESSION(threads),
      );
      return new Stepper(mode, spec, s, null, Boolean(o.softTargets), trainableParams(spec, o));
    }
    const t = await Session.create(serializeModel(trainingGraph(spec, o), { metadata: meta }), TRAIN_SESSION(threads));
    const opt = await Session.create(
      serializeModel(optimizerGraph(spec, o), { metadata: meta }),
      TRAIN_SESSION(threads),
    );
    return new Stepper(mode, spec, t, opt, Boolean(o.softTargets), trainableParams(spec, o));
  }

  /**
   * Runs forward, backward and AdamW on one batch, replacing the trainable tensors in `state` (frozen ones stay).
   * A soft-target stepper takes `targets` (n×K probabilities) and ignores `labels`; `extra` adds feeds (drop-path masks).
   */
  async step(
    state: OptimState,
    pixels: Uint8Array,
    labels: BigInt64Array,
    n: number,
    lr: number,
    step: number,
    targets?: Float32Array,
    extra?: Record<string, HostTensor>,
  ): Promise<StepResult> {
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
    if (extra) Object.assign(feeds, extra);
    for (const p of table) feeds[p.name] = f32(p.shape, state.params.get(p.name)!);
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
      out = await this.train.run({ ...feeds, ...sched });
      result = { loss: (out['loss']!.data as Float32Array)[0]!, logits: out[LOGITS]!.data as Float32Array };
    } else {
      const fb = await this.train.run(feeds);
      result = { loss: (fb['loss']!.data as Float32Array)[0]!, logits: fb[LOGITS]!.data as Float32Array };
      const of: Record<string, HostTensor> = { ...sched };
      for (const p of this.trainable) {
        of[p.name] = feeds[p.name]!;
        of[`${p.name}_grad`] = fb[`${p.name}_grad`]!;
      }
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
    await this.train.release();
    await this.optim?.release();
  }
}

export function zerosLike(p: Params): Params {
  return new Map([...p].map(([k, v]) => [k, new Float32Array(v.length)]));
}
