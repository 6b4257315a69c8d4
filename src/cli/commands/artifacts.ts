// `mixer artifacts`: training, eval and optimizer graphs, the fused train step, and the initial checkpoint.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_ADAMW } from '../../autodiff/index.js';
import { DEFAULT_PRESET, defaultSpec, initParams, paramTable, preset } from '../../model/index.js';
import { buildArtifacts } from '../../train/artifacts.js';
import { saveCheckpoint } from '../../train/checkpoint.js';
import { parse } from '../args.js';
import { type Flag, flagOptions, flagsHelp, numFlag, strFlag, synopsis } from '../flags.js';

const PRESET: Flag = { flag: 'preset', kind: 'string', arg: '<name>', dflt: DEFAULT_PRESET, help: 'model preset' };
const SEED: Flag = { flag: 'seed', kind: 'int', arg: 'N', dflt: 0, min: 0, help: 'initialisation seed' };
const SMOOTHING: Flag = {
  flag: 'label-smoothing',
  kind: 'number',
  arg: 'X',
  dflt: 0,
  min: 0,
  max: 0.99,
  help: 'label smoothing in the training graph',
};
const DECAY: Flag = {
  flag: 'weight-decay',
  kind: 'number',
  arg: 'X',
  dflt: DEFAULT_ADAMW.weight_decay,
  min: 0,
  help: "the optimizer graph's AdamW weight decay",
};
const OUT_DIR: Flag = { flag: 'out-dir', kind: 'string', arg: '<dir>', required: true, help: 'where to write them' };

export const flags: readonly Flag[] = [PRESET, SEED, SMOOTHING, DECAY, OUT_DIR];

export const help = `${synopsis('artifacts', flags)}
  Writes training_model.onnx, eval_model.onnx, optimizer_model.onnx (AdamW), train_step.onnx (fused) and checkpoint.safetensors.
${flagsHelp(flags)}`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, flagOptions(flags));
  const config = preset(strFlag(v, PRESET));
  const dir = strFlag(v, OUT_DIR);
  const spec = defaultSpec(config);
  const labelSmoothing = numFlag(v, SMOOTHING);
  const a = buildArtifacts(spec, {
    labelSmoothing,
    adamw: { ...DEFAULT_ADAMW, weight_decay: numFlag(v, DECAY) },
  });
  await mkdir(dir, { recursive: true });
  const files: [string, Uint8Array][] = [
    ['training_model.onnx', a.training],
    ['eval_model.onnx', a.eval],
    ['optimizer_model.onnx', a.optimizer],
    ['train_step.onnx', a.trainStep],
  ];
  for (const [name, bytes] of files) await writeFile(path.join(dir, name), bytes);
  const params = initParams(config, numFlag(v, SEED));
  const zeros = new Map(paramTable(config).map((p) => [p.name, new Float32Array(params.get(p.name)!.length)]));
  await saveCheckpoint(path.join(dir, 'checkpoint.safetensors'), {
    spec,
    params,
    expAvg: zeros,
    expAvgSq: new Map([...zeros].map(([k, x]) => [k, new Float32Array(x.length)])),
    progress: { step: 0, epoch: 0, stepInEpoch: 0, wallSeconds: 0 },
    hyper: { labelSmoothing },
  });
  for (const [name, bytes] of files) console.log(`${name.padEnd(22)} ${(bytes.length / 1e6).toFixed(2)} MB`);
  console.log(`checkpoint.safetensors written to ${dir}`);
  return 0;
}
