// `mixer train` on image folders as a user runs it: custom 64×64 shape, broken files, --strict, one class, tiny sets,
// the decode cache, fine-tuning with --init/--reset-head/--freeze, and the run's model.onnx served with the folder's labels.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import t from 'tap';
import { readSafetensors } from '../../src/formats/safetensors.js';
import { BIN } from '../fixtures/cli.js';
import { CLASSES, makeImageFolder, writeBroken } from '../fixtures/image-folder.js';
import { readyPort, spawnServe } from '../fixtures/serve-process.js';
import { TINY_64, tinyTrainer } from '../fixtures/train-tiny.js';

const dir = t.testdir();
const cacheDir = path.join(dir, 'decoded');
const { mixer, trainTiny } = tinyTrainer(dir, cacheDir);

const metrics = (run: string): { epoch: number; step: number; val_acc: number; test_acc: number | null }[] =>
  readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

const root = path.join(dir, 'photos');
const runA = path.join(dir, 'runs', 'a');

t.before(async () => {
  if (!existsSync(BIN)) throw new Error('dist/ is missing: run npm run build (npm test does it first)');
  await makeImageFolder(root, { perClass: 16 });
  writeBroken(path.join(root, CLASSES[0], 'broken.png'));
  writeBroken(path.join(root, CLASSES[1], '.hidden.png')); // hidden: ignored, not even reported
});

t.test('a 64×64 model from flags learns the folder; the corrupt file is skipped and reported', async (t) => {
  const r = await trainTiny({ data: root, out: runA, args: ['--epochs', '6', '--batch-size', '16'] });
  t.equal(r.code, 0, r.out);
  t.match(
    r.out,
    /model: 64×64 input, patch 16 \(16 tokens\), hidden 32, depth 2, tokens-mlp 16, channels-mlp 64, 3 classes: 34,499 parameters, [\d.]+ MFLOPs per image forward/,
  );
  t.match(r.out, /warning: skipping .*broken\.png: the image could not be decoded/);
  t.notMatch(r.out, /\.hidden\.png/);
  t.match(r.out, /decoded 48 images in [\d.]+ s: 0 from the cache, 48 decoded, 1 skipped/);
  for (const c of CLASSES) t.match(r.out, new RegExp(`${c}\\s+14 / 2`), `${c} counts`);
  t.match(r.out, /throughput: first epoch \d+ images\/s, later epochs \d+ images\/s/);
  const m = metrics(runA);
  t.equal(m.length, 6);
  t.equal(m.at(-1)!.step, 6 * 3, '42 training images, batch 16: 3 steps per epoch, the last one partial');
  t.ok(m.at(-1)!.val_acc >= 5 / 6, `validation accuracy ${m.at(-1)!.val_acc} ≥ 83%`);
  t.equal(m.at(-1)!.test_acc, null, 'an image folder has no test set: the held-out split is reported as validation');
  t.match(r.out, /\| validation loss [\d.]+ acc [\d.]+%/);
  t.match(r.out, /done: validation accuracy [\d.]+%/);
  t.notMatch(r.out, /test accuracy|test loss/);
  const report = readFileSync(path.join(runA, 'report.md'), 'utf8');
  t.match(report, /\*\*Validation accuracy: [\d.]+%\*\* on 6 images/);
  t.match(report, /Skipped 1 undecodable file:/);
  t.match(report, /broken\.png`: the image could not be decoded/);
  t.match(report, /\| circle-red \| 14 \| 2 \|/);
  t.match(report, /first epoch \d+, later epochs median \d+/);
});

t.test('a second run takes every image from the decode cache', async (t) => {
  const r = await trainTiny({ data: root, out: path.join(dir, 'runs', 'again'), args: ['--epochs', '1'] });
  t.equal(r.code, 0, r.out);
  t.match(r.out, /decoded 48 images in [\d.]+ s: 48 from the cache, 0 decoded, 1 skipped/);
  // A different training resolution is a different cache entry.
  const s = await trainTiny({
    data: root,
    out: path.join(dir, 'runs', 'at32'),
    model: ['--preset', 'tiny'],
    args: ['--epochs', '1'],
  });
  t.equal(s.code, 0, s.out);
  t.match(s.out, /decoded 48 images in [\d.]+ s: 0 from the cache, 48 decoded/);
});

t.test('--strict fails on the corrupt file', async (t) => {
  const r = await trainTiny({ data: root, out: path.join(dir, 'runs', 'strict'), args: ['--strict'] });
  t.equal(r.code, 2);
  t.match(r.out, /^mixer: cannot decode image .*broken\.png: the image could not be decoded.*\(--strict\)$/m);
  t.notOk(existsSync(path.join(dir, 'runs', 'strict', 'model.onnx')));
});

t.test('one class, or a class with one image, stops with exit 2 naming them', async (t) => {
  const one = path.join(dir, 'one');
  await makeImageFolder(one, { classes: ['cats'], perClass: 4 });
  const r = await trainTiny({ data: one, out: path.join(dir, 'runs', 'one'), model: ['--preset', 'tiny'] });
  t.equal(r.code, 2);
  t.match(r.out, /^mixer: need at least 2 classes to train a classifier; .*one has 1: cats$/m);
  const lonely = path.join(dir, 'lonely');
  await makeImageFolder(lonely, { classes: ['cats', 'dogs'], perClass: [5, 1] });
  const l = await trainTiny({ data: lonely, out: path.join(dir, 'runs', 'lonely'), model: ['--preset', 'tiny'] });
  t.equal(l.code, 2);
  t.match(l.out, /^mixer: every class needs at least 2 usable images .*too few in "dogs" \(1\)$/m);
});

t.test('fewer images than a batch: every epoch trains on all of them, also streamed from disk', async (t) => {
  const small = path.join(dir, 'small');
  await makeImageFolder(small, { perClass: 3, seed: 3 });
  const run = path.join(dir, 'runs', 'small');
  const r = await trainTiny({
    data: small,
    out: run,
    model: ['--preset', 'tiny'],
    args: ['--epochs', '3', '--cache-mb', '0'],
  });
  t.equal(r.code, 0, r.out);
  t.match(r.out, /note: --batch-size 128 is more than the 6 training images: each epoch is one batch of 6/);
  t.match(r.out, /streamed from the decode cache on disk/);
  t.match(r.out, /6 images: 3 optimizer steps \(1 steps\/epoch × 3 epochs/);
  t.same(
    metrics(run).map((m) => m.step),
    [1, 2, 3],
  );
  t.match(r.out, /checks-blue\s+2 \/ 1/, 'every class keeps one validation image');
});

t.test('model shape flags: invalid combinations are one-line errors with exit 2', async (t) => {
  const out = path.join(dir, 'runs', 'bad');
  for (const [args, msg] of [
    [
      ['--image-size', '60', '--patch-size', '16'],
      /^mixer: invalid model shape: config.image_size 60 is not divisible by patch_size 16$/,
    ],
    [['--hidden', '0'], /^mixer: --hidden must be at least 1, got 0$/],
    [['--depth=-2'], /^mixer: --depth must be at least 1, got -2$/],
    [['--config', path.join(dir, 'nope.json')], /^mixer: --config .*nope\.json: ENOENT$/],
    [['--reset-head'], /^mixer: --reset-head needs --init/],
    [['--freeze', 'blocks:9', '--preset', 'tiny'], /^mixer: --freeze blocks:9: the model has only 2 blocks$/],
  ] as [string[], RegExp][]) {
    const r = await mixer('train', '--data', root, '--out-dir', out, ...args);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.out.trim(), msg);
    t.equal(r.out.trim().split('\n').length, 1);
  }
});

const stem = async (file: string): Promise<Float32Array> =>
  (await readSafetensors(file)).tensors.get('stem.proj.weight')!.data as Float32Array;

t.test('fine-tuning from a checkpoint: --reset-head for new classes, --freeze stem keeps it fixed', async (t) => {
  const two = path.join(dir, 'two');
  await makeImageFolder(two, { classes: ['stripes-green', 'circle-red'], perClass: 8, seed: 5 });
  const ckA = path.join(runA, 'checkpoint.safetensors');
  const run = path.join(dir, 'runs', 'ft');
  const noReset = await trainTiny({ data: two, out: run, model: ['--init', ckA] });
  t.equal(noReset.code, 2);
  t.match(
    noReset.out,
    /^mixer: --init .*checkpoint\.safetensors: 'head\.weight' has shape \[3, 32\] but the model needs \[2, 32\].*--reset-head/m,
  );
  const wrong = await trainTiny({
    data: two,
    out: run,
    model: ['--init', ckA, '--reset-head', ...TINY_64.slice(0, 4), '--hidden', '48'],
  });
  t.equal(wrong.code, 2);
  t.match(
    wrong.out,
    /^mixer: --init .*: 'stem\.proj\.weight' has shape \[32, 3, 16, 16\] but the model needs \[48, 3, 16, 16\]/m,
  );

  // No model flags: the shape comes from the checkpoint.
  const r = await trainTiny({
    data: two,
    out: run,
    model: ['--init', ckA, '--reset-head', '--freeze', 'stem'],
    args: ['--epochs', '2', '--batch-size', '8'],
  });
  t.equal(r.code, 0, r.out);
  t.match(r.out, /initialised from .* with a new classifier head/);
  t.match(r.out, /34,466 parameters \(9,858 trainable, 24,608 frozen\)/);
  t.same(await stem(path.join(run, 'checkpoint.safetensors')), await stem(ckA), 'frozen stem unchanged by training');
  const after = (await readSafetensors(path.join(run, 'checkpoint.safetensors'))).tensors;
  const before = (await readSafetensors(ckA)).tensors;
  t.notSame(
    after.get('blocks.0.mlp_tokens.fc1.weight')!.data,
    before.get('blocks.0.mlp_tokens.fc1.weight')!.data,
    'the rest trained',
  );
  t.same(after.get('head.weight')!.shape, [2, 32]);
  t.ok(metrics(run).at(-1)!.val_acc >= 0.75, 'the fine-tuned model separates the two classes');
});

t.test('mixer serve --model <run>/model.onnx answers with the folder labels', async (t) => {
  const server = spawnServe(['--model', path.join(runA, 'model.onnx')], { cwd: dir, env: { MODEL_PATH: '' } });
  t.teardown(() => {
    server.child.kill('SIGTERM');
    return server.exit;
  });
  const port = await readyPort(server);
  const info = (await (await fetch(`http://127.0.0.1:${port}/v1/model`)).json()) as { labels?: string[] };
  t.same(info.labels, [...CLASSES].sort());
  const img = await sharp(path.join(root, 'checks-blue', 'img0.png')).toBuffer();
  const res = await fetch(`http://127.0.0.1:${port}/classify`, {
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body: img,
    signal: AbortSignal.timeout(30_000),
  });
  t.equal(res.status, 200);
  const body = (await res.json()) as { results: { predictions: { label: string }[] }[] };
  t.same(
    body.results[0]!.predictions.map((p) => p.label).sort(),
    [...CLASSES].sort(),
    'all three folder labels, no CIFAR ones',
  );
  t.equal(body.results[0]!.predictions[0]!.label, 'checks-blue');
});

t.teardown(() => rmSync(cacheDir, { recursive: true, force: true }));
