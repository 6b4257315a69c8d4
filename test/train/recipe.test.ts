// Recipe options in the trainer: exact resume with EMA + MixUp/CutMix + drop path, the validation split, and --resume recipe checks.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { ImageDataset } from '../../src/data/dataset.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { emaDecayAt, emaInit, emaUpdate } from '../../src/train/ema.js';
import { type TrainOptions, train } from '../../src/train/trainer.js';
import { stripedImages } from '../fixtures/synthetic.js';

const synthetic = (count: number, seed: number): ImageDataset => stripedImages(count, seed, 'columns');

const base = (outDir: string, splits: { train: ImageDataset; test: ImageDataset }): TrainOptions => ({
  preset: 'tiny',
  outDir,
  epochs: 2,
  batchSize: 32,
  lr: 3e-3,
  weightDecay: 0.05,
  warmupEpochs: 0.5,
  minLrRatio: 0.1,
  labelSmoothing: 0.1,
  seed: 7,
  data: 'injected',
  resume: false,
  threads: 1,
  mode: 'fused',
  augment: { pad: 4, flip: true, cutout: 0, randAugment: null, policy: 'autoaugment' },
  mixup: 0.8,
  cutmix: 1.0,
  mixProb: 0.9,
  ema: 0.99,
  dropPath: 0.2,
  quiet: true,
  splits,
  log: () => {},
});

function maxDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let worst = 0;
  for (const [name, p] of a) {
    const q = b.get(name)!;
    for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i]! - q[i]!));
  }
  return worst;
}

t.test('EMA update: warmup decay and the formula', async (t) => {
  t.equal(emaDecayAt(0.9999, 1), 2 / 11);
  t.equal(emaDecayAt(0.9999, 1e6), 0.9999);
  const p = new Map([['w', Float32Array.of(1, 2, 3)]]);
  const e = emaInit(new Map([['w', Float32Array.of(0, 0, 0)]]));
  const d = emaUpdate(e, p, 0.5, 100);
  t.equal(d, 0.5);
  t.same(Array.from(e.get('w')!), [0.5, 1, 1.5]);
  t.throws(() => emaUpdate(new Map(), p, 0.5, 1), /no tensor/);
});

t.test('resume with EMA, AutoAugment, MixUp, CutMix and drop path equals a straight run bit for bit', async (t) => {
  const splits = { train: synthetic(256, 3), test: synthetic(64, 4) };
  const dir = t.testdir({ a: {}, b: {} });
  const straight = await train({ ...base(path.join(dir, 'a'), splits) }); // 8 steps/epoch × 2
  t.equal(straight.progress.step, 16);
  t.ok(straight.ema, 'keeps an EMA');
  const half = await train({ ...base(path.join(dir, 'b'), splits), stopAfterSteps: 11 });
  t.equal(half.interrupted, true);
  const ck = await loadCheckpoint(path.join(dir, 'b', 'checkpoint.safetensors'));
  t.ok(ck.ema && ck.ema.size === ck.params.size, 'the checkpoint holds ema.<name> tensors');
  t.equal(ck.hyper['mixup'], 0.8);
  const resumed = await train({ ...base(path.join(dir, 'b'), splits), resume: true });
  t.equal(resumed.progress.step, 16);
  t.equal(maxDiff(straight.state.params, resumed.state.params), 0, 'parameters bitwise equal');
  t.equal(maxDiff(straight.state.expAvgSq, resumed.state.expAvgSq), 0, 'moments bitwise equal');
  t.equal(maxDiff(straight.ema!, resumed.ema!), 0, 'EMA bitwise equal');
  t.ok(maxDiff(straight.ema!, straight.state.params) > 0, 'the EMA differs from the raw weights');
  // A different mixing stream (seed) changes the trajectory: the comparison above is not vacuous.
  const other = await train({ ...base(path.join(dir, 'a'), splits), seed: 8 });
  t.ok(maxDiff(straight.state.params, other.state.params) > 0);
});

t.test('--val-split trains on the rest, evaluates raw and EMA weights on the held-out images each epoch', async (t) => {
  const splits = { train: synthetic(160, 5), test: synthetic(40, 6) };
  const dir = t.testdir();
  const r = await train({
    ...base(dir, splits),
    epochs: 1,
    valSplit: 32,
    quiet: false,
    augment: null,
    mixup: 0,
    cutmix: 0,
  });
  t.equal(r.progress.step, 4, '128 training images / batch 32');
  const m = JSON.parse(readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim()) as Record<string, number | null>;
  t.equal(m['test_acc'], null, 'no per-epoch test evaluation');
  t.type(m['val_acc'], 'number');
  t.type(m['ema_val_acc'], 'number');
  t.type(m['data_wait_s'], 'number');
  t.type(m['step_s'], 'number');
  t.ok(r.final && r.finalRaw, 'final test figures for EMA and raw weights');
  t.equal(r.final!.count, 40, 'final figures on the test set');
  const report = readFileSync(path.join(dir, 'report.md'), 'utf8');
  t.match(report, /held out of the training set/);
  t.match(report, /with the EMA weights/);
});

t.test('--resume: changed recipe flags are an error unless --override, which records them', async (t) => {
  const splits = { train: synthetic(64, 8), test: synthetic(32, 9) };
  const dir = t.testdir();
  await train({ ...base(dir, splits), epochs: 2, stopAfterSteps: 2 });
  const again = { ...base(dir, splits), epochs: 2, resume: true, mixup: 0.2, lr: 1e-3, ema: 0.99 };
  await t.rejects(
    train({ ...again, explicit: new Set(['mixup', 'lr', 'ema']) }),
    /lr 0\.003 → 0\.001; mixup 0\.8 → 0\.2\).*--override/,
  );
  // Omitted flags keep the checkpoint's values (mixup 0.8 although the options say 0.2).
  const kept = await train({ ...again, explicit: new Set(['ema']), stopAfterSteps: 1 });
  t.equal(kept.progress.step, 3);
  t.equal((await loadCheckpoint(path.join(dir, 'checkpoint.safetensors'))).hyper['mixup'], 0.8);
  const over = await train({ ...again, explicit: new Set(['mixup', 'lr']), override: true });
  t.equal(over.progress.step, 4);
  const h = (await loadCheckpoint(path.join(dir, 'checkpoint.safetensors'))).hyper;
  t.equal(h['mixup'], 0.2);
  t.same(h['overrides'], [
    { key: 'lr', checkpoint: 0.003, given: 0.001, step: 3 },
    { key: 'mixup', checkpoint: 0.8, given: 0.2, step: 3 },
  ]);
});
