// `mixer curves`: several runs' test-accuracy curves on one SVG chart (stages chained by epoch offsets) beside reference points, and a table.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { compareRuns } from '../../train/curves.js';
import { parse, UsageError } from '../args.js';
import { type Flag, flagOptions, flagsHelp, optionalNumFlag, strFlag, synopsis } from '../flags.js';

const OUT: Flag = { flag: 'out', kind: 'string', arg: '<chart.svg>', required: true, help: 'the chart to write' };
const POINTS: Flag = {
  flag: 'points',
  kind: 'string',
  arg: '[LABEL=]FILE,...',
  help: 'reference points, a CSV per set: "epoch,accuracy" lines (percentages or fractions)',
};
const SET: Flag = {
  flag: 'set',
  kind: 'choice',
  choices: ['test', 'val'],
  dflt: 'test',
  help: "which accuracies: the test set's, or the validation split's",
};
const Y_MIN: Flag = {
  flag: 'y-min',
  kind: 'number',
  arg: 'PERCENT',
  min: 0,
  max: 95,
  dfltText: 'the lowest value, rounded down to 5',
  help: "where the accuracy axis starts (what lies below is clipped): zooms on a run's last points",
};
const TITLE: Flag = {
  flag: 'title',
  kind: 'string',
  arg: 'TEXT',
  dflt: 'Accuracy per epoch',
  help: "the chart's title",
};

export const flags: readonly Flag[] = [OUT, POINTS, SET, Y_MIN, TITLE];
export const args = '[LABEL=]RUN[:OFFSET]...';

export const help = `${synopsis('curves', flags, { args })}
  Draws the accuracy per epoch of every RUN (a training --out-dir, or its metrics.jsonl) on one chart: the EMA
  weights' curve solid and the raw weights' dashed. OFFSET is the epochs that came before the run's first (a stage
  that continues another: its epoch 1 is drawn at OFFSET + 1); LABEL defaults to the run folder's name. Prints a
  markdown table: each run's last and best accuracies, and each run's accuracy at every reference point's epoch.
${flagsHelp(flags)}`;

export async function run(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv, flagOptions(flags), true);
  if (positionals.length === 0) throw new UsageError('mixer curves: name at least one run (a training --out-dir)');
  const out = strFlag(v, OUT);
  const points = v['points'] === undefined ? [] : strFlag(v, POINTS).split(',').filter(Boolean);
  const set = strFlag(v, SET) as 'test' | 'val';
  const yMin = optionalNumFlag(v, Y_MIN);
  const { svg, table } = await compareRuns(positionals, points, set, strFlag(v, TITLE), {
    ...(yMin !== undefined ? { yMin: yMin / 100 } : {}),
  });
  await mkdir(path.dirname(path.resolve(out)), { recursive: true });
  await writeFile(out, svg);
  console.log(table);
  console.log(`\nwrote ${out}`);
  return 0;
}
