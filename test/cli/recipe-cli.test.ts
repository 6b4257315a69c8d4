// The recipe flags from the command line: range errors, --resume recipe checks, export --weights ema|raw and --tta flip.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { hflip } from '../../src/data/augment.js';
import type { ImageDataset } from '../../src/data/dataset.js';
import { buildInferenceModel, defaultSpec, preset } from '../../src/model/index.js';
import { parseModel } from '../../src/onnx/index.js';
import { type HostTensor, Session } from '../../src/runtime/session.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { train } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/rng.js';
import { BIN, mixerCli } from '../fixtures/cli.js';

const mixer = mixerCli({ MODEL_PATH: '' });

function noise(count: number, seed: number): ImageDataset {
  const r = new Rng(seed);
  return {
    images: Uint8Array.from({ length: count * 32 * 32 * 3 }, () => r.int(256)),
    labels: Uint8Array.from({ length: count }, (_, i) => i % 10),
    count,
    height: 32,
    width: 32,
    classes: defaultSpec(preset('tiny')).labels,
  };
}

/** A short run (quiet, injected data) that leaves a checkpoint, with or without an EMA. */
async function checkpointIn(dir: string, ema: number): Promise<string> {
  await train({
    preset: 'tiny',
    outDir: dir,
    epochs: 1,
    batchSize: 16,
    lr: 3e-3,
    weightDecay: 0.05,
    warmupEpochs: 0,
    minLrRatio: 0.1,
    labelSmoothing: 0.1,
    seed: 1,
    data: 'injected',
    resume: false,
    threads: 1,
    mode: 'fused',
    augment: null,
    mixup: 0.5,
    ema,
    quiet: true,
    splits: { train: noise(64, 1), test: noise(16, 2) },
    log: () => {},
  });
  return path.join(dir, 'checkpoint.safetensors');
}

t.before(() => {
  if (!existsSync(BIN)) throw new Error('dist/ is missing: run npm run build (npm test does it first)');
});

t.test(
  'out-of-range recipe flags and unknown augmentations: one line naming the range or choices, exit 2',
  async (t) => {
    const dir = t.testdir();
    const cases: [string[], RegExp][] = [
      [['--mixup=-0.1'], /--mixup must be a number in \[0, ∞\), got "-0.1"/],
      [['--cutmix', 'x'], /--cutmix must be a number in \[0, ∞\), got "x"/],
      [['--ema', '1'], /--ema must be a number in \(0, 1\), got "1"/],
      [['--ema', '0'], /--ema must be a number in \(0, 1\)/],
      [['--mix-prob', '1.5'], /--mix-prob must be a number in \[0, 1\]/],
      [
        ['--augment', 'crop,autoaug'],
        /--augment: unknown "autoaug"\. Should be a comma list of: crop, flip, cutout, randaug, autoaugment, trivialaugment, none/,
      ],
      [['--augment', 'autoaugment,trivialaugment'], /choose one of autoaugment and trivialaugment/],
      [['--drop-path', '1'], /--drop-path must be a number in \[0, 1\), got "1"/],
      [['--override'], /--override only applies with --resume/],
      [['--val-split', '0'], /--val-split must be at least 1/],
    ];
    for (const [flags, re] of cases) {
      const r = await mixer('train', '--preset', 'tiny', '--out-dir', dir, ...flags);
      t.equal(r.code, 2, flags.join(' '));
      t.match(r.stderr, re, flags.join(' '));
      t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    }
  },
);

t.test('--resume with a changed recipe flag lists the difference, exit 2', async (t) => {
  const dir = t.testdir();
  await checkpointIn(dir, 0.9);
  const r = await mixer('train', '--out-dir', dir, '--resume', '--mixup', '0.2', '--lr', '0.003', '--epochs', '3');
  t.equal(r.code, 2);
  t.match(
    r.stderr,
    /^mixer: --resume with recipe flags that differ from the checkpoint \(mixup 0\.5 → 0\.2\); .*--override/,
  );
});

t.test('export --weights: EMA by default when present, raw on request, an error when absent', async (t) => {
  const dir = t.testdir({ ema: {}, raw: {} });
  const ckPath = await checkpointIn(path.join(dir, 'ema'), 0.9);
  const ck = await loadCheckpoint(ckPath);
  const pixels = noise(4, 9).images;
  const logitsOf = async (bytes: Uint8Array): Promise<Float32Array> => {
    const s = await Session.create(bytes, { threads: 1 });
    const out = await s.run({ pixels: { dtype: 'uint8', dims: [4, 32, 32, 3], data: pixels } as HostTensor });
    await s.release();
    return out['logits']!.data as Float32Array;
  };
  const emaModel = path.join(dir, 'ema.onnx');
  const rawModel = path.join(dir, 'raw.onnx');
  t.equal((await mixer('export', '--checkpoint', ckPath, '--out', emaModel)).code, 0);
  t.equal((await mixer('export', '--checkpoint', ckPath, '--out', rawModel, '--weights', 'raw')).code, 0);
  t.equal(parseModel(readFileSync(emaModel)).metadata['mixer.weights'], 'ema');
  t.same(
    await logitsOf(readFileSync(emaModel)),
    await logitsOf(buildInferenceModel(ck.spec, ck.ema!)),
    'default export = EMA weights',
  );
  t.same(
    await logitsOf(readFileSync(rawModel)),
    await logitsOf(buildInferenceModel(ck.spec, ck.params)),
    '--weights raw',
  );
  t.notSame(await logitsOf(readFileSync(emaModel)), await logitsOf(readFileSync(rawModel)));
  // Files with one set of weights (an inference model, its extracted safetensors) keep their label on re-export.
  const emaWeights = path.join(dir, 'ema.safetensors');
  t.equal((await mixer('export', '--checkpoint', emaModel, '--out', emaWeights)).code, 0);
  for (const [from, to] of [
    [emaModel, 'again.onnx'],
    [emaWeights, 'from-weights.onnx'],
  ] as const) {
    t.equal((await mixer('export', '--checkpoint', from, '--out', path.join(dir, to))).code, 0);
    t.equal(parseModel(readFileSync(path.join(dir, to))).metadata['mixer.weights'], 'ema', `${to} stays ema`);
  }
  t.equal(parseModel(readFileSync(rawModel)).metadata['mixer.weights'], 'raw');
  const noEma = await checkpointIn(path.join(dir, 'raw'), 0);
  const r = await mixer('export', '--checkpoint', noEma, '--out', path.join(dir, 'x.onnx'), '--weights', 'ema');
  t.equal(r.code, 2);
  t.match(r.stderr, /has no EMA weights/);
  const bad = await mixer('export', '--checkpoint', noEma, '--out', path.join(dir, 'x.onnx'), '--tta', 'rot');
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--tta "rot" is not valid\. Should be one of: none, flip/);
});

t.test(
  'export --tta flip: logits are the mean of the image and its mirror; same I/O; metadata records it',
  async (t) => {
    const dir = t.testdir();
    const ckPath = await checkpointIn(dir, 0);
    const ck = await loadCheckpoint(ckPath);
    const out = path.join(dir, 'tta.onnx');
    const r = await mixer('export', '--checkpoint', ckPath, '--out', out, '--tta', 'flip');
    t.equal(r.code, 0, r.stderr);
    const bytes = readFileSync(out);
    const parsed = parseModel(bytes);
    t.equal(parsed.metadata['mixer.tta'], 'flip');
    t.same(
      parsed.inputs.map((v) => v.name),
      ['pixels'],
    );
    t.same(
      parsed.outputs.map((v) => v.name),
      ['logits', 'probabilities'],
    );
    const n = 17; // 16 images and up take the tiled blocks
    const pixels = noise(n, 5).images;
    const mirrored = new Uint8Array(pixels.length);
    const per = 32 * 32 * 3;
    for (let i = 0; i < n; i++)
      hflip(pixels.subarray(i * per, (i + 1) * per), mirrored.subarray(i * per, (i + 1) * per), 32, 32);
    const plain = await Session.create(buildInferenceModel(ck.spec, ck.params), { threads: 1 });
    const feed = (d: Uint8Array) => ({ pixels: { dtype: 'uint8', dims: [n, 32, 32, 3], data: d } as HostTensor });
    const a = (await plain.run(feed(pixels)))['logits']!.data as Float32Array;
    const b = (await plain.run(feed(mirrored)))['logits']!.data as Float32Array;
    await plain.release();
    const s = await Session.create(bytes, { threads: 1 });
    const o = await s.run(feed(pixels));
    await s.release();
    const logits = o['logits']!.data as Float32Array;
    const probs = o['probabilities']!.data as Float32Array;
    let worst = 0;
    let moved = 0;
    for (let i = 0; i < logits.length; i++) {
      worst = Math.max(worst, Math.abs(logits[i]! - (a[i]! + b[i]!) / 2));
      moved = Math.max(moved, Math.abs(a[i]! - b[i]!));
    }
    t.comment(
      `max |tta − (plain + mirrored)/2| = ${worst.toExponential(2)}; max |plain − mirrored| = ${moved.toExponential(2)}`,
    );
    t.ok(worst < 1e-5, 'logits average the two views');
    t.ok(moved > 1e-3, 'the mirror changes the logits (the check is not vacuous)');
    let pworst = 0;
    for (let i = 0; i < n; i++) {
      const row = logits.subarray(i * 10, (i + 1) * 10);
      const mx = Math.max(...row);
      const z = row.reduce((acc, v) => acc + Math.exp(v - mx), 0);
      for (let k = 0; k < 10; k++) pworst = Math.max(pworst, Math.abs(probs[i * 10 + k]! - Math.exp(row[k]! - mx) / z));
    }
    t.ok(pworst < 1e-6, `probabilities are the softmax of the averaged logits (${pworst.toExponential(2)})`);
  },
);
