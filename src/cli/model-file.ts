// Opens one model file for the CLI (info, predict, eval) through the service's opener, with an optional config.json and labels.txt.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { modelContract, type OpenedModel, openModelFile } from '../server/open-model.js';
import { ModelFileError, readConfigFile, readLabelsFile } from '../server/repository/config-file.js';
import type { ImageContract, ModelContract } from '../server/repository/contract.js';

export interface LocalModel extends OpenedModel {
  contract: ModelContract;
}

/** Reads and inspects a model; `config` and `labels` name optional config.json / labels.txt files (missing ones are errors here). */
export async function openLocalModel(
  file: string,
  o: { config?: string; labels?: string; maxBatch?: number } = {},
): Promise<LocalModel> {
  const m = await openModelFile(file);
  for (const [flag, f] of [
    ['--config', o.config],
    ['--labels', o.labels],
  ] as const) {
    if (
      f !== undefined &&
      !(await readFile(f).then(
        () => true,
        () => false,
      ))
    )
      throw new ModelFileError(`${flag} ${f}: cannot read it`);
  }
  const source = {
    config: o.config ? await readConfigFile(o.config) : {},
    labels: o.labels ? await readLabelsFile(o.labels) : null,
    configPath: o.config ?? `${file} (add --config config.json)`,
    labelsPath: o.labels ?? 'labels',
  };
  const threads = Math.max(1, Math.min(2, os.availableParallelism()));
  const contract = modelContract(file, m.io, source, { maxBatch: o.maxBatch ?? 64, workers: 1, threads });
  return { ...m, contract };
}

/** The image contract, or a one-line error saying why the model is not an image classifier. */
export function imageContract(m: LocalModel): ImageContract {
  if (!m.contract.image) throw new ModelFileError(`${m.path} is not an image classifier: ${m.contract.notImage}`);
  return m.contract.image;
}
