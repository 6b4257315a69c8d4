// Trainer tests: a short run learns, resume reproduces a straight run, checkpoints round-trip, SIGINT-style stops resume exactly.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { loadCifar10 } from '../../src/data/cifar10.js';
import { type ImageDataset, subset } from '../../src/data/dataset.js';
import { buildInferenceModel, defaultSpec, preset } from '../../src/model/index.js';
import { Session } from '../../src/runtime/session.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { evaluate } from '../../src/train/evaluate.js';
import { learningRate } from '../../src/train/schedule.js';
import { type TrainOptions, train } from '../../src/train/trainer.js';
import { stripedImages } from '../fixtures/synthetic.js';

const synthetic = (count: number, seed: number): ImageDataset => stripedImages(count, seed, 'columns-rows');

async function cifarSubset(): Promise<{ train: ImageDataset; test: ImageDataset; source: string }> {
  const dir = process.env['MIXER_DATA_DIR'] ?? path.resolve('data');
  if (process.env['CI'] || existsSync(path.join(dir, 'cifar10', 'meta.json'))) {
    const d = await loadCifar10({ dir });
    const first = (n: number) => Array.from({ length: n }, (_, i) => i);
    return { train: subset(d.train, first(512)), test: subset(d.test, first(256)), source: 'CIFAR-10 subset' };
  }
  return { train: synthetic(512, 1), test: synthetic(256, 2), source: 'synthetic (no CIFAR-10 cache here)' };
}

const base = (outDir: string, splits: { train: ImageDataset; test: ImageDataset }): TrainOptions => ({
  preset: 'tiny',
  outDir,
  epochs: 4,
  batchSize: 32,
  lr: 3e-3,
  weightDecay: 0.05,
  warmupEpochs: 0.5,
  minLrRatio: 0.1,
  labelSmoothing: 0,
  seed: 7,
  data: 'injected',
  resume: false,
  threads: 1,
  mode: 'fused',
  augment: { pad: 4, flip: true, cutout: 0, randAugment: { n: 1, magnitude: 5 } },
  quiet: true,
  splits,
  log: () => {},
});

async function accuracy(
  spec: ReturnType<typeof defaultSpec>,
  params: Map<string, Float32Array>,
  ds: ImageDataset,
): Promise<number> {
  const s = await Session.create(buildInferenceModel(spec, params), { threads: 1 });
  const r = await evaluate(s, ds, spec.labels);
  await s.release();
  return r.accuracy;
}

t.test('a short run on a small subset: loss falls clearly and subset accuracy rises', async (t) => {
  const data = await cifarSubset();
  t.comment(`data: ${data.source}`);
  const dir = t.testdir();
  const spec = defaultSpec(preset('tiny'));
  const { initParams } = await import('../../src/model/index.js');
  const before = await accuracy(spec, initParams(spec.config, 7), data.train);
  const r = await train({ ...base(dir, data), epochs: 12, augment: null, quiet: false, lr: 3e-3 });
  const first = r.history[0]!;
  const last = r.history.at(-1)!;
  const after = await accuracy(spec, r.state.params, data.train);
  t.comment(
    `train loss ${first.train_loss.toFixed(3)} → ${last.train_loss.toFixed(3)}; subset accuracy ${(100 * before).toFixed(1)}% → ${(100 * after).toFixed(1)}%`,
  );
  t.ok(last.train_loss < 0.85 * first.train_loss, 'loss falls by more than 15%');
  t.ok(after > before + 0.15, 'subset accuracy rises by more than 15 points');
  t.ok(existsSync(path.join(dir, 'model.onnx')), 'exports model.onnx');
  const report = readFileSync(path.join(dir, 'report.md'), 'utf8');
  t.match(report, /Test accuracy: \d+\.\d+%/);
  t.match(report, /confusion/);
  t.ok(existsSync(path.join(dir, 'training.svg')), 'writes the plot');
  t.equal(
    readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').length,
    12,
    'one metrics line per epoch',
  );
});

for (const [mode, threads] of [
  ['fused', 1],
  ['parallel', 2],
] as const)
  t.test(`resume equivalence (${mode} steps): N steps straight == N/2 steps, stop, resume, N/2 steps`, async (t) => {
    const splits = { train: synthetic(256, 3), test: synthetic(64, 4) };
    const straightDir = t.testdir({ a: {}, b: {} });
    const straight = await train({ ...base(path.join(straightDir, 'a'), splits), mode, threads, epochs: 2 }); // 8 steps/epoch × 2
    t.equal(straight.progress.step, 16);
    const half = await train({
      ...base(path.join(straightDir, 'b'), splits),
      mode,
      threads,
      epochs: 2,
      stopAfterSteps: 11,
    }); // stops mid-epoch 2
    t.equal(half.interrupted, true);
    t.equal(half.progress.step, 11);
    const ck = await loadCheckpoint(path.join(straightDir, 'b', 'checkpoint.safetensors'));
    t.same([ck.progress.step, ck.progress.epoch, ck.progress.stepInEpoch], [11, 1, 3]);
    const resumed = await train({
      ...base(path.join(straightDir, 'b'), splits),
      mode,
      threads,
      epochs: 2,
      resume: true,
    });
    t.equal(resumed.progress.step, 16);
    let worst = 0;
    for (const [name, p] of straight.state.params) {
      const q = resumed.state.params.get(name)!;
      for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i]! - q[i]!));
    }
    for (const [name, m] of straight.state.expAvgSq) {
      const q = resumed.state.expAvgSq.get(name)!;
      for (let i = 0; i < m.length; i++) worst = Math.max(worst, Math.abs(m[i]! - q[i]!));
    }
    t.comment(`max |straight − resumed| = ${worst.toExponential(2)}`);
    t.ok(worst <= 1e-6, 'parameters and moments equal within 1e-6');
  });

t.test('--stop-at-step stops at a global step, is idempotent, and lands where a staged run does', async (t) => {
  const splits = { train: synthetic(128, 3), test: synthetic(32, 4) };
  const dir = t.testdir({ a: {}, b: {} });
  const opts = (d: string) => ({ ...base(path.join(dir, d), splits), epochs: 3 }); // 4 steps/epoch
  const a = await train({ ...opts('a'), stopAtStep: 7 });
  t.same([a.progress.step, a.interrupted, a.reachedStopStep], [7, true, true], 'stops at step 7, mid-epoch 2');
  const again = await train({ ...opts('a'), resume: true, stopAtStep: 7 });
  t.same([again.progress.step, again.reachedStopStep, again.history.length], [7, true, 0], 'already there: no steps');
  // The same point reached in two stages (Ctrl-C-style after 3 steps, then --stop-at-step 7) holds the same weights.
  await train({ ...opts('b'), stopAfterSteps: 3 });
  const b = await train({ ...opts('b'), resume: true, stopAtStep: 7 });
  t.equal(b.progress.step, 7);
  let worst = 0;
  for (const [name, p] of a.state.params) {
    const q = b.state.params.get(name)!;
    for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i]! - q[i]!));
  }
  t.ok(worst <= 1e-6, `max |one stage − two stages| = ${worst.toExponential(2)}`);
  // A re-planned continuation from there finishes the run, and is no planned stop.
  const done = await train({ ...opts('a'), resume: true, epochs: 4, overrideEpochs: true });
  t.same([done.progress.step, done.interrupted, done.reachedStopStep], [16, false, false]);
});

t.test('a stop at an epoch boundary says where it stopped, as a stop inside an epoch does', async (t) => {
  const splits = { train: synthetic(128, 3), test: synthetic(32, 4) };
  const dir = t.testdir({ a: {}, b: {} });
  for (const [d, steps] of [
    ['a', 4],
    ['b', 3],
  ] as const) {
    const lines: string[] = [];
    // 4 steps/epoch: 4 ends at the first epoch's end (its checkpoint written by the epoch), 3 inside it.
    const r = await train({ ...base(path.join(dir, d), splits), stopAfterSteps: steps, log: (l) => lines.push(l) });
    t.same([r.progress.step, r.interrupted], [steps, true]);
    const ck = path.join(dir, d, 'checkpoint.safetensors');
    t.equal((await loadCheckpoint(ck)).progress.step, steps, `the checkpoint holds step ${steps}`);
    t.equal(
      lines.filter((l) => l === `stopped at step ${steps}; checkpoint written to ${ck} (continue with --resume)`)
        .length,
      1,
      `after ${steps} steps: ${lines.at(-1)}`,
    );
  }
});

t.test('the warmup is fixed when a run starts: bounded to 10% of its steps, kept by a re-planned resume', async (t) => {
  const splits = { train: synthetic(128, 3), test: synthetic(32, 4) };
  const dir = t.testdir({ a: {}, b: {} });
  const lines: string[] = [];
  const opts = (d: string) => ({ ...base(path.join(dir, d), splits), log: (l: string) => lines.push(l) }); // 4 steps/epoch
  // 1 warmup epoch of 10 (4 of 40 steps, at the bound): kept as asked, then re-planned to 3 epochs (4 of 12 steps).
  await train({ ...opts('a'), epochs: 10, warmupEpochs: 1, stopAtStep: 6 });
  t.equal((await loadCheckpoint(path.join(dir, 'a', 'checkpoint.safetensors'))).hyper['warmupSteps'], 4);
  const resumed = await train({ ...opts('a'), resume: true, epochs: 3, overrideEpochs: true, warmupEpochs: 1 });
  const sched = { lr: 3e-3, warmupSteps: 4, totalSteps: 12, minRatio: 0.1 };
  t.equal(resumed.history[0]!.lr, learningRate(sched, 8), 'step 8 on the new plan with the warmup it started with');
  t.notOk(
    lines.some((l) => l.startsWith('warmup:')),
    'a resumed run does not cut its warmup to the new plan',
  );
  // A new run whose warmup is more than 10% of it: cut, and the log says so.
  lines.length = 0;
  await train({ ...opts('b'), epochs: 3, warmupEpochs: 1, stopAtStep: 1 });
  t.ok(lines.includes('warmup: 1 step, cut from --warmup-epochs 1 (4 steps) to 10% of the run'), lines.join('\n'));
  t.equal((await loadCheckpoint(path.join(dir, 'b', 'checkpoint.safetensors'))).hyper['warmupSteps'], 1);
});

t.test('separate graphs and the fused step give the same training trajectory', async (t) => {
  const splits = { train: synthetic(64, 5), test: synthetic(32, 6) };
  const dir = t.testdir({ f: {}, s: {} });
  const f = await train({ ...base(path.join(dir, 'f'), splits), epochs: 1, mode: 'fused' });
  const s = await train({ ...base(path.join(dir, 's'), splits), epochs: 1, mode: 'separate' });
  let worst = 0;
  for (const [name, p] of f.state.params) {
    const q = s.state.params.get(name)!;
    for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i]! - q[i]!));
  }
  t.ok(worst < 1e-5, `max difference ${worst.toExponential(2)}`);
});

t.test('checkpoint round trip keeps parameters, moments, progress and metadata', async (t) => {
  const splits = { train: synthetic(64, 8), test: synthetic(32, 9) };
  const dir = t.testdir();
  const r = await train({ ...base(dir, splits), epochs: 1 });
  const ck = await loadCheckpoint(path.join(dir, 'checkpoint.safetensors'));
  t.same(ck.spec.config, preset('tiny'));
  t.same(ck.progress.step, r.progress.step);
  for (const [name, p] of r.state.params) t.same(Array.from(ck.params.get(name)!), Array.from(p), name);
  for (const [name, p] of r.state.expAvg) t.same(Array.from(ck.expAvg!.get(name)!), Array.from(p), `exp_avg ${name}`);
  t.equal(ck.hyper['batchSize'], 32);
  t.match(ck.metadata['mixer.labels'] ?? '', /airplane/);
});
