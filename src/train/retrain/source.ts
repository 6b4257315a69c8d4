// What `mixer retrain` starts from: a repository model's newest version, its weights (read out of the ONNX file) and its training record.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Params } from '../../model/index.js';
import { type LoadedModel, loadModelFile, ModelLoadError, paramsFromModel } from '../../model/load.js';
import { NOT_OURS } from '../../model/metadata.js';
import { isModelName, MODEL_NAME_RULE, parseVersion } from '../../server/repository/names.js';
import { scanModel } from '../../server/repository/scan.js';
import { UsageError } from '../../util/errors.js';

/** A version folder set aside by a rollback: `rolled-back-<version>` (kept, never served, its number never reused). */
export const ROLLED_BACK = /^rolled-back-/;

/** The version a retrain fine-tunes, with what it knows of the run that made it. */
export interface RetrainSource {
  name: string;
  dir: string;
  version: number;
  model: LoadedModel;
  params: Params;
  /** model.onnx's `mixer.training` (the recipe: data name and sha256, seed, label smoothing…), or {} when absent. */
  training: Record<string, unknown>;
  /** config.json's "training_data", resolved against the model folder (null when unset). */
  trainingData: string | null;
  /** The next free version number (above every version folder, rolled-back ones too, whatever the policy keeps). */
  next: number;
}

/** The newest loadable version of `name` in the repository at `root`, as a model this project can fine-tune. */
export async function openRetrainSource(root: string, name: string): Promise<RetrainSource> {
  if (!isModelName(name)) throw new UsageError(`--model ${JSON.stringify(name).slice(0, 80)}: ${MODEL_NAME_RULE}`);
  const m = await scanModel(root, name, { allowExternalLinks: false });
  if (m.error) throw new UsageError(`model "${name}": ${m.error}`);
  const newest = [...m.versions].reverse().find((v) => v.file && !v.error);
  if (!newest?.file) throw new UsageError(`model "${name}" has no readable version in ${root}`);
  let model: LoadedModel;
  try {
    model = await loadModelFile(newest.file);
  } catch (e) {
    const why = (e as Error).message;
    throw new UsageError(
      why.includes(NOT_OURS)
        ? `${newest.file} is ${NOT_OURS}: retrain fine-tunes only MLP-Mixer models this project trained (their weights and recipe are in the file); retrain a foreign model with its own tools`
        : why,
      { cause: e },
    );
  }
  let params: Params;
  try {
    params = paramsFromModel(model);
  } catch (e) {
    if (e instanceof ModelLoadError)
      throw new UsageError(`${e.message}: retrain needs float32 weights (retrain the fp32 model, then quantize)`, {
        cause: e,
      });
    throw e;
  }
  let training: Record<string, unknown> = {};
  const raw = model.parsed.metadata['mixer.training'];
  if (raw)
    try {
      const t = JSON.parse(raw) as unknown;
      if (t && typeof t === 'object' && !Array.isArray(t)) training = t as Record<string, unknown>;
    } catch {
      // An unreadable record is treated as none: the replay data must then be given.
    }
  const td = m.config.training_data;
  const numbers = (await readdir(m.dir, { withFileTypes: true }))
    .filter((e) => e.isDirectory())
    .map((e) => parseVersion(e.name.replace(ROLLED_BACK, '')) ?? 0);
  return {
    name,
    dir: m.dir,
    version: newest.version,
    model,
    params,
    training,
    trainingData: td ? path.resolve(m.dir, td) : null,
    next: Math.max(0, ...numbers) + 1,
  };
}
