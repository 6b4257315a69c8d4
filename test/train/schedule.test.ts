// The learning-rate schedule's length rules: the warmup bound, the default epoch count for small sets.
import t from 'tap';
import {
  DEFAULT_EPOCHS,
  defaultEpochs,
  learningRate,
  MAX_DEFAULT_EPOCHS,
  MIN_STEPS,
  warmupSteps,
} from '../../src/train/schedule.js';

t.test('the warmup takes at most 10% of the run; under the bound it is what it always was', async (t) => {
  // The long CIFAR-10 run: 391 steps/epoch, 240 epochs, --warmup-epochs 2: 782 steps, far under 10%.
  t.same(warmupSteps(2, 391, 240 * 391), { steps: 782, asked: 782, cut: false });
  t.same(
    warmupSteps(0.5, 3, 6 * 3),
    { steps: 1, asked: 2, cut: true },
    '0.5 of 3 steps/epoch × 6 epochs: 1 of 18 steps',
  );
  // The own-images run of docs/training.md before: 2 steps/epoch × 6 epochs with the default 3 warmup epochs was half warmup.
  const w = warmupSteps(3, 2, 12);
  t.same(w, { steps: 1, asked: 6, cut: true });
  const s = { lr: 1e-3, warmupSteps: w.steps, totalSteps: 12, minRatio: 0.01 };
  t.equal(learningRate(s, 1), 1e-3, 'the peak rate from the first step after warmup');
  t.ok(learningRate(s, 6) > 0.5e-3, 'still high at the middle of the run');
  t.same(warmupSteps(0, 10, 100), { steps: 0, asked: 0, cut: false });
});

t.test('the default epoch count gives a small set enough steps, and a large one 40 epochs', async (t) => {
  t.equal(defaultEpochs(391), DEFAULT_EPOCHS, 'CIFAR-10 at batch 128');
  t.equal(defaultEpochs(6), Math.ceil(MIN_STEPS / 6), '162 images at batch 32');
  t.ok(defaultEpochs(6) * 6 >= MIN_STEPS);
  t.equal(defaultEpochs(1), Math.min(MAX_DEFAULT_EPOCHS, MIN_STEPS), 'one step per epoch');
  t.ok(defaultEpochs(1) <= MAX_DEFAULT_EPOCHS, 'capped');
});
