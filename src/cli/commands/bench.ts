// `mixer bench`: inference throughput (batch 1/8/64) or the training step, as ratios to MatMul rooflines in the same run, under a hardware label.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { hardware, hardwareHeader } from '../../bench/hardware.js';
import { inferenceBench } from '../../bench/inference.js';
import { int8MacsPerImage } from '../../bench/int8-macs.js';
import { trainStepBench, trainStepProfile } from '../../bench/train-step.js';
import {
  buildInferenceModel,
  DEFAULT_PRESET,
  defaultSpec,
  initParams,
  loadModelFile,
  preset,
} from '../../model/index.js';
import { num, oneOf, parse, str, UsageError } from '../args.js';
import { type Flag, flagOptions, flagsHelp, synopsis } from '../flags.js';
import { defaultModelPath } from '../paths.js';

/** Flag defaults, for the parser and the help alike. */
const DEFAULTS = {
  threads: '1,2',
  batches: '1,8,64',
  rounds: 15,
  trainRounds: 5,
  batchSize: 128,
  clock: 'wall',
} as const;

export const flags: readonly Flag[] = [
  { flag: 'model', kind: 'string', arg: '<model.onnx>', dfltText: 'the shipped model', help: 'the model timed' },
  { flag: 'preset', kind: 'string', arg: '<name>', help: 'time an untrained model of this preset instead' },
  {
    flag: 'int8',
    kind: 'string',
    arg: '<model-int8.onnx>[,...]',
    help: 'the int8 model(s) timed beside it (a comma list: all in the same interleaved rounds)',
  },
  { flag: 'threads', kind: 'string', arg: 'LIST', dflt: DEFAULTS.threads, help: 'thread counts (comma list)' },
  { flag: 'batches', kind: 'string', arg: 'LIST', dflt: DEFAULTS.batches, help: 'batch sizes (comma list)' },
  {
    flag: 'rounds',
    kind: 'int',
    arg: 'N',
    min: 1,
    dfltText: `${DEFAULTS.rounds}, with --train ${DEFAULTS.trainRounds}`,
    help: 'interleaved rounds',
  },
  { flag: 'peer', kind: 'string', arg: '<timm.onnx>', help: 'the timm export compared with' },
  { flag: 'clock', kind: 'choice', choices: ['wall', 'cpu'], dflt: DEFAULTS.clock, help: 'what a call is timed by' },
  { flag: 'train', kind: 'boolean', help: 'time the training step instead, then print its per-op profile' },
  {
    flag: 'batch-size',
    kind: 'int',
    arg: 'N',
    dflt: DEFAULTS.batchSize,
    min: 1,
    help: 'with --train: images per step',
  },
];

export const help = `${synopsis('bench', flags)}
  Prints the hardware (CPU model and flags, cores, onnxruntime-node and Node versions, threads), then a table: ms,
  images/s, achieved GFLOP/s and the ratio to a 2048³ float32 MatMul timed in the same run with the same thread
  count, a 2048³ uint8×int8 MatMulInteger (the int8 roofline, GOP/s) beside it, and each graph's speed relative to
  ours and to the timm peer export (included when found), all as medians of per-round ratios over interleaved rounds.
  The int8 model (default: the shipped one next to the shipped float model) is included when found; its GFLOP/s
  count the float model's FLOPs, its int8 GOP/s its int8 layers' ops, rated against the int8 roofline. --clock cpu times
  each call by this process's CPU time instead of wall time: steadier on a shared machine (with 2+ threads: work).
${flagsHelp(flags)}`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, flagOptions(flags));
  const list = (k: string, d: string) =>
    str(v, k, d)
      .split(',')
      .map((x) => {
        const n = Number(x);
        if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${k}: "${x}" is not a positive integer`);
        return n;
      });
  const threads = list('threads', DEFAULTS.threads);
  const rounds = num(v, 'rounds', v['train'] ? DEFAULTS.trainRounds : DEFAULTS.rounds, { int: true, min: 1 });
  const hw = hardware(`${threads.join(',')} ORT intra-op (one row group per count)`);
  if (v['train']) {
    console.log(`${hardwareHeader(hw)}\n`);
    const spec = defaultSpec(preset(str(v, 'preset', DEFAULT_PRESET)));
    const batch = num(v, 'batch-size', DEFAULTS.batchSize, { int: true, min: 1 });
    const clock = oneOf(v, 'clock', ['wall', 'cpu'] as const, DEFAULTS.clock);
    console.log(await trainStepBench(spec, threads, batch, rounds, clock));
    for (const t of threads) console.log(`\n${await trainStepProfile(spec, t, batch)}`);
    return 0;
  }
  let spec;
  let bytes: Uint8Array;
  let name: string;
  const modelPath =
    typeof v['model'] === 'string'
      ? v['model']
      : !v['preset'] && existsSync(defaultModelPath())
        ? defaultModelPath()
        : null;
  if (modelPath) {
    const m = await loadModelFile(modelPath);
    spec = m.spec;
    bytes = m.bytes;
    name = `onnx-mixer ${path.basename(modelPath)}`;
  } else {
    spec = defaultSpec(preset(str(v, 'preset', DEFAULT_PRESET)));
    bytes = buildInferenceModel(spec, initParams(spec.config, 0));
    name = `onnx-mixer ${str(v, 'preset', DEFAULT_PRESET)}`;
  }
  const peer = str(v, 'peer', path.resolve('..', 'shared', 'peers', 'timm_mixer_s4_opset17.onnx'));
  const models: { name: string; bytes: Uint8Array | string; peer?: boolean; int8Macs?: number }[] = [{ name, bytes }];
  if (existsSync(peer) && spec.config.patch_size === 4 && spec.config.hidden_dim === 128)
    models.push({ name: 'timm torch.onnx export', bytes: peer, peer: true });
  const besideDefault = modelPath === defaultModelPath() ? modelPath.replace(/\.onnx$/, '-int8.onnx') : null;
  const int8s =
    typeof v['int8'] === 'string'
      ? v['int8'].split(',')
      : besideDefault && existsSync(besideDefault)
        ? [besideDefault]
        : [];
  const missing = int8s.find((f) => !existsSync(f));
  if (missing !== undefined) throw new UsageError(`--int8: ${missing} not found (mixer quantize writes one)`);
  for (const int8 of int8s) {
    const q = await loadModelFile(int8);
    if (JSON.stringify(q.spec.config) !== JSON.stringify(spec.config))
      throw new UsageError(`--int8: ${int8} has a different config than the float model`);
    models.push({
      name: `onnx-mixer int8 ${path.basename(int8)}`,
      bytes: q.bytes,
      int8Macs: int8MacsPerImage(q.bytes, q.spec.config),
    });
  }
  console.log(`${hardwareHeader(hw)}\n`);
  console.log(
    await inferenceBench({
      hw,
      models,
      spec,
      threads,
      batches: list('batches', DEFAULTS.batches),
      rounds,
      clock: oneOf(v, 'clock', ['wall', 'cpu'] as const, DEFAULTS.clock),
    }),
  );
  return 0;
}
