// A model folder's optional config.json (Triton-style keys that complete what the graph says) and labels.txt, validated with one-line errors.

import { INTERPOLATIONS, type Interpolation } from '../../image/resample.js';
import { type LinkPolicy, ModelFileError, readCapped } from '../../util/safe-read.js';
import { type TrafficWeights, trafficProblem } from '../traffic/split.js';

export type VersionPolicy =
  | { latest: { num_versions: number } | number }
  | { all: Record<string, never> }
  | { specific: { versions: number[] } | number[] };

/** config.json, every key optional. */
export interface ModelConfigFile {
  input?: string;
  output?: string;
  layout?: 'NCHW' | 'NHWC';
  size?: [number, number];
  resize?: 'crop' | 'stretch';
  resize_shorter?: number;
  /** The resize kernel (default lanczos: sharp's lanczos3); the others reproduce Pillow's resize. */
  interpolation?: Interpolation;
  /** Widen the kernel by the downscale factor (default true, as Pillow). */
  antialias?: boolean;
  color?: 'rgb' | 'bgr' | 'gray';
  scale?: number;
  mean?: number[];
  std?: number[];
  softmax?: boolean;
  max_batch_size?: number;
  instances?: number;
  threads?: number;
  version_policy?: VersionPolicy;
  /** Cache this model's answers (with --cache-bytes above 0). */
  response_cache?: { enable: boolean };
  /** Weights of the versions that requests naming no version go to (READY versions only). */
  traffic?: TrafficWeights;
  /** The image folder the model was trained on (relative to the model folder): what `mixer retrain` replays. */
  training_data?: string;
}

export { ModelFileError };

const KEYS = [
  'input',
  'output',
  'layout',
  'size',
  'resize',
  'resize_shorter',
  'interpolation',
  'antialias',
  'color',
  'scale',
  'mean',
  'std',
  'softmax',
  'max_batch_size',
  'instances',
  'threads',
  'version_policy',
  'response_cache',
  'traffic',
  'training_data',
];

const isPosInt = (v: unknown, max = 1 << 20): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= max;
const isNums = (v: unknown): v is number[] =>
  Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x));

/** Validates parsed config.json contents; `file` names it in errors. */
export function validateConfigFile(raw: unknown, file: string): ModelConfigFile {
  const bad = (msg: string): ModelFileError => new ModelFileError(`${file}: ${msg}`);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw bad('must be a JSON object, e.g. {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}');
  const c = raw as Record<string, unknown>;
  for (const k of Object.keys(c))
    if (!KEYS.includes(k)) throw bad(`unknown key "${k}"; the keys are ${KEYS.join(', ')}`);
  const str = (k: string, choices?: string[]): void => {
    if (c[k] === undefined) return;
    if (typeof c[k] !== 'string' || c[k] === '') throw bad(`"${k}" must be a non-empty string`);
    if (choices && !choices.includes(c[k])) throw bad(`"${k}" is "${c[k]}"; it must be one of ${choices.join(', ')}`);
  };
  str('input');
  str('output');
  str('layout', ['NCHW', 'NHWC']);
  str('resize', ['crop', 'stretch']);
  str('color', ['rgb', 'bgr', 'gray']);
  str('interpolation', [...INTERPOLATIONS]);
  str('training_data');
  if (c['antialias'] !== undefined && typeof c['antialias'] !== 'boolean')
    throw bad(`"antialias" must be true or false, got ${JSON.stringify(c['antialias'])?.slice(0, 64)}`);
  if (
    c['size'] !== undefined &&
    !(Array.isArray(c['size']) && c['size'].length === 2 && c['size'].every((x) => isPosInt(x, 16384)))
  )
    throw bad('"size" must be [height, width], two positive integers');
  for (const k of ['resize_shorter', 'max_batch_size', 'instances', 'threads'])
    if (c[k] !== undefined && !isPosInt(c[k], k === 'resize_shorter' ? 16384 : 4096))
      throw bad(`"${k}" must be a positive integer`);
  if (c['instances'] !== undefined && (c['instances'] as number) > 64) throw bad('"instances" must be at most 64');
  if (c['scale'] !== undefined && !(typeof c['scale'] === 'number' && Number.isFinite(c['scale']) && c['scale'] > 0))
    throw bad('"scale" must be a positive number, e.g. 0.00392156862745098 (1/255)');
  for (const k of ['mean', 'std'])
    if (c[k] !== undefined && !isNums(c[k]))
      throw bad(`"${k}" must be an array of numbers, one per channel (or one for all)`);
  if (c['std'] !== undefined && (c['std'] as number[]).some((x) => x === 0)) throw bad('"std" must not contain 0');
  if (c['softmax'] !== undefined && typeof c['softmax'] !== 'boolean') throw bad('"softmax" must be true or false');
  if (c['version_policy'] !== undefined) versionFilter(c['version_policy'], file);
  const rc = c['response_cache'];
  if (
    rc !== undefined &&
    !(
      rc &&
      typeof rc === 'object' &&
      !Array.isArray(rc) &&
      Object.keys(rc).every((k) => k === 'enable') &&
      typeof (rc as Record<string, unknown>)['enable'] === 'boolean'
    )
  )
    throw bad('"response_cache" must be {"enable": true} or {"enable": false}');
  if (c['traffic'] !== undefined) {
    const why = trafficProblem(c['traffic']);
    if (why) throw bad(`"traffic" ${why}`);
  }
  return c as ModelConfigFile;
}

/** The versions a policy keeps out of those found (ascending). Throws on a malformed policy. */
export function versionFilter(policy: unknown, file: string): (found: number[]) => number[] {
  const bad = (): ModelFileError =>
    new ModelFileError(
      `${file}: "version_policy" must be {"latest": {"num_versions": n}}, {"all": {}} or {"specific": {"versions": [1, 3]}} (plain {"latest": n} and {"specific": [..]} work too)`,
    );
  if (!policy || typeof policy !== 'object' || Array.isArray(policy)) throw bad();
  const p = policy as Record<string, unknown>;
  const keys = Object.keys(p);
  if (keys.length !== 1) throw bad();
  if ('all' in p) return (found) => found;
  if ('latest' in p) {
    const v = p['latest'];
    const n = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)['num_versions'] : v;
    if (!isPosInt(n)) throw bad();
    return (found) => found.slice(-n);
  }
  if ('specific' in p) {
    const v = p['specific'];
    const list = Array.isArray(v)
      ? v
      : typeof v === 'object' && v !== null
        ? (v as Record<string, unknown>)['versions']
        : undefined;
    if (!Array.isArray(list) || list.length === 0 || !list.every((x) => isPosInt(x, Number.MAX_SAFE_INTEGER)))
      throw bad();
    return (found) => found.filter((x) => (list as number[]).includes(x));
  }
  throw bad();
}

/** Largest config.json and labels.txt read. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
export const MAX_LABELS_BYTES = 64 * 1024 * 1024;
const ANYWHERE: LinkPolicy = { root: null, allowExternalLinks: true };

/** A small text file read with readCapped; null when it does not exist. */
async function readText(file: string, max: number, policy: LinkPolicy): Promise<string | null> {
  try {
    return (await readCapped(file, max, policy)).toString('utf8');
  } catch (e) {
    if ((e as { cause?: NodeJS.ErrnoException }).cause?.code === 'ENOENT') return null;
    throw e;
  }
}

/** Reads and validates config.json (links resolved under `policy`); a missing file is an empty config. */
export async function readConfigFile(file: string, policy: LinkPolicy = ANYWHERE): Promise<ModelConfigFile> {
  const text = await readText(file, MAX_CONFIG_BYTES, policy);
  if (text === null) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ModelFileError(
      `${file} is not valid JSON (${(e as Error).message}); fix it or remove it to use what the graph says`,
      { cause: e },
    );
  }
  return validateConfigFile(raw, file);
}

/** Reads labels.txt (one label per line, trailing blank lines ignored; links resolved under `policy`); null when absent. */
export async function readLabelsFile(file: string, policy: LinkPolicy = ANYWHERE): Promise<string[] | null> {
  const text = await readText(file, MAX_LABELS_BYTES, policy);
  if (text === null) return null;
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  if (lines.length === 0)
    throw new ModelFileError(`${file} is empty; write one label per line, in class index order, or remove it`);
  return lines.map((l) => l.trim());
}
