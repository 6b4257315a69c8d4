// models/figures.json is the one source of the figures the docs quote: each matches its run's files and its model's
// hash, the docs quote it only through its marker, and every figure is quoted somewhere.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { loadFigures, quotedFigures, unmarkedFigures } from '../../src/docs/figures.js';
import { docFiles } from '../../src/docs/regions.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const { models, figures } = loadFigures(ROOT);
const read = (f: string): string => readFileSync(path.join(ROOT, f), 'utf8');
const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;
/** The last epoch's line of a run's metrics.jsonl. */
const lastEpoch = (f: string): Record<string, number> =>
  JSON.parse(read(f).trim().split('\n').at(-1)!) as Record<string, number>;

t.test('the figures match the runs they come from', async (t) => {
  const stage2 = lastEpoch('models/mixer-cifar10-report/metrics.jsonl');
  t.equal(figures['float-ema']?.text, pct(stage2['ema_test_acc']!), 'shipped model: EMA test accuracy of the run');
  t.equal(figures['float-raw']?.text, pct(stage2['test_acc']!), 'its raw weights');
  const stage1 = lastEpoch('models/mixer-cifar10-report/long-run/metrics.jsonl');
  t.equal(figures['stage1-raw']?.text, pct(stage1['test_acc']!), 'stage 1, raw');
  t.equal(figures['stage1-ema']?.text, pct(stage1['ema_test_acc']!), 'stage 1, EMA');
  t.match(read('models/mixer-cifar10-report/long-run/report.md'), `**Test accuracy: ${figures['stage1-raw']?.text}**`);
  // The trainer's own lines in the reports.
  const speed = (key: string): string => figures[key]?.text ?? '(none)';
  t.match(
    read('models/mixer-cifar10-report/long-run/report.md'),
    `Median training throughput: ${speed('stage1-images-per-s')}`,
  );
  t.match(
    read('models/mixer-cifar10-report/report.md'),
    `Median training throughput, stage 2: ${speed('stage2-images-per-s')}`,
  );
});

t.test('the models are the ones the figures were measured on', async (t) => {
  for (const [file, sha] of Object.entries(models)) {
    const now = createHash('sha256')
      .update(readFileSync(path.join(ROOT, file)))
      .digest('hex');
    t.equal(now, sha, `${file} changed since its figures were measured: run mixer eval, update models/figures.json`);
  }
  for (const [key, f] of Object.entries(figures)) {
    t.ok(f.text && f.what && f.source, `${key} says what it is and where it comes from`);
    if (f.model) t.ok(models[f.model], `${key}'s model ${f.model} has its sha256 in models/figures.json`);
  }
});

t.test('the docs quote each figure through its marker only, and every figure is quoted', async (t) => {
  const quoted = new Set<string>();
  for (const file of docFiles(ROOT)) {
    const text = read(file);
    for (const k of quotedFigures(text)) quoted.add(k);
    // The reports under models/ are the runs' own records (their tables and logs hold the source figures).
    if (file.startsWith('models')) continue;
    for (const u of unmarkedFigures(text, figures))
      t.fail(`${file}:${u.line}: ${u.text} (figure ${u.key}) written by hand: quote it as <!-- figure:${u.key} -->`);
  }
  t.same(
    Object.keys(figures).filter((k) => !quoted.has(k)),
    [],
    'no figure in models/figures.json goes unquoted',
  );
});
