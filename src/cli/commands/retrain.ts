// `mixer retrain`: fine-tune a repository model's newest version on its feedback plus replayed training data; the gate decides whether the next version is written.
import os from 'node:os';
import path from 'node:path';
import { defaultDataDir } from '../../data/cifar10.js';
import { retrain } from '../../train/retrain/retrain.js';
import { parse, UsageError } from '../args.js';
import { type Flag, flagOptions, flagsHelp, numFlag, strFlag, synopsis } from '../flags.js';

/** Exit status when the gate refuses the candidate (nothing written). */
export const EXIT_REFUSED = 3;

const F = {
  repo: { flag: 'model-repository', kind: 'string', arg: 'DIR', required: true, help: 'the model repository' },
  model: {
    flag: 'model',
    kind: 'string',
    arg: 'NAME',
    required: true,
    help: 'the model to retrain (its newest version)',
  },
  feedback: {
    flag: 'feedback-dir',
    kind: 'string',
    arg: 'DIR',
    dfltText: '$FEEDBACK_DIR',
    help: "the feedback store (the service's --feedback-dir): corrections in DIR/<model>/<label>/",
  },
  replay: {
    flag: 'replay-data',
    kind: 'string',
    arg: 'DIR',
    dfltText: 'config.json\'s "training_data"',
    help: 'the image folder the model was trained on: a sample is replayed, its validation split gates',
  },
  margin: {
    flag: 'margin',
    kind: 'number',
    arg: 'POINTS',
    dflt: 1,
    min: 0,
    max: 100,
    help: 'the most original validation accuracy the candidate may lose, in percentage points',
  },
  holdout: {
    flag: 'holdout',
    kind: 'number',
    arg: 'X',
    dflt: 0.25,
    range: { text: '(0, 1)', ok: (x: number) => x > 0 && x < 1 },
    help: "share of each label's corrections held out to judge the candidate",
  },
  replayRatio: {
    flag: 'replay-ratio',
    kind: 'number',
    arg: 'X',
    dflt: 2,
    min: 0,
    help: 'original training images replayed per correction trained on (class-balanced sample)',
  },
  epochs: { flag: 'epochs', kind: 'int', arg: 'N', dflt: 15, min: 1, help: 'fine-tuning epochs' },
  maxSteps: { flag: 'max-steps', kind: 'int', arg: 'N', dflt: 300, min: 1, help: 'at most N optimizer steps in all' },
  batch: { flag: 'batch-size', kind: 'int', arg: 'N', dflt: 32, min: 1, help: 'images per step' },
  lr: {
    flag: 'lr',
    kind: 'number',
    arg: 'X',
    dflt: 1e-3,
    min: 0,
    help: 'peak learning rate (10% warmup, cosine decay)',
  },
  threads: {
    flag: 'threads',
    kind: 'int',
    arg: 'N',
    dflt: 1,
    min: 1,
    help: 'ORT threads (1 leaves the cores to serving)',
  },
  nice: {
    flag: 'nice',
    kind: 'int',
    arg: 'N',
    dflt: 10,
    min: 0,
    max: 19,
    help: "lower this process's priority by N (0: leave it)",
  },
  cacheDir: {
    flag: 'cache-dir',
    kind: 'string',
    arg: 'DIR',
    dfltText: '$MIXER_DATA_DIR/decoded, else ./data/decoded',
    help: 'decode cache',
  },
  json: {
    flag: 'json',
    kind: 'boolean',
    help: 'print progress and the report as JSON lines ({"event": "progress"|"report", …}) on stdout',
  },
} as const satisfies Record<string, Flag>;

export const flags: readonly Flag[] = Object.values(F);

export const help = `${synopsis('retrain', flags)}
  Fine-tunes the newest version of a model this project trained on the corrections in the feedback store plus a
  class-balanced replay sample of its original training data, holding out part of the corrections. The candidate
  is written as the next version (model.onnx, labels.txt, report.json; one atomic rename) only when it is better
  than the current version on the held-out corrections and loses at most --margin points on the original
  validation split; otherwise nothing changes. Exit 0: written; ${EXIT_REFUSED}: refused by the gate; 2: bad input.
${flagsHelp(flags)}`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, flagOptions(flags));
  const feedbackDir = v['feedback-dir'] !== undefined ? strFlag(v, F.feedback) : process.env['FEEDBACK_DIR'];
  if (!feedbackDir) throw new UsageError('--feedback-dir DIR is required (or set FEEDBACK_DIR)');
  const nice = numFlag(v, F.nice);
  if (nice > 0)
    try {
      os.setPriority(0, Math.min(19, os.getPriority(0) + nice));
    } catch {
      // Not permitted here: run at the priority given.
    }
  const json = Boolean(v['json']);
  const emit = (o: object): void => {
    process.stdout.write(`${JSON.stringify(o)}\n`);
  };
  const log = json ? (l: string) => process.stderr.write(`${l}\n`) : (l: string) => console.log(l);
  const cacheDir = v['cache-dir'] !== undefined ? strFlag(v, F.cacheDir) : path.join(defaultDataDir(), 'decoded');
  const report = await retrain({
    repository: strFlag(v, F.repo),
    model: strFlag(v, F.model),
    feedbackDir,
    ...(v['replay-data'] !== undefined ? { replayData: strFlag(v, F.replay) } : {}),
    margin: numFlag(v, F.margin),
    holdout: numFlag(v, F.holdout),
    replayRatio: numFlag(v, F.replayRatio),
    epochs: numFlag(v, F.epochs),
    maxSteps: numFlag(v, F.maxSteps),
    batchSize: numFlag(v, F.batch),
    lr: numFlag(v, F.lr),
    threads: numFlag(v, F.threads),
    cacheDir,
    log,
    ...(json ? { progress: (p) => emit({ event: 'progress', ...p }) } : {}),
  });
  if (json) emit({ event: 'report', report });
  return report.written ? 0 : EXIT_REFUSED;
}
