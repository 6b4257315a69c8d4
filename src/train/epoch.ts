// One training epoch: the steps (with EMA and drop-path masks), then evaluation, metrics, the curve and the checkpoint.
import { appendFile } from 'node:fs/promises';
import type { ImageDataset } from '../data/dataset.js';
import type { Params } from '../model/index.js';
import { buildInferenceModel, type ModelSpec } from '../model/index.js';
import { Session } from '../runtime/session.js';
import { UserError } from '../util/errors.js';
import { ProgressBar } from '../util/progress-bar.js';
import { argmax } from '../util/rank.js';
import { type RunPosition, saveCheckpoint } from './checkpoint.js';
import { dropPathFeeds } from './droppath.js';
import { emaUpdate } from './ema.js';
import { type EvalResult, evaluate } from './evaluate.js';
import { writeCurve } from './report.js';
import type { EpochOutcome, EpochTally, Run } from './run.js';
import { learningRate } from './schedule.js';
import { type EpochMetrics, hyperOf } from './train-options.js';

/** One epoch: its steps, then (unless stopped inside it) the evaluation, the metrics line and the checkpoint. */
export async function runEpoch(
  run: Run,
  epoch: number,
  progress: RunPosition,
  doneSteps: number,
): Promise<EpochOutcome> {
  const tally = await trainSteps(run, epoch, progress, doneSteps);
  const epochS = (performance.now() - tally.t0) / 1000;
  const p = { ...tally.progress, wallSeconds: tally.progress.wallSeconds + epochS };
  if (tally.interrupted) {
    await saveRun(run, p);
    logStopped(run, p.step);
    return { progress: p, doneSteps: tally.doneSteps, interrupted: true, metrics: null };
  }
  const next = { ...p, epoch: epoch + 1, stepInEpoch: 0 };
  const metrics = await endEpoch(run, epoch, next, tally, epochS);
  return { progress: next, doneSteps: tally.doneSteps, interrupted: false, metrics };
}

/** The epoch's steps from where `progress` stands, until the epoch ends, SIGINT or `stopAfterSteps`. */
export async function trainSteps(run: Run, epoch: number, start: RunPosition, doneBefore: number): Promise<EpochTally> {
  const { o, spec, state, ema, steps } = run;
  const bar = new ProgressBar(`epoch ${epoch + 1}/${o.epochs}`, steps, run.log);
  const K = spec.config.num_classes;
  const t: EpochTally = {
    progress: start,
    doneSteps: doneBefore,
    interrupted: false,
    lossSum: 0,
    correct: 0,
    seen: 0,
    lr: 0,
    dataWait: 0,
    stepTime: 0,
    emaTime: 0,
    t0: performance.now(),
  };
  let tWait = performance.now();
  for await (const batch of run.loader.epoch(epoch, start.stepInEpoch)) {
    const ts = performance.now();
    t.dataWait += ts - tWait;
    t.lr = learningRate(run.sched, t.progress.step + 1);
    const masks = o.dropPath
      ? dropPathFeeds(spec.config.depth, o.dropPath, batch.size, o.seed, epoch, batch.step)
      : undefined;
    const r = await run.stepper.step({
      state,
      pixels: batch.pixels,
      labels: batch.labels,
      size: batch.size,
      learningRate: t.lr,
      step: t.progress.step + 1,
      targets: batch.targets,
      extraFeeds: masks,
    });
    if (!Number.isFinite(r.loss))
      throw new UserError('TRAINING_DIVERGED', `loss became ${r.loss} at step ${t.progress.step + 1}; lower --lr`);
    const te = performance.now();
    t.stepTime += te - ts;
    if (ema) {
      emaUpdate(ema, state.params, run.emaDecay, t.progress.step + 1, run.emaSkip);
      t.emaTime += performance.now() - te;
    }
    t.progress = { ...t.progress, step: t.progress.step + 1, epoch, stepInEpoch: batch.step + 1 };
    t.lossSum += r.loss * batch.size;
    t.seen += batch.size;
    for (let i = 0; i < batch.size; i++) {
      if (BigInt(argmax(r.logits.subarray(i * K, (i + 1) * K))) === batch.labels[i]) t.correct++;
    }
    const ms = performance.now() - ts;
    bar.update(
      batch.step + 1,
      `step ${t.progress.step}: loss ${r.loss.toFixed(4)} (${ms.toFixed(0)} ms) lr ${t.lr.toExponential(2)}`,
      t.seen / ((performance.now() - t.t0) / 1000),
    );
    t.doneSteps++;
    if (shouldStop(run, t.doneSteps, t.progress.step)) {
      t.interrupted = t.progress.stepInEpoch < steps;
      break;
    }
    tWait = performance.now();
  }
  bar.done();
  return t;
}

/** The run has reached its --stop-at-step. */
export function atStopStep(run: Run, step: number): boolean {
  return run.o.stopAtStep !== undefined && step >= run.o.stopAtStep;
}

/** The line a stopped run ends with, wherever it stopped (inside an epoch, or at its end). */
export function logStopped(run: Run, step: number): void {
  run.log(`stopped at step ${step}; checkpoint written to ${run.files.checkpoint} (continue with --resume)`);
}

/** SIGINT, or this invocation's step budget (stopAfterSteps) or the run's stop step (stopAtStep) reached. */
export function shouldStop(run: Run, doneSteps: number, step: number): boolean {
  const o = run.o;
  return (
    run.stop.requested || (o.stopAfterSteps !== undefined && doneSteps >= o.stopAfterSteps) || atStopStep(run, step)
  );
}

/** A finished epoch: evaluate raw (and EMA) weights, append the metrics line, write the checkpoint, log the summary. */
export async function endEpoch(
  run: Run,
  epoch: number,
  progress: RunPosition,
  t: EpochTally,
  epochS: number,
): Promise<EpochMetrics> {
  const { o, spec, state, ema, data } = run;
  let test: EvalResult | null = null;
  let emaTest: EvalResult | null = null;
  if (!o.quiet) {
    test = await evalWeights(spec, state.params, data.evalSet, o.threads);
    if (ema) emaTest = await evalWeights(spec, ema, data.evalSet, o.threads);
  }
  const val = data.perEpochVal;
  const m: EpochMetrics = {
    epoch: epoch + 1,
    step: progress.step,
    lr: t.lr,
    train_loss: t.lossSum / Math.max(1, t.seen),
    train_acc: t.correct / Math.max(1, t.seen),
    test_loss: val ? null : (test?.loss ?? null),
    test_acc: val ? null : (test?.accuracy ?? null),
    ...(ema && !val ? { ema_test_loss: emaTest?.loss ?? null, ema_test_acc: emaTest?.accuracy ?? null } : {}),
    ...(val ? { val_loss: test?.loss ?? null, val_acc: test?.accuracy ?? null } : {}),
    ...(val && ema ? { ema_val_loss: emaTest?.loss ?? null, ema_val_acc: emaTest?.accuracy ?? null } : {}),
    images_per_s: t.seen / epochS,
    epoch_s: epochS,
    wall_s: progress.wallSeconds,
    data_wait_s: t.dataWait / 1000,
    step_s: t.stepTime / 1000,
    ...(ema ? { ema_s: t.emaTime / 1000 } : {}),
  };
  await appendFile(run.files.metrics, `${JSON.stringify(m)}\n`);
  await writeCurve(run.files.dir, run.files.metrics, run.data.report?.name); // the curve so far, viewable while the run goes on
  await saveRun(run, progress);
  run.log(
    `epoch ${m.epoch}: train loss ${m.train_loss.toFixed(4)} acc ${(100 * m.train_acc).toFixed(2)}%` +
      (test ? ` | ${data.evalName} loss ${test.loss.toFixed(4)} acc ${(100 * test.accuracy).toFixed(2)}%` : '') +
      (emaTest ? ` | EMA ${data.evalName} acc ${(100 * emaTest.accuracy).toFixed(2)}%` : '') +
      ` | ${m.images_per_s.toFixed(0)} img/s, ${epochS.toFixed(0)} s (waiting for data ${m.data_wait_s!.toFixed(1)} s)`,
  );
  return m;
}

/** Writes the resume checkpoint: weights, moments, EMA, position and recipe. */
export function saveRun(run: Run, progress: RunPosition): Promise<void> {
  return saveCheckpoint(run.files.checkpoint, {
    spec: run.spec,
    ...run.state,
    ema: run.ema,
    progress,
    hyper: hyperOf(run.o, run.overrides),
  });
}

/** Evaluates one set of weights through a fresh inference session. */
export async function evalWeights(
  spec: ModelSpec,
  params: Params,
  ds: ImageDataset,
  threads: number,
): Promise<EvalResult> {
  const s = await Session.create(buildInferenceModel(spec, params), { threads });
  try {
    return await evaluate(s, ds, spec.labels);
  } finally {
    await s.release();
  }
}
