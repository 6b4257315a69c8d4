// From your own images to a served model, end to end: a default `mixer train` (no --epochs) on 180 images of 3 shape
// classes reaches ≥ 90% on a separate folder within 4 minutes; eval scores whole folders; the model records no local
// paths, its own normalisation and class count; `mixer serve --model <run>/model.onnx` names it after the run and
// finds its report. One trained model serves every check; a short run shows the step warning and the warmup bound.
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { CIFAR10_MEAN, loadModelFile } from '../../src/model/index.js';
import { BIN, type CliResult, mixerCli } from '../fixtures/cli.js';
import { makeShapesFolder, SHAPES } from '../fixtures/image-folder.js';
import { readyPort, spawnServe } from '../fixtures/serve-process.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const dir = t.testdir();
/** What a default run may take on this project's 2-core machine, busy with other work (measured 51–133 s). */
const TRAIN_BUDGET_S = 240;
// A 48×48 model (patch 8: 36 tokens, 14.6 MFLOPs per image): small enough for the budget, large enough for the shapes.
const SHAPE = ['--image-size', '48', '--patch-size', '8', '--hidden', '96', '--depth', '4'];
const MLP = ['--tokens-mlp', '48', '--channels-mlp', '192', '--batch-size', '32', '--cache-dir', 'decoded'];

const cli = mixerCli(
  { ORT_DISABLE_TELEMETRY: '1', MODEL_PATH: '' },
  { cwd: dir, timeoutMs: 2 * TRAIN_BUDGET_S * 1000 },
);

/** `mixer ...args` run in the test folder, with relative paths as a user types them, and how long it took. */
async function mixer(...args: string[]): Promise<CliResult & { s: number }> {
  const t0 = performance.now();
  const r = await cli(...args);
  return { ...r, s: (performance.now() - t0) / 1000 };
}

t.before(async () => {
  if (!existsSync(BIN)) throw new Error('dist/ is missing: run npm run build (npm test does it first)');
  await makeShapesFolder(path.join(dir, 'shapes'), 60, 1);
  await makeShapesFolder(path.join(dir, 'heldout'), 30, 2);
});

const run = path.join('runs', 'shapes-default');
let trained = false;

t.test('a default run states its steps, raises the epochs for a small set and learns it', async (t) => {
  const r = await mixer('train', '--data', 'shapes', '--out-dir', run, ...SHAPE, ...MLP);
  t.equal(r.code, 0, r.out);
  trained = r.code === 0;
  t.match(
    r.out,
    /training a custom model on 162 images: 402 optimizer steps \(6 steps\/epoch × 67 epochs, raised from 40 so that the set gets 400 steps, batch 32/,
  );
  t.notMatch(r.out, /warning: \d+ optimizer steps/, 'enough steps: no warning');
  t.notMatch(r.out, /^warmup: /m, 'its 18 warmup steps are under 10% of the run');
  t.match(
    r.out,
    /normalisation: mean [\d.]+, [\d.]+, [\d.]+, std [\d.]+, [\d.]+, [\d.]+ \(RGB, 0–1\), from the 162 training images/,
  );
  t.ok(r.s < TRAIN_BUDGET_S, `trained in ${r.s.toFixed(0)} s (budget ${TRAIN_BUDGET_S} s)`);
  t.comment(`default run: ${r.s.toFixed(1)} s; ${/done: .*%/.exec(r.out)?.[0]}`);
});

t.test('mixer eval scores every image of a separate folder: ≥ 90%', async (t) => {
  if (!trained) return t.fail('no model: the default run failed');
  const r = await mixer('eval', '--model', path.join(run, 'model.onnx'), '--data', 'heldout', '--json');
  t.equal(r.code, 0, r.out);
  const j = JSON.parse(r.stdout) as { count: number; accuracy: number; scored: { images: number; from: string } };
  t.same(j.scored, { images: 90, from: 'every image of heldout' });
  t.equal(j.count, 90);
  t.ok(j.accuracy >= 0.9, `held-out accuracy ${(100 * j.accuracy).toFixed(1)}% ≥ 90%`);
  t.comment(`held-out accuracy ${(100 * j.accuracy).toFixed(1)}% on 90 images`);
  const whole = await mixer('eval', '--model', path.join(run, 'model.onnx'), '--data', 'shapes');
  t.equal(whole.code, 0, whole.out);
  t.match(whole.stdout, /^scored 180 images: every image of shapes\n/, 'a plain folder: all of it, not its 10%');
  mkdirSync(path.join(dir, 'layout'));
  symlinkSync(path.join(dir, 'shapes'), path.join(dir, 'layout', 'train'));
  symlinkSync(path.join(dir, 'heldout'), path.join(dir, 'layout', 'test'));
  const layout = await mixer('eval', '--model', path.join(run, 'model.onnx'), '--data', 'layout', '--limit', '10');
  t.equal(layout.code, 0, layout.out);
  t.match(
    layout.stdout,
    /^scored 10 images: every image of layout\/test \(the first 10 of 90: --limit\)\n/,
    'train/ + test/: the test part',
  );
});

t.test('the model records the data without local paths, its classes and its own normalisation', async (t) => {
  if (!trained) return t.fail('no model: the default run failed');
  const m = await loadModelFile(path.join(dir, run, 'model.onnx'));
  const training = JSON.parse(m.parsed.metadata['mixer.training']!) as Record<string, unknown>;
  t.equal(training['data'], 'shapes');
  t.match(training['data_sha256'], /^[0-9a-f]{64}$/);
  t.match(training['config'], { num_classes: 3, image_size: 48 });
  t.equal(training['epochs'], 67);
  for (const [k, v] of Object.entries(m.parsed.metadata))
    t.notOk(v.includes(dir) || v.includes(ROOT), `metadata ${k} holds no absolute path of this machine`);
  t.same(m.spec.labels, [...SHAPES]);
  t.notSame(m.spec.mean, CIFAR10_MEAN, "not CIFAR-10's mean");
  for (const x of [...m.spec.mean, ...m.spec.std]) t.ok(x > 0.1 && x < 0.7, `${x}: a statistic of the shapes`);
  const report = readFileSync(path.join(dir, run, 'report.md'), 'utf8');
  t.match(report, /\| config \| `\{[^`]*"num_classes":3[^`]*\}` \|/, 'the recipe table shows the model as trained');
  t.match(report, /\| data \| `"shapes"` \|/);
  t.match(report, /- Input normalisation \(RGB, 0–1\): mean [\d., ]+, std [\d., ]+ \(from the 162 training images\)/);
  t.match(report, /Image folder `shapes` \(sha256 of its file list and sizes: `[0-9a-f]{16}`\)/);
  t.notOk(report.includes(dir), 'the report holds no absolute path either');
});

t.test('mixer serve --model <run>/model.onnx: named after the run, with its report', async (t) => {
  if (!trained) return t.fail('no model: the default run failed');
  const server = spawnServe(['--model', path.join(run, 'model.onnx')], { cwd: dir, env: { MODEL_PATH: '' } });
  t.teardown(() => {
    server.child.kill('SIGTERM');
    return server.exit;
  });
  const port = await readyPort(server);
  const base = `http://127.0.0.1:${port}`;
  const info = (await (await fetch(`${base}/v1/model`)).json()) as { name: string; labels: string[]; mean: number[] };
  t.equal(info.name, 'shapes-default', 'the run folder\'s name, not "model"');
  t.same(info.labels, [...SHAPES]);
  const report = await fetch(`${base}/ui/model/report/report.md`);
  t.equal(report.status, 200, 'report.md beside model.onnx');
  t.match(await report.text(), /\*\*Validation accuracy: [\d.]+%\*\*/);
  t.equal((await fetch(`${base}/ui/model/report/training.svg`)).status, 200, 'and its plot');
});

t.test('a short run: the step warning with the --epochs to use, and the warmup cut to 10%', async (t) => {
  const r = await mixer(
    'train',
    '--data',
    'shapes',
    '--out-dir',
    path.join('runs', 'short'),
    ...SHAPE,
    ...MLP,
    '--epochs',
    '6',
    '--stop-at-step',
    '1',
  );
  t.equal(r.code, 0, r.out);
  t.match(r.out, /162 images: 36 optimizer steps \(6 steps\/epoch × 6 epochs, batch 32/);
  t.match(r.out, /^warmup: 3 steps, cut from --warmup-epochs 3 \(18 steps\) to 10% of the run$/m);
  t.match(
    r.out,
    /^warning: 36 optimizer steps are too few to train on 162 images \(fewer than 400 under-train even small, easy sets\); --epochs 67 gives 400, or a smaller --batch-size more steps for the same work$/m,
  );
});
