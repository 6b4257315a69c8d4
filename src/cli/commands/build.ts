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
import { parse } from '../args.js';
import { type Flag, flagOptions, flagsHelp, numFlag, strFlag, synopsis } from '../flags.js';

const PRESET: Flag = {
  flag: 'preset',
  kind: 'string',
  arg: '<name>',
  dflt: DEFAULT_PRESET,
  help: `model preset: ${Object.keys(PRESETS).join(', ')}`,
};
const SEED: Flag = { flag: 'seed', kind: 'int', arg: 'N', dflt: 0, min: 0, help: 'initialisation seed' };
const OUT: Flag = { flag: 'out', kind: 'string', arg: '<model.onnx>', required: true, help: 'the model file to write' };

export const flags: readonly Flag[] = [PRESET, SEED, OUT];

export const help = `${synopsis('build', flags)}
  Writes an untrained inference model (timm initialisation, seeded).
${flagsHelp(flags)}`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, flagOptions(flags));
  const config = preset(strFlag(v, PRESET));
  const out = strFlag(v, OUT);
  const bytes = buildInferenceModel(defaultSpec(config), initParams(config, numFlag(v, SEED)));
  await writeFile(out, bytes);
  console.log(
    `wrote ${out} (${paramCount(config).toLocaleString('en-US')} parameters, ${(bytes.length / 1e6).toFixed(2)} MB)`,
  );
  return 0;
}
