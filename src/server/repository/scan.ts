// Reads a Triton-layout model repository: DIR/<model>/<version>/model.onnx, config.json and labels.txt per model, with one-line errors.
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { type LinkPolicy, resolveInside } from '../../util/safe-read.js';
import { type ModelConfigFile, ModelFileError, readConfigFile, readLabelsFile, versionFilter } from './config-file.js';
import { isModelName, MODEL_NAME_RULE, parseVersion, VERSION_RULE } from './names.js';

/** How a scan treats links, and where it reports folders it skips (bad names) with the reason. */
export interface ScanOptions {
  allowExternalLinks: boolean;
  skip?: (folder: string, reason: string) => void;
}

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

async function fingerprint(file: string): Promise<string> {
  try {
    const s = await stat(file);
    return `${s.size}:${s.mtimeMs}`;
  } catch {
    return 'none';
  }
}

/** What of config.json a loaded version depends on: all of it but "traffic" (new weights apply without a reload). */
function configDigest(config: ModelConfigFile): string {
  const { traffic: _weights, ...rest } = config;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16);
}

/** A folder's real path when it is a folder inside the repository (or links are allowed out), else the reason. */
async function folderProblem(dir: string, policy: LinkPolicy): Promise<string | null> {
  try {
    const real = await resolveInside(dir, policy, dir);
    if (!(await stat(real)).isDirectory()) return `${dir} is not a folder`;
    return null;
  } catch (e) {
    if (e instanceof ModelFileError) return e.message;
    throw e;
  }
}

/**
 * One model folder (`name` must be a valid model name: callers check it). Never throws for a problem with the model's
 * files: they become `error`s. Version folders with other names are skipped (reported through `opts.skip`).
 */
export async function scanModel(root: string, name: string, opts: ScanOptions): Promise<ScannedModel> {
  if (!isModelName(name)) throw new RangeError(`not a model name: ${JSON.stringify(name)}`);
  const policy: LinkPolicy = { root, allowExternalLinks: opts.allowExternalLinks };
  const dir = path.join(root, name);
  const configPath = path.join(dir, 'config.json');
  const labelsPath = path.join(dir, 'labels.txt');
  const out: ScannedModel = { name, dir, configPath, labelsPath, config: {}, labels: null, versions: [], error: null };
  let entries;
  try {
    const bad = await folderProblem(dir, policy);
    if (bad) {
      out.error = bad;
      return out;
    }
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    out.error = `${dir}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
    return out;
  }
  try {
    out.config = await readConfigFile(configPath, policy);
    out.labels = await readLabelsFile(labelsPath, policy);
  } catch (e) {
    if (!(e instanceof ModelFileError)) throw e;
    out.error = e.message;
    return out;
  }
  const found: number[] = [];
  for (const e of entries) {
    if (!(e.isDirectory() || e.isSymbolicLink()) || e.name.startsWith('.')) continue;
    const v = parseVersion(e.name);
    if (v === null) {
      if (/^\d+$/.test(e.name)) opts.skip?.(path.join(dir, e.name), `not a version folder: ${VERSION_RULE}`);
      continue;
    }
    found.push(v);
  }
  found.sort((a, b) => a - b);
  if (found.length === 0) {
    const strays = entries.filter((e) => e.isFile() && /\.onnx$/i.test(e.name)).map((e) => e.name);
    out.error = `${dir} has no numeric version folder${strays.length ? ` (found ${strays.join(', ')} directly in it)` : ''}; put the model at ${path.join(dir, '1', 'model.onnx')}`;
    return out;
  }
  const keep = out.config.version_policy ? versionFilter(out.config.version_policy, configPath)(found) : found;
  const shared = `${configDigest(out.config)}|${await fingerprint(labelsPath)}`;
  for (const v of keep) {
    const vdir = path.join(dir, String(v));
    let files: string[] = [];
    const bad = await folderProblem(vdir, policy);
    if (bad) {
      out.versions.push({ version: v, file: null, error: bad, fingerprint: 'none' });
      continue;
    }
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

/**
 * Every model folder under `root`: hidden entries skipped, other names that are not model names reported through
 * `opts.skip`. Throws ModelFileError when `root` itself is unreadable.
 */
export async function scanRepository(root: string, opts: ScanOptions): Promise<ScannedModel[]> {
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
    if (!isModelName(name)) {
      opts.skip?.(path.join(root, name), `not a model folder: ${MODEL_NAME_RULE}`);
      continue;
    }
    out.push(await scanModel(root, name, opts));
  }
  return out;
}
