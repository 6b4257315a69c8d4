// The `mixer` subcommands: name, one-line summary and the module that runs it (loaded only when needed).
import type { Flag } from './flags.js';

/** A subcommand's module. */
export interface Command {
  help: string;
  /** Every flag its parser accepts, in the synopsis's order. */
  flags: readonly Flag[];
  /** Its positional arguments as a synopsis shows them (before the flags). */
  args?: string;
  run(argv: string[]): Promise<number>;
}

export const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  build: { summary: 'write an untrained inference model', load: () => import('./commands/build.js') },
  artifacts: {
    summary: 'write training, eval and optimizer graphs plus the initial checkpoint',
    load: () => import('./commands/artifacts.js'),
  },
  data: { summary: 'fetch, verify, decode and cache CIFAR-10', load: () => import('./commands/data.js') },
  train: { summary: 'train a model', load: () => import('./commands/train.js') },
  retrain: {
    summary: 'fine-tune a repository model on its feedback; the gate decides whether it becomes the next version',
    load: () => import('./commands/retrain.js'),
  },
  export: {
    summary: 'turn a checkpoint (ours or timm safetensors) into an inference model',
    load: () => import('./commands/export.js'),
  },
  quantize: {
    summary: 'write an int8 model (int8 MLP weights) with the same I/O',
    load: () => import('./commands/quantize.js'),
  },
  eval: {
    summary: 'accuracy, per-class accuracy and confusion matrix (CIFAR-10, or every image of a folder)',
    load: () => import('./commands/eval.js'),
  },
  predict: {
    summary: 'classify files, folders and globs as a batch job (exit 2 if any input failed)',
    load: () => import('./commands/predict.js'),
  },
  curves: {
    summary: "several runs' accuracy curves on one chart, beside reference points",
    load: () => import('./commands/curves.js'),
  },
  info: { summary: 'config, parameters, FLOPs and I/O of a model', load: () => import('./commands/info.js') },
  serve: { summary: 'run the HTTP service', load: () => import('./commands/serve.js') },
  bench: {
    summary: 'throughput vs the f32 and int8 MatMul rooflines and the timm export (--train: the training step)',
    load: () => import('./commands/bench.js'),
  },
};
