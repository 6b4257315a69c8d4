// `mixer build`: write an untrained inference model for a preset.
import { writeFile } from 'node:fs/promises';
import {
  buildInferenceModel,
  DEFAULT_PRESET,
  defaultSpec,
  initParams,
  PRESETS,
  paramCount,
  preset,
} from '../../model/index.js';
import { num, parse, str } from '../args.js';

export const help = `mixer build --preset <name> [--seed N] --out <model.onnx>
  Writes an untrained inference model (timm initialisation, seeded). Presets: ${Object.keys(PRESETS).join(', ')} (default ${DEFAULT_PRESET}).`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, { preset: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' } });
  const config = preset(str(v, 'preset', DEFAULT_PRESET));
  const out = str(v, 'out');
  const bytes = buildInferenceModel(defaultSpec(config), initParams(config, num(v, 'seed', 0, { int: true, min: 0 })));
  await writeFile(out, bytes);
  console.log(
    `wrote ${out} (${paramCount(config).toLocaleString('en-US')} parameters, ${(bytes.length / 1e6).toFixed(2)} MB)`,
  );
  return 0;
}
