// `mixer artifacts`: training, eval and optimizer graphs, the fused train step, and the initial checkpoint.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_ADAMW } from '../../autodiff/index.js';
import { DEFAULT_PRESET, defaultSpec, initParams, paramTable, preset } from '../../model/index.js';
import { buildArtifacts } from '../../train/artifacts.js';
import { saveCheckpoint } from '../../train/checkpoint.js';
import { num, parse, str } from '../args.js';

export const help = `mixer artifacts --preset <name> [--seed N] [--label-smoothing X] [--weight-decay X] --out-dir <dir>
  Writes training_model.onnx, eval_model.onnx, optimizer_model.onnx (AdamW), train_step.onnx (fused) and checkpoint.safetensors.`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, {
    preset: { type: 'string' },
    seed: { type: 'string' },
    'label-smoothing': { type: 'string' },
    'weight-decay': { type: 'string' },
    'out-dir': { type: 'string' },
  });
  const config = preset(str(v, 'preset', DEFAULT_PRESET));
  const dir = str(v, 'out-dir');
  const spec = defaultSpec(config);
  const labelSmoothing = num(v, 'label-smoothing', 0, { min: 0, max: 0.99 });
  const a = buildArtifacts(spec, {
    labelSmoothing,
    adamw: { ...DEFAULT_ADAMW, weight_decay: num(v, 'weight-decay', DEFAULT_ADAMW.weight_decay, { min: 0 }) },
  });
  await mkdir(dir, { recursive: true });
  const files: [string, Uint8Array][] = [
    ['training_model.onnx', a.training],
    ['eval_model.onnx', a.eval],
    ['optimizer_model.onnx', a.optimizer],
    ['train_step.onnx', a.trainStep],
  ];
  for (const [name, bytes] of files) await writeFile(path.join(dir, name), bytes);
  const params = initParams(config, num(v, 'seed', 0, { int: true, min: 0 }));
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
