// `mixer curves`: run specs, reference points, offsets, the chart's coordinates and the table, through the module and the CLI.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { parseRunSpec, readPoints, runCurve, valueAt } from '../../src/train/curves.js';
import { type AccuracyLine, accuracyChartSvg } from '../../src/train/plot.js';
import { readMetrics } from '../../src/train/report.js';
import { mixerCli } from '../fixtures/cli.js';

const mixer = mixerCli({});

const row = (epoch: number, test: number | null, ema?: number) =>
  JSON.stringify({
    epoch,
    step: epoch * 10,
    train_loss: 1,
    train_acc: 0.5,
    test_loss: test === null ? null : 0.5,
    test_acc: test,
    ...(ema !== undefined ? { ema_test_acc: ema } : {}),
    images_per_s: 100,
  });

/** A run folder with a metrics.jsonl of these lines. */
function runDir(root: string, name: string, lines: string[]): string {
  const dir = path.join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'metrics.jsonl'), `${lines.join('\n')}\n`);
  return dir;
}

t.test('a run spec: label, folder or file, offset; missing runs are refused by name', async (t) => {
  const root = t.testdir();
  const dir = runDir(root, 'stage-2', [row(1, 0.5)]);
  t.same(await parseRunSpec(dir), { label: 'stage-2', file: path.join(dir, 'metrics.jsonl'), offset: 0 });
  t.same(await parseRunSpec(`second=${dir}:45`), {
    label: 'second',
    file: path.join(dir, 'metrics.jsonl'),
    offset: 45,
  });
  t.same(await parseRunSpec(`${path.join(dir, 'metrics.jsonl')}:7`), {
    label: 'stage-2',
    file: path.join(dir, 'metrics.jsonl'),
    offset: 7,
  });
  await t.rejects(parseRunSpec(path.join(root, 'nope')), { code: 'BAD_RUN', message: /nope does not exist/ });
  const empty = path.join(root, 'empty');
  mkdirSync(empty);
  await t.rejects(parseRunSpec(empty), { code: 'BAD_RUN', message: /has no metrics.jsonl/ });
  await t.rejects(parseRunSpec('x=:3'), { code: 'BAD_RUN' });
});

t.test('a curve: offsets applied, epochs without an evaluation left out, EMA apart from raw', async (t) => {
  const spec = { label: 'r', file: 'unused', offset: 45 };
  const rows = [row(1, 0.8, 0.81), row(2, null), row(3, 0.85, 0.86)].map((l) => JSON.parse(l));
  const c = runCurve(spec, rows, 'test');
  t.same(c.raw, [
    [46, 0.8],
    [48, 0.85],
  ]);
  t.same(c.ema, [
    [46, 0.81],
    [48, 0.86],
  ]);
  t.same(runCurve(spec, rows, 'val'), { label: 'r', raw: [], ema: [] }, 'no validation split: nothing');
  t.equal(valueAt(c.ema, 45), null, 'before the run');
  t.equal(valueAt(c.ema, 47), 0.81, 'between evaluations: the last one');
  t.equal(valueAt(c.ema, 48), 0.86);
  t.equal(valueAt(c.ema, 49), null, 'after the run');
});

t.test('reference points: a header, comments, percentages or fractions; bad lines named', async (t) => {
  const dir = t.testdir({
    'anchor.csv': '# read from a plot\nepoch,accuracy\n50,81\n\n300, 90.83 # final\n',
    'frac.csv': '10,0.5\n20,0.75\n',
    'bad.csv': '10,81\n20,abc\n',
    'range.csv': '10,181\n',
    'empty.csv': '# nothing\nepoch,accuracy\n',
  });
  t.same(await readPoints(path.join(dir, 'anchor.csv')), {
    label: 'anchor',
    points: [
      [50, 0.81],
      [300, 0.9083],
    ],
  });
  t.same((await readPoints(`paper=${path.join(dir, 'frac.csv')}`)).label, 'paper');
  t.same((await readPoints(path.join(dir, 'frac.csv'))).points, [
    [10, 0.5],
    [20, 0.75],
  ]);
  await t.rejects(readPoints(path.join(dir, 'bad.csv')), { code: 'BAD_POINTS', message: /bad.csv:2: expected/ });
  await t.rejects(readPoints(path.join(dir, 'range.csv')), { code: 'BAD_POINTS', message: /out of range/ });
  await t.rejects(readPoints(path.join(dir, 'empty.csv')), { code: 'BAD_POINTS', message: /no "epoch,accuracy"/ });
  await t.rejects(readPoints(path.join(dir, 'none.csv')), { code: 'BAD_POINTS', message: /cannot read/ });
});

t.test(
  'a metrics log with a torn last line (a run killed while writing) reads; a torn line inside does not',
  async (t) => {
    const dir = t.testdir({
      'a.jsonl': `${row(1, 0.5)}\n${row(2, 0.6)}\n{"epo`,
      'b.jsonl': `${row(1, 0.5)}\n{"e\n${row(3, 0.6)}\n`,
    });
    t.equal((await readMetrics(path.join(dir, 'a.jsonl'))).length, 2);
    await t.rejects(readMetrics(path.join(dir, 'b.jsonl')), { code: 'BAD_METRICS', message: /b.jsonl:2/ });
  },
);

t.test('the chart: each point where the axes put it; below --y-min clipped, not drawn off the chart', async (t) => {
  const line: AccuracyLine = {
    name: 'a',
    color: '#000',
    points: [
      [0, 0.5],
      [100, 1],
    ],
  };
  const svg = accuracyChartSvg('T', [line, { name: 'p', color: '#f00', points: [[50, 0.75]], dots: true }], 'epoch');
  // Plot area x 60..736 over epochs 0..100, y from 50% (bottom, 380 + 18 - 50) to 100% (top, 44 + 18).
  const [, d] = /<path d="([^"]+)"/.exec(svg)!;
  t.equal(d, 'M60.0,348.0 L736.0,62.0');
  t.match(svg, /<circle cx="398.0" cy="205.0" r="4" fill="#f00" clip-path="url\(#plot\)"\/>/);
  t.match(svg, />50%</);
  t.match(svg, />100%</);
  const zoomed = accuracyChartSvg('T', [line], 'epoch', {
    yMin: 0.8,
  });
  t.notMatch(zoomed, />50%</, 'the axis starts at 80%');
  t.match(zoomed, />80%</);
  t.match(zoomed, /<path [^>]*clip-path="url\(#plot\)"/);
});

t.test('mixer curves: stages chained, the table, the chart; mistakes exit 2 with one line', async (t) => {
  const root = t.testdir({ 'paper.csv': 'epoch,accuracy\n2,70\n5,90\n' });
  const a = runDir(root, 'first', [row(1, 0.6, 0.62), row(2, 0.7, 0.72)]);
  const b = runDir(root, 'second', [row(1, 0.8, 0.82), row(2, 0.85, 0.88), row(3, 0.86, 0.9)]);
  const out = path.join(root, 'charts', 'c.svg');
  const r = await mixer('curves', a, `next=${b}:2`, '--points', path.join(root, 'paper.csv'), '--out', out);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, '| first | 1–2 | 72.00% | 72.00% | 70.00% | 70.00% |');
  t.match(r.stdout, '| next | 3–5 | 90.00% | 90.00% | 86.00% | 86.00% |');
  t.match(r.stdout, '| 2 | 70.00% | 72.00% | - |');
  t.match(r.stdout, '| 5 | 90.00% | - | 90.00% |');
  const svg = readFileSync(out, 'utf8');
  t.match(svg, /<svg /);
  t.equal(svg.match(/<path /g)?.length, 4, 'EMA and raw of both runs');
  t.match(svg, '>next (EMA)<');
  t.match(svg, 'stroke-dasharray', 'raw curves dashed');

  const none = await mixer('curves', '--out', out);
  t.equal(none.code, 2);
  t.match(none.stderr, /name at least one run/);
  const missing = await mixer('curves', path.join(root, 'gone'), '--out', out);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /gone does not exist/);
  const noTest = runDir(root, 'no-test', [row(1, null)]);
  const empty = await mixer('curves', noTest, '--out', out);
  t.equal(empty.code, 2);
  t.match(empty.stderr, /has no test accuracy/);
  const badY = await mixer('curves', a, '--out', out, '--y-min', '99');
  t.equal(badY.code, 2);
});
