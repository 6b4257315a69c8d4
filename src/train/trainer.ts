// The training loop: data → augmented batches → ORT train step → AdamW → eval, checkpoint, metrics, export, report.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { buildInferenceModel, CIFAR10_MEAN, CIFAR10_STD } from '../model/index.js';
import { Session } from '../runtime/session.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { loadCheckpoint, type RunPosition } from './checkpoint.js';
import { atStopStep, evalWeights, logStopped, runEpoch, shouldStop } from './epoch.js';
import { type EvalResult, evaluate } from './evaluate.js';
import { writeReport } from './report.js';
import type { Run, RunFiles } from './run.js';
import { initOrResume, resolveOptions } from './run-setup.js';
import { dataReportLines, throughputLine } from './summary.js';
import { type EpochMetrics, recordedHyper, type TrainOptions, type TrainResult } from './train-options.js';

export type { EpochMetrics, TrainOptions, TrainResult } from './train-options.js';

/** Trains (or, with `resume`, continues) a run: resolve options → init or resume → epochs → finalize. */
export async function train(given: TrainOptions): Promise<TrainResult> {
  const log = given.log ?? ((l: string) => console.log(l));
  await mkdir(given.outDir, { recursive: true });
  const files: RunFiles = {
    dir: given.outDir,
    checkpoint: path.join(given.outDir, 'checkpoint.safetensors'),
    metrics: path.join(given.outDir, 'metrics.jsonl'),
  };
  const ck = given.resume && existsSync(files.checkpoint) ? await loadCheckpoint(files.checkpoint) : null;
  if (given.resume && !ck) log(`no checkpoint in ${given.outDir}; starting a new run`);
  const { o, overrides } = resolveOptions(given, ck, log);
  const { run, progress: start } = await initOrResume(o, overrides, ck, files, log);
  const onSigint = () => {
    if (run.stop.requested) process.exit(130);
    run.stop.requested = true;
    log('interrupt: finishing this step and writing a checkpoint (press Ctrl-C again to abort)');
  };
  process.on('SIGINT', onSigint);
  const history: EpochMetrics[] = [];
  let progress = start;
  let interrupted = false;
  let doneSteps = 0;
  try {
    for (let epoch = progress.epoch; epoch < o.epochs; epoch++) {
      if (atStopStep(run, progress.step)) {
        interrupted = true; // already there: nothing to do, the checkpoint stands
        break;
      }
      const r = await runEpoch(run, epoch, progress, doneSteps);
      ({ progress, doneSteps } = r);
      if (r.metrics) history.push(r.metrics);
      if (r.interrupted) {
        interrupted = true;
        break;
      }
      if (shouldStop(run, doneSteps, progress.step)) {
        interrupted = epoch + 1 < o.epochs;
        // Stopped at an epoch's end: its checkpoint is written; say so as a stop inside an epoch does.
        if (interrupted) logStopped(run, progress.step);
        break;
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
    await run.loader.close();
    await run.stepper.release();
  }
  const { final, finalRaw } =
    !interrupted && !o.quiet ? await finalize(run, progress, history) : { final: null, finalRaw: null };
  const reachedStopStep = interrupted && !run.stop.requested && atStopStep(run, progress.step);
  if (reachedStopStep) log(`reached --stop-at-step ${o.stopAtStep}`);
  return { state: run.state, progress, interrupted, reachedStopStep, final, finalRaw, history, ema: run.ema };
}

/**
 * A completed run: model.onnx (with the EMA weights when there is an EMA, as `mixer export` does by default), the
 * final evaluation of both weights on the test set (or a folder's validation split), report.md.
 */
async function finalize(
  run: Run,
  progress: RunPosition,
  history: EpochMetrics[],
): Promise<{ final: EvalResult; finalRaw: EvalResult | null }> {
  const { o, spec, state, ema, data, log } = run;
  const weights = ema ? 'ema' : 'raw';
  const hyper = recordedHyper(o, spec, run.overrides, data.report);
  const modelBytes = buildInferenceModel(spec, ema ?? state.params, {
    'mixer.training': JSON.stringify({
      ...hyper,
      steps: progress.step,
      wall_seconds: Math.round(progress.wallSeconds),
    }),
    'mixer.weights': weights,
  });
  const modelPath = path.join(run.files.dir, 'model.onnx');
  await writeFileAtomic(modelPath, modelBytes);
  const s = await Session.create(modelBytes, { threads: o.threads });
  const final = await evaluate(s, data.test, spec.labels);
  await s.release();
  const finalRaw = ema ? await evalWeights(spec, state.params, data.test, o.threads) : null;
  await writeReport(run.files.dir, {
    spec,
    hyper,
    final,
    finalRaw,
    weights,
    metricsPath: run.files.metrics,
    progress,
    command: o.command ?? '',
    finalSet: data.finalName,
    normalisation: normalisationSource(run),
    ...(data.report ? { dataName: data.report.name } : {}),
    extra: dataReportLines(data.report),
  });
  log(throughputLine(history));
  log(
    `done: ${data.finalName} accuracy ${(100 * final.accuracy).toFixed(2)}%` +
      (finalRaw ? ` with the EMA weights, ${(100 * finalRaw.accuracy).toFixed(2)}% raw` : '') +
      `; wrote ${modelPath} and report.md`,
  );
  return { final, finalRaw };
}

/** Where the model's mean/std came from, as the report states it. */
function normalisationSource(run: Run): string {
  const { spec, data, o } = run;
  if (spec.mean.every((m, c) => m === CIFAR10_MEAN[c]) && spec.std.every((x, c) => x === CIFAR10_STD[c]))
    return "CIFAR-10's";
  return data.report && !o.init ? `from the ${data.train.count} training images` : 'from the starting weights';
}
