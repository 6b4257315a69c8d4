// `mixer retrain` as a user runs it: corrections for images the model gets wrong pass the gate and become version 2;
// random labels are refused with nothing written; a foreign model, unknown replay data and too little feedback are clear errors.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Builder, Graph, serializeModel } from '../../src/onnx/index.js';
import { mixerCli } from '../fixtures/cli.js';
import { CLASSES } from '../fixtures/image-folder.js';
import { makeRetrainWorld, redChecks, WRONG_KIND_LABEL, writeCorrections } from '../fixtures/retrain-world.js';

const dir = t.testdir();
const mixer = mixerCli({ ORT_DISABLE_TELEMETRY: '1' }, { cwd: dir, timeoutMs: 240_000 });
let world: Awaited<ReturnType<typeof makeRetrainWorld>>;

t.before(async () => {
  world = await makeRetrainWorld(dir);
});

const retrain = (feedback: string, ...more: string[]) =>
  mixer(
    'retrain',
    '--model-repository',
    world.repo,
    '--model',
    world.model,
    '--feedback-dir',
    feedback,
    '--cache-dir',
    world.cacheDir,
    '--json',
    ...more,
  );

const reportOf = (stdout: string) =>
  JSON.parse(
    stdout
      .trim()
      .split('\n')
      .filter((l) => l.includes('"event":"report"'))
      .at(-1)!,
  ).report;

t.test('random labels: the gate refuses and nothing is written', async (t) => {
  const fb = path.join(dir, 'fb-random');
  let s = 12345;
  const items = [];
  for (let i = 0; i < 60; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    items.push({ label: CLASSES[s % 3]!, png: await redChecks(1000 + i), name: `r${i}` });
  }
  writeCorrections(fb, world.model, items);
  const r = await retrain(fb);
  t.equal(r.code, 3, r.stderr);
  const rep = reportOf(r.stdout);
  t.equal(rep.written, false);
  t.equal(rep.version, null);
  t.equal(rep.gate.pass, false);
  t.equal(rep.data.feedback, 60);
  t.match(r.stderr, /gate refused the candidate: nothing written/);
  t.same(readdirSync(path.join(world.repo, world.model)).sort(), ['1', 'config.json'], 'no version, no leftovers');
  t.comment(
    `random labels: held-out ${rep.current.held_out_accuracy} → ${rep.candidate.held_out_accuracy}, val ${rep.current.original_val_accuracy} → ${rep.candidate.original_val_accuracy}`,
  );
});

t.test('corrections for a kind the model gets wrong pass the gate and become version 2', async (t) => {
  const fb = path.join(dir, 'fb');
  const items = [];
  for (let i = 0; i < 60; i++) items.push({ label: WRONG_KIND_LABEL, png: await redChecks(i), name: `c${i}` });
  writeCorrections(fb, world.model, items);
  const r = await retrain(fb);
  t.equal(r.code, 0, r.stderr);
  const rep = reportOf(r.stdout);
  t.comment(
    `held-out ${rep.current.held_out_accuracy} → ${rep.candidate.held_out_accuracy}, val ${rep.current.original_val_accuracy} → ${rep.candidate.original_val_accuracy}, ${rep.seconds} s`,
  );
  t.equal(rep.written, true);
  t.equal(rep.version, 2);
  t.equal(rep.from_version, 1);
  t.equal(rep.data.held_out, 15, "a quarter of the label's 60 corrections held out");
  t.equal(rep.data.replay_is_training_data, true, 'the replay folder is the one the model was trained on');
  t.ok(rep.candidate.held_out_accuracy > rep.current.held_out_accuracy);
  const v2 = path.join(world.repo, world.model, '2');
  t.same(readdirSync(v2).sort(), ['labels.txt', 'model.onnx', 'report.json']);
  t.equal(readFileSync(path.join(v2, 'labels.txt'), 'utf8'), `${CLASSES.slice().sort().join('\n')}\n`);
  t.same(JSON.parse(readFileSync(path.join(v2, 'report.json'), 'utf8')).gate, rep.gate);
  const progress = r.stdout.split('\n').filter((l) => l.includes('"event":"progress"'));
  t.ok(
    progress.some((l) => l.includes('"phase":"train"')),
    'training steps are reported',
  );
});

t.test('clear errors', async (t) => {
  const fb = path.join(dir, 'fb');
  const noData = path.join(dir, 'repo-nodata');
  const { cpSync, mkdirSync } = await import('node:fs');
  mkdirSync(path.join(noData, 'shapes', '1'), { recursive: true });
  cpSync(path.join(world.repo, 'shapes', '1', 'model.onnx'), path.join(noData, 'shapes', '1', 'model.onnx'));
  let r = await mixer('retrain', '--model-repository', noData, '--model', 'shapes', '--feedback-dir', fb);
  t.equal(r.code, 2, r.stderr);
  t.match(
    r.stderr,
    /the original training data of "shapes" is not known here: its recipe records the data "photos".*--replay-data DIR/,
  );
  mkdirSync(path.join(noData, 'foreign', '1'), { recursive: true });
  const g = new Graph('foreign');
  const x = g.input('x', 'float32', ['N', 3, 8, 8]);
  g.output(new Builder(g).reshape(x, ['N', 192], 'scores'));
  writeFileSync(path.join(noData, 'foreign', '1', 'model.onnx'), serializeModel(g));
  r = await mixer('retrain', '--model-repository', noData, '--model', 'foreign', '--feedback-dir', fb);
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, /not a model written by onnx-mixer: retrain fine-tunes only MLP-Mixer models this project trained/);
  r = await retrain(path.join(dir, 'fb-none'));
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, /no corrections in .*fb-none\/shapes: send some first/);
  const few = path.join(dir, 'fb-few');
  writeCorrections(few, 'shapes', [{ label: WRONG_KIND_LABEL, png: await redChecks(1), name: 'one' }]);
  r = await retrain(few);
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, /1 correction in .*too few to retrain/);
  t.notOk(existsSync(path.join(world.repo, 'shapes', '3')));
});
