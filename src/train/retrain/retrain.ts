// `mixer retrain`: fine-tune a repository model's newest version on its feedback plus replayed training data, gate the candidate, and write it as the next version only when it passes.
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type ImageDataset, imageBytes } from '../../data/dataset.js';
import { buildInferenceModel } from '../../model/index.js';
import { LOGITS, PIXELS } from '../../model/io-names.js';
import { Session } from '../../runtime/session.js';
import { UsageError } from '../../util/errors.js';
import { argmax } from '../../util/rank.js';
import { evaluate } from '../evaluate.js';
import { loadRetrainData } from './data.js';
import { fineTune } from './finetune.js';
import { accuracy, type GateScores, gate } from './gate.js';
import { openRetrainSource } from './source.js';

export interface RetrainOptions {
  repository: string;
  model: string;
  /** The feedback store root: the model's corrections are in `<feedbackDir>/<model>/<label>/`. */
  feedbackDir: string;
  /** The original training images (an image folder); default: config.json's "training_data". */
  replayData?: string;
  /** Percentage points of original validation accuracy the candidate may lose. */
  margin: number;
  holdout: number;
  replayRatio: number;
  epochs: number;
  maxSteps: number;
  batchSize: number;
  lr: number;
  threads: number;
  cacheDir?: string;
  log: (line: string) => void;
  /** Phases and steps as they happen (the service's job view). */
  progress?: (p: RetrainProgress) => void;
}

export interface RetrainProgress {
  phase: 'data' | 'evaluate' | 'train' | 'gate' | 'write';
  step?: number;
  steps?: number;
  loss?: number;
}

/** What a retrain did, as `--json`, the job view and the new version's report.json show it. */
export interface RetrainReport {
  model: string;
  from_version: number;
  /** The version written, or null when the gate refused the candidate. */
  version: number | null;
  written: boolean;
  gate: {
    pass: boolean;
    margin_points: number;
    /** Held-out corrections only the candidate gets right, only the current version, and the sign test's p. */
    wins: number;
    losses: number;
    p: number;
    reasons: string[];
  };
  current: { held_out_accuracy: number; original_val_accuracy: number };
  candidate: { held_out_accuracy: number; original_val_accuracy: number };
  data: {
    feedback: number;
    feedback_train: number;
    held_out: number;
    replay: number;
    original_val: number;
    per_label: Record<string, number>;
    replay_folder: string;
    replay_sha256: string;
    /** The replay folder's file list matches the one the model was trained on (null: nothing recorded to compare). */
    replay_is_training_data: boolean | null;
  };
  training: { steps: number; batch_size: number; lr: number; threads: number; final_loss: number };
  seconds: number;
  finished_at: string;
}

/** Per held-out image, whether the model's top answer is its label; and the accuracy on the original validation split. */
async function scores(
  bytes: Uint8Array,
  sets: [ImageDataset, ImageDataset],
  labels: string[],
  threads: number,
): Promise<GateScores> {
  const s = await Session.create(bytes, { threads });
  try {
    const [held, val] = sets;
    const px = imageBytes(held);
    const heldOut: boolean[] = [];
    for (let start = 0; start < held.count; start += 64) {
      const n = Math.min(64, held.count - start);
      const out = await s.run(
        {
          [PIXELS]: {
            dtype: 'uint8',
            dims: [n, held.height, held.width, 3],
            data: held.images.subarray(start * px, (start + n) * px),
          },
        },
        [LOGITS],
      );
      const logits = out[LOGITS]!.data as Float32Array;
      for (let i = 0; i < n; i++)
        heldOut.push(argmax(logits.subarray(i * labels.length, (i + 1) * labels.length)) === held.labels[start + i]);
    }
    const originalVal = val.count === 0 ? 0 : (await evaluate(s, val, labels, 64)).accuracy;
    return { heldOut, originalVal };
  } finally {
    await s.release();
  }
}

/** Writes the version's files into a hidden sibling folder, then renames it into place: readers see all or nothing. */
async function writeVersion(
  modelDir: string,
  version: number,
  files: Record<string, Uint8Array | string>,
): Promise<string> {
  const final = path.join(modelDir, String(version));
  if (
    await stat(final).then(
      () => true,
      () => false,
    )
  )
    throw new UsageError(`${final} appeared while retraining; nothing written (run retrain again)`);
  const tmp = path.join(modelDir, `.retrain-${version}-${process.pid}`);
  try {
    await mkdir(tmp, { recursive: true });
    for (const [name, data] of Object.entries(files)) await writeFile(path.join(tmp, name), data);
    await rename(tmp, final);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return final;
}

export async function retrain(o: RetrainOptions): Promise<RetrainReport> {
  const t0 = performance.now();
  const progress = o.progress ?? ((): void => {});
  const src = await openRetrainSource(o.repository, o.model);
  const { spec } = src.model;
  const labels = spec.labels;
  const recorded = {
    name: typeof src.training['data'] === 'string' ? (src.training['data'] as string) : null,
    sha256: typeof src.training['data_sha256'] === 'string' ? (src.training['data_sha256'] as string) : null,
  };
  const replayDir = o.replayData ?? src.trainingData;
  if (!replayDir)
    throw new UsageError(
      `the original training data of "${o.model}" is not known here: ${recorded.name ? `its recipe records the data "${recorded.name}"${recorded.sha256 ? ` (file list sha256 ${recorded.sha256.slice(0, 12)}…)` : ''} but not where it lies` : `version ${src.version} records no training data`}; pass --replay-data DIR (an image folder of the same classes) or set "training_data" in ${path.join(src.dir, 'config.json')}`,
    );
  o.log(`retraining ${o.model} version ${src.version} → candidate version ${src.next}`);
  progress({ phase: 'data' });
  const seed = typeof src.training['seed'] === 'number' ? (src.training['seed'] as number) : 0;
  const data = await loadRetrainData({
    feedbackDir: path.join(o.feedbackDir, o.model),
    replayDir,
    labels,
    size: spec.config.image_size,
    seed,
    holdout: o.holdout,
    replayRatio: o.replayRatio,
    recorded,
    ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
    log: o.log,
  });
  progress({ phase: 'evaluate' });
  const sets: [ImageDataset, ImageDataset] = [data.heldOut, data.originalVal];
  const current = await scores(src.model.bytes, sets, labels, o.threads);
  const num = (k: string, d: number): number => (typeof src.training[k] === 'number' ? (src.training[k] as number) : d);
  const tuned = await fineTune(spec, src.params, data.train, {
    epochs: o.epochs,
    maxSteps: o.maxSteps,
    batchSize: o.batchSize,
    lr: o.lr,
    weightDecay: num('weightDecay', 0.05),
    labelSmoothing: num('labelSmoothing', 0.1),
    seed,
    threads: o.threads,
    onStep: (step, steps, loss) => progress({ phase: 'train', step, steps, loss }),
  });
  o.log(`fine-tuned: ${tuned.steps} steps, last loss ${tuned.loss.toFixed(4)}`);
  progress({ phase: 'gate' });
  const retrainInfo = {
    from_version: src.version,
    feedback: data.counts.feedback,
    replay: data.counts.replay,
    steps: tuned.steps,
  };
  const bytes = buildInferenceModel(spec, tuned.params, {
    ...(src.model.parsed.metadata['mixer.training']
      ? { 'mixer.training': src.model.parsed.metadata['mixer.training'] }
      : {}),
    'mixer.weights': 'raw',
    'mixer.retrain': JSON.stringify(retrainInfo),
  });
  const candidate = await scores(bytes, sets, labels, o.threads);
  const g = gate(current, candidate, o.margin, data.counts.originalVal);
  const report: RetrainReport = {
    model: o.model,
    from_version: src.version,
    version: g.pass ? src.next : null,
    written: g.pass,
    gate: { pass: g.pass, margin_points: o.margin, wins: g.wins, losses: g.losses, p: g.p, reasons: g.reasons },
    current: { held_out_accuracy: accuracy(current.heldOut), original_val_accuracy: current.originalVal },
    candidate: { held_out_accuracy: accuracy(candidate.heldOut), original_val_accuracy: candidate.originalVal },
    data: {
      feedback: data.counts.feedback,
      feedback_train: data.counts.feedbackTrain,
      held_out: data.counts.heldOut,
      replay: data.counts.replay,
      original_val: data.counts.originalVal,
      per_label: data.counts.perLabel,
      replay_folder: data.replay.name,
      replay_sha256: data.replay.sha256,
      replay_is_training_data: data.replay.sameAsTraining,
    },
    training: {
      steps: tuned.steps,
      batch_size: o.batchSize,
      lr: o.lr,
      threads: o.threads,
      final_loss: tuned.loss,
    },
    seconds: 0,
    finished_at: '',
  };
  for (const r of g.reasons) o.log(`gate: ${r}`);
  if (g.pass) {
    progress({ phase: 'write' });
    report.seconds = Math.round((performance.now() - t0) / 100) / 10;
    report.finished_at = new Date().toISOString();
    const where = await writeVersion(src.dir, src.next, {
      'model.onnx': bytes,
      'labels.txt': `${labels.join('\n')}\n`,
      'report.json': `${JSON.stringify(report, null, 2)}\n`,
    });
    o.log(`gate passed: wrote ${where}`);
  } else {
    report.seconds = Math.round((performance.now() - t0) / 100) / 10;
    report.finished_at = new Date().toISOString();
    o.log('gate refused the candidate: nothing written');
  }
  return report;
}
