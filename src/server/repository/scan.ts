// Reads a Triton-layout model repository: DIR/<model>/<version>/model.onnx, config.json and labels.txt per model, with one-line errors.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { type ModelConfigFile, ModelFileError, readConfigFile, readLabelsFile, versionFilter } from './config-file.js';

export interface ScannedVersion {
  version: number;
  /** The version's model file, or null with `error` set. */
  file: string | null;
  error: string | null;
  /** Changes when the file (or the model's config/labels) changes. */
  fingerprint: string;
}

export interface ScannedModel {
  name: string;
  dir: string;
  configPath: string;
  labelsPath: string;
  config: ModelConfigFile;
  labels: string[] | null;
  /** Versions the policy keeps, ascending. */
  versions: ScannedVersion[];
  /** A model-level problem (bad config.json, no version folder): the model is unavailable. */
  error: string | null;
}

export const MODEL_NAME = /^[A-Za-z0-9_.-]+$/;

async function fingerprint(file: string): Promise<string> {
  try {
    const s = await stat(file);
    return `${s.size}:${s.mtimeMs}`;
  } catch {
    return 'none';
  }
}

/** One model folder. Never throws for a problem with the model's files: they become `error`s. */
export async function scanModel(root: string, name: string): Promise<ScannedModel> {
  const dir = path.join(root, name);
  const configPath = path.join(dir, 'config.json');
  const labelsPath = path.join(dir, 'labels.txt');
  const out: ScannedModel = { name, dir, configPath, labelsPath, config: {}, labels: null, versions: [], error: null };
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    out.error = `${dir}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
    return out;
  }
  try {
    out.config = await readConfigFile(configPath);
    out.labels = await readLabelsFile(labelsPath);
  } catch (e) {
    if (!(e instanceof ModelFileError)) throw e;
    out.error = e.message;
    return out;
  }
  const found = entries
    .filter((e) => (e.isDirectory() || e.isSymbolicLink()) && /^[1-9]\d{0,15}$/.test(e.name))
    .map((e) => Number(e.name))
    .sort((a, b) => a - b);
  if (found.length === 0) {
    const strays = entries.filter((e) => e.isFile() && /\.onnx$/i.test(e.name)).map((e) => e.name);
    out.error = `${dir} has no numeric version folder${strays.length ? ` (found ${strays.join(', ')} directly in it)` : ''}; put the model at ${path.join(dir, '1', 'model.onnx')}`;
    return out;
  }
  const keep = out.config.version_policy ? versionFilter(out.config.version_policy, configPath)(found) : found;
  const shared = `${await fingerprint(configPath)}|${await fingerprint(labelsPath)}`;
  for (const v of keep) {
    const vdir = path.join(dir, String(v));
    let files: string[] = [];
    try {
      files = (await readdir(vdir, { withFileTypes: true }))
        .filter((e) => !e.isDirectory() && /\.onnx$/i.test(e.name))
        .map((e) => e.name)
        .sort();
    } catch (e) {
      out.versions.push({
        version: v,
        file: null,
        error: `${vdir}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        fingerprint: 'none',
      });
      continue;
    }
    if (files.length === 0) {
      out.versions.push({
        version: v,
        file: null,
        error: `${vdir} has no model.onnx; put the version's model there`,
        fingerprint: 'none',
      });
    } else if (files.length > 1) {
      out.versions.push({
        version: v,
        file: null,
        error: `${vdir} has ${files.length} model candidates (${files.join(', ')}); keep only model.onnx`,
        fingerprint: files.join(','),
      });
    } else {
      const file = path.join(vdir, files[0]!);
      out.versions.push({ version: v, file, error: null, fingerprint: `${await fingerprint(file)}|${shared}` });
    }
  }
  if (out.versions.length === 0)
    out.error = `${configPath}: "version_policy" keeps none of the versions found (${found.join(', ')})`;
  return out;
}

/** Every model folder under `root` (hidden entries skipped). Throws ModelFileError when `root` itself is unreadable. */
export async function scanRepository(root: string): Promise<ScannedModel[]> {
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (e) {
    throw new ModelFileError(
      `cannot read the model repository ${root}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (set --model-repository or MODEL_REPOSITORY to a folder of <model>/<version>/model.onnx)`,
      { cause: e },
    );
  }
  const names = entries
    .filter((e) => (e.isDirectory() || e.isSymbolicLink()) && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  const out: ScannedModel[] = [];
  for (const name of names) {
    if (!MODEL_NAME.test(name)) continue;
    out.push(await scanModel(root, name));
  }
  return out;
}
