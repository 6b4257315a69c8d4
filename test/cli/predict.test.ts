// `mixer predict` as a batch job, run as a user runs it: a folder and a glob with a broken file give results in input
// order plus error records and exit 2; --resume skips what the output holds and retries failures; CSV quoting reads
// back; --model-repository honours the model's config.json preprocessing.
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { csvRecords } from '../../src/cli/predict-output.js';
import { decodeImage } from '../../src/image/decode.js';
import { squareTarget } from '../../src/image/pipeline.js';
import { topK } from '../../src/model/predictions.js';
import { Session } from '../../src/runtime/session.js';
import { mixerCli } from '../fixtures/cli.js';
import { image, writeModel } from '../fixtures/server.js';

const mixer = mixerCli({ ORT_DISABLE_TELEMETRY: '1' });
const dir = t.testdir();
const model = writeModel(dir);
const photos = path.join(dir, 'photos');
mkdirSync(path.join(photos, 'b'), { recursive: true });
writeFileSync(path.join(photos, 'a.png'), await image('png', 40, 30));
writeFileSync(path.join(photos, 'b', 'c.jpg'), await image('jpeg', 64, 48));
writeFileSync(path.join(photos, 'b', 'broken.jpg'), 'not a jpeg at all');
writeFileSync(path.join(photos, 'd.webp'), await image('webp', 32, 32));
writeFileSync(path.join(photos, 'notes.txt'), 'a folder contributes image files only');

type Line = {
  path: string;
  predictions?: { label: string; probability: number }[];
  error?: { code: string; message: string };
};
const lines = (text: string): Line[] =>
  text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);

t.test('a folder with a broken file: every result in order, an error record, exit 2', async (t) => {
  const r = await mixer('predict', '--model', model, '--json', '--top', '3', photos, path.join(dir, 'missing.png'));
  t.equal(r.code, 2, r.stderr);
  const got = lines(r.stdout);
  t.same(
    got.map((l) => path.relative(dir, l.path)),
    ['photos/a.png', 'photos/b/broken.jpg', 'photos/b/c.jpg', 'photos/d.webp', 'missing.png'],
    'sorted folder walk (images only), then the next argument',
  );
  t.equal(got[0]!.predictions!.length, 3);
  t.match(got[1], { error: { code: 'NOT_AN_IMAGE', message: /broken\.jpg" is not an image/ } });
  t.match(got[4], { error: { code: 'UNREADABLE', message: /ENOENT/ } });
  t.ok(got[2]!.predictions && got[3]!.predictions, 'the files after the broken one still ran');
  t.match(r.stderr, /5 input\(s\), 3 classified, 2 failed, in [\d.]+ s \([\d.]+ images\/s\)/);
  // The same probabilities as a plain run of the model on the decoder's pixels.
  const s = await Session.create(model, { threads: 1 });
  const px = await decodeImage(readFileSync(path.join(photos, 'a.png')), squareTarget(32));
  const probs = (await s.run({ pixels: { dtype: 'uint8', dims: [1, 32, 32, 3], data: px } }))['probabilities']!.data;
  await s.release();
  const ref = topK(probs as Float32Array, got[0]!.predictions!.map(() => '').concat(), 3);
  t.same(
    got[0]!.predictions!.map((p) => p.probability.toFixed(6)),
    ref.map((p) => p.probability.toFixed(6)),
  );

  const ok = await mixer('predict', '--model', model, path.join(photos, 'a.png'), `${photos}/**/c.jpg`);
  t.equal(ok.code, 0, 'exit 0 when every input succeeded');
  t.match(ok.stdout, /a\.png\n( +[\d.]+% {2}\S+\n){5}.*c\.jpg\n/s, 'glob matched in a subfolder; text format');
  const none = await mixer('predict', '--model', model, `${photos}/*.gif`);
  t.equal(none.code, 2);
  t.match(none.stdout, /\*\.gif: error NO_MATCH: no image file matches/);
});

t.test('--resume keeps the successes, retries failures, drops a cut-off record', async (t) => {
  const out = path.join(dir, 'out.jsonl');
  const first = await mixer('predict', '--model', model, '--json', '--out', out, photos);
  t.equal(first.code, 2);
  t.equal(first.stdout, '', 'records go to --out');
  t.equal(lines(readFileSync(out, 'utf8')).length, 4);
  // An interrupted run leaves half a record; a new file and a fixed broken one arrive.
  appendFileSync(out, '{"path":"half');
  writeFileSync(path.join(photos, 'b', 'broken.jpg'), await image('jpeg', 32, 32));
  writeFileSync(path.join(photos, 'e.png'), await image('png', 32, 32));
  const again = await mixer('predict', '--model', model, '--json', '--out', out, '--resume', photos);
  t.equal(again.code, 0, again.stderr);
  t.match(again.stderr, /3 input\(s\) already in .*out\.jsonl, skipped/);
  t.match(again.stderr, /2 input\(s\), 2 classified, 0 failed/);
  const all = lines(readFileSync(out, 'utf8'));
  t.same(
    all.map((l) => path.relative(photos, l.path)).sort(),
    ['a.png', 'b/broken.jpg', 'b/c.jpg', 'd.webp', 'e.png'],
    'each input once, no error record left, no half record',
  );
  t.ok(all.every((l) => l.predictions));
  const noop = await mixer('predict', '--model', model, '--json', '--out', out, '--resume', photos);
  t.equal(noop.code, 0);
  t.match(noop.stderr, /0 input\(s\)/);
  t.equal(lines(readFileSync(out, 'utf8')).length, 5);
  t.match(
    (await mixer('predict', '--model', model, '--resume', photos)).stderr,
    /--resume needs --out FILE and --json or --csv/,
  );
});

t.test('--csv quotes fields and reads back; --resume works on it', async (t) => {
  const odd = path.join(dir, 'odd');
  mkdirSync(odd);
  writeFileSync(path.join(odd, 'a, "quoted".png'), await image('png', 32, 32));
  writeFileSync(path.join(odd, 'z.png'), 'broken');
  const out = path.join(dir, 'out.csv');
  const r = await mixer('predict', '--model', model, '--csv', '--top', '2', '--out', out, odd);
  t.equal(r.code, 2);
  const recs = csvRecords(readFileSync(out, 'utf8')).map((x) => x.fields);
  t.same(recs[0], ['path', 'rank', 'label', 'index', 'probability', 'error_code', 'error_message']);
  t.equal(recs.length, 4);
  t.equal(recs[1]![0], path.join(odd, 'a, "quoted".png'), 'a path with a comma and quotes survives');
  t.same(
    recs.slice(1, 3).map((x) => x[1]),
    ['1', '2'],
  );
  t.match(recs[3], [path.join(odd, 'z.png'), '', '', '', '', 'NOT_AN_IMAGE', /z\.png" is not an image/]);
  writeFileSync(path.join(odd, 'z.png'), await image('png', 32, 32));
  const again = await mixer('predict', '--model', model, '--csv', '--top', '2', '--out', out, '--resume', odd);
  t.equal(again.code, 0, again.stderr);
  const recs2 = csvRecords(readFileSync(out, 'utf8')).map((x) => x.fields);
  t.equal(recs2.length, 5, 'header, two rows per image, the error row gone');
});

t.test('--model-repository --model-name uses the folder config.json (interpolation)', async (t) => {
  const repo = path.join(dir, 'repo');
  mkdirSync(path.join(repo, 'm', '1'), { recursive: true });
  writeModel(path.join(repo, 'm', '1'), 'tiny', 1, 'model.onnx');
  writeFileSync(path.join(repo, 'm', 'config.json'), JSON.stringify({ interpolation: 'nearest' }));
  writeFileSync(path.join(repo, 'm', 'labels.txt'), Array.from({ length: 10 }, (_, i) => `class-${i}`).join('\n'));
  const big = path.join(dir, 'big.png');
  writeFileSync(big, await image('png', 320, 320));
  const r = await mixer('predict', '--model-repository', repo, '--model-name', 'm', '--json', '--top', '10', big);
  t.equal(r.code, 0, r.stderr);
  const [got] = lines(r.stdout);
  const s = await Session.create(model, { threads: 1 });
  const run = async (interpolation: 'nearest' | 'lanczos') => {
    const px = await decodeImage(readFileSync(big), { ...squareTarget(32), interpolation });
    return (await s.run({ pixels: { dtype: 'uint8', dims: [1, 32, 32, 3], data: px } }))['probabilities']!
      .data as Float32Array;
  };
  const nearest = await run('nearest');
  const lanczos = await run('lanczos');
  await s.release();
  const p = got!.predictions!.find((x) => x.label === 'class-0')!;
  t.ok(Math.abs(p.probability - nearest[0]!) < 1e-6, 'nearest, as config.json says');
  t.ok(Math.abs(nearest[0]! - lanczos[0]!) > 1e-6, 'and that differs from the default');
  const bad = await mixer('predict', '--model-repository', repo, '--model-name', 'nope', big);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /^mixer: .*nope/);
});
