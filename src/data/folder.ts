// Image-folder datasets (<root>/<class>/*.png|jpg|jpeg|webp): decoded on worker threads through a cache, broken files skipped, seeded stratified split.

import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { ProgressBar } from '../util/progress-bar.js';
import { mixSeed, Rng } from '../util/rng.js';
import { DataError, type ImageDataset } from './dataset.js';
import { decodeFiles } from './decode-pool.js';
import { isDirectory } from './files.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp'];

/** Warnings printed one per skipped file before the rest are summed up in one line. */
const MAX_SKIP_LINES = 10;

export interface ImageFolderOptions {
  /** Output side: shorter side resized to `size`, then centre-cropped to size×size. */
  size: number;
  /** Fraction of each class held out for validation when there is no train/val pair (default 0.1). */
  valFraction?: number;
  seed?: number;
  /** Where decoded images are cached (default: a temporary folder, which makes every run decode again). */
  cacheDir?: string;
  /** Keep the decoded set in memory up to this many MiB (default 2048); a larger set streams from the decode cache. */
  cacheMb?: number;
  /** Fail on the first undecodable file instead of skipping it. */
  strict?: boolean;
  /**
   * Every image of `root` as one set (returned as `train`; `test` is empty): no split, no train/val layout. `classes`
   * then fixes the class order (a model's labels); a class may have no images.
   */
  whole?: { classes?: string[] };
  /** Decode worker threads (default min(4, cores)). */
  threads?: number;
  log?: (line: string) => void;
}

/** What loading a folder used, skipped and cost; goes into the training report. */
export interface FolderReport {
  root: string;
  /** The folder's own name and a sha256 of its image list (paths relative to it, sizes): the data without local paths. */
  name: string;
  sha256: string;
  classes: string[];
  trainCounts: number[];
  valCounts: number[];
  skipped: { file: string; reason: string }[];
  decodeSeconds: number;
  cacheHits: number;
  decoded: number;
  threads: number;
  cacheDir: string;
  streamed: boolean;
}

export interface FolderSplits {
  train: ImageDataset;
  test: ImageDataset;
  report: FolderReport;
}

interface Listing {
  classes: string[];
  files: string[];
  labels: number[];
}

async function subdirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

/** Why `dir` (with no subfolders) is no image folder, and, when it holds images itself, that its parent probably is. */
async function noClassFolders(dir: string): Promise<string> {
  const images = (await readdir(dir, { withFileTypes: true })).filter(
    (e) => e.isFile() && IMAGE_EXTENSIONS.includes(extname(e.name).toLowerCase()),
  ).length;
  const expected = `expected ${dir}/<class>/<image>`;
  if (images === 0) return `no class folders in ${dir} (${expected})`;
  const parent = dirname(resolve(dir)) === resolve(dir) ? null : join(dir, '..');
  const siblings = parent ? await subdirs(parent).catch(() => []) : [];
  return (
    `${dir} holds ${images} images but no class folders: it looks like the folder of one class (${expected})` +
    (parent && siblings.length >= 2
      ? `; pass its parent instead: --data ${parent} (class folders ${siblings.slice(0, 5).join(', ')}${siblings.length > 5 ? ', …' : ''})`
      : '; put each class in its own subfolder and pass the folder above them')
  );
}

/** Lists `<dir>/<class>/<image>`; `classes` fixes the class order (else the sorted subfolders). */
async function listClasses(dir: string, classes?: string[], whose = 'the training set'): Promise<Listing> {
  const found = await subdirs(dir);
  if (found.length === 0) throw new DataError('DATA_FORMAT', await noClassFolders(dir));
  const names = classes ?? found;
  const unknown = found.filter((c) => !names.includes(c));
  if (unknown.length > 0) {
    throw new DataError('DATA_FORMAT', `${dir} has classes not in ${whose}: ${unknown.join(', ')}`);
  }
  const listing: Listing = { classes: names, files: [], labels: [] };
  for (const [label, cls] of names.entries()) {
    if (!found.includes(cls)) continue;
    const files = (await readdir(join(dir, cls), { withFileTypes: true }))
      .filter((e) => e.isFile() && !e.name.startsWith('.') && IMAGE_EXTENSIONS.includes(extname(e.name).toLowerCase()))
      .map((e) => e.name)
      .sort();
    if (files.length === 0) {
      throw new DataError(
        'DATA_FORMAT',
        `class folder ${join(dir, cls)} has no images (${IMAGE_EXTENSIONS.join(', ')})`,
      );
    }
    for (const f of files) {
      listing.files.push(join(dir, cls, f));
      listing.labels.push(label);
    }
  }
  return listing;
}

/** Per class, a seeded shuffle picks round(valFraction·n) validation images (≥1 if n ≥ 2, always ≥1 left to train). */
export function stratifiedSplit(
  labels: ArrayLike<number>,
  numClasses: number,
  valFraction: number,
  seed: number,
): { train: number[]; val: number[] } {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]!]!.push(i);
  const isVal = new Uint8Array(labels.length);
  byClass.forEach((idx, c) => {
    const n = idx.length;
    let k = Math.round(valFraction * n);
    if (valFraction > 0 && n >= 2) k = Math.max(k, 1);
    k = Math.min(k, n - 1);
    const shuffled = new Rng(mixSeed(seed, c)).shuffle(idx.slice());
    for (let j = 0; j < k; j++) isVal[shuffled[j]!] = 1;
  });
  const train: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < labels.length; i++) (isVal[i] ? val : train).push(i);
  return { train, val };
}

/** sha256 of `relative/path<TAB>bytes` lines, one per file (sorted): what a folder holds, wherever it lies. */
async function listingHash(root: string, files: string[]): Promise<string> {
  const lines: string[] = [];
  for (const f of files) lines.push(`${relative(root, f).split('\\').join('/')}\t${(await stat(f)).size}`);
  return createHash('sha256').update(lines.sort().join('\n')).digest('hex');
}

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 2 : 0);

/** Loads `<root>/<class>/*`, split into train/validation; a `train/` + `val/` (or `test/`) pair is used as given. */
export async function loadImageFolder(root: string, opts: ImageFolderOptions): Promise<FolderSplits> {
  const { size } = opts;
  const log = opts.log ?? ((): void => {});
  if (!Number.isInteger(size) || size < 1)
    throw new DataError('DATA_FORMAT', `image size must be a positive integer, got ${size}`);
  const valFraction = opts.valFraction ?? 0.1;
  if (!(valFraction >= 0 && valFraction < 1))
    throw new DataError('DATA_FORMAT', `valFraction must be in [0, 1), got ${valFraction}`);
  if (!(await isDirectory(root)))
    throw new DataError('DATA_MISSING', `image folder ${root} does not exist or is not a directory`);

  const trainDir = join(root, 'train');
  const valDir = (await isDirectory(join(root, 'val'))) ? join(root, 'val') : join(root, 'test');
  const whole = opts.whole;
  const paired = !whole && (await isDirectory(trainDir)) && (await isDirectory(valDir));
  const tr = await listClasses(paired ? trainDir : root, whole?.classes, "the model's labels");
  if (tr.classes.length < 2 && !whole) {
    throw new DataError(
      'DATA_FORMAT',
      `need at least 2 classes to train a classifier; ${paired ? trainDir : root} has ${tr.classes.length}: ${tr.classes.join(', ')}`,
    );
  }
  const va = paired ? await listClasses(valDir, tr.classes) : { classes: tr.classes, files: [], labels: [] };
  const files = [...tr.files, ...va.files];

  const cacheDir = opts.cacheDir ?? join(tmpdir(), 'mixer-decoded');
  const budget = (opts.cacheMb ?? 2048) * 2 ** 20;
  const per = size * size * 3;
  const streamed = files.length * per > budget;
  log(
    `decoding ${files.length} images at ${size}×${size} (${mib(files.length * per)} MiB ${streamed ? `> --cache-mb ${opts.cacheMb ?? 2048}: streamed from the decode cache on disk` : 'in memory'}; cache ${cacheDir})`,
  );
  const threads = Math.max(1, Math.min(opts.threads ?? Math.min(4, availableParallelism()), files.length));
  const bar = new ProgressBar('decode', files.length, log, 10_000);
  const t0 = performance.now();
  const results = await decodeFiles({
    files,
    size,
    cacheDir,
    keep: !streamed,
    threads,
    onProgress: (done) => bar.update(done, 'images', done / Math.max(1e-3, (performance.now() - t0) / 1000)),
  });
  bar.done();
  const decodeSeconds = (performance.now() - t0) / 1000;

  const skipped: { file: string; reason: string }[] = [];
  results.forEach((r, i) => {
    if (r.error === null) return;
    if (opts.strict) throw new DataError('DATA_CORRUPT', `cannot decode image ${files[i]}: ${r.error} (--strict)`);
    skipped.push({ file: files[i]!, reason: r.error });
    if (skipped.length <= MAX_SKIP_LINES) log(`warning: skipping ${files[i]}: ${r.error}`);
  });
  if (skipped.length > MAX_SKIP_LINES)
    log(
      `warning: ${skipped.length - MAX_SKIP_LINES} more undecodable files skipped (${skipped.length} in all; listed in report.md)`,
    );
  const hits = results.filter((r) => r.hit).length;
  const ok = results.length - skipped.length;
  log(
    `decoded ${ok} images in ${decodeSeconds.toFixed(2)} s: ${hits} from the cache, ${ok - hits} decoded, ${skipped.length} skipped`,
  );

  /** Good image indices (into `files`) of one side, with their labels. */
  const good = (from: number, labels: number[]): { idx: number[]; labels: number[] } => {
    const idx: number[] = [];
    const lab: number[] = [];
    labels.forEach((l, k) => {
      if (results[from + k]!.error === null) {
        idx.push(from + k);
        lab.push(l);
      }
    });
    return { idx, labels: lab };
  };
  const build = (idx: number[], labels: number[]): ImageDataset => {
    const base = {
      labels: Uint8Array.from(labels),
      count: idx.length,
      height: size,
      width: size,
      classes: tr.classes.slice(),
    };
    if (streamed) return { ...base, images: new Uint8Array(0), files: idx.map((i) => results[i]!.cached!) };
    const images = new Uint8Array(idx.length * per);
    idx.forEach((i, k) => {
      images.set(results[i]!.pixels!, k * per);
      results[i]!.pixels = null; // each image goes to one split: free it as soon as it is copied
    });
    return { ...base, images };
  };

  const K = tr.classes.length;
  const countOf = (labels: number[]): number[] => {
    const c = new Array<number>(K).fill(0);
    for (const l of labels) c[l]!++;
    return c;
  };
  let trainSet: ImageDataset;
  let valSet: ImageDataset;
  const g = good(0, tr.labels);
  if (paired) {
    const v = good(tr.files.length, va.labels);
    const empty = countOf(g.labels).flatMap((n, c) => (n === 0 ? [tr.classes[c]!] : []));
    if (empty.length > 0)
      throw new DataError('DATA_FORMAT', `no usable training images for class ${empty.join(', ')} in ${trainDir}`);
    trainSet = build(g.idx, g.labels);
    valSet = build(v.idx, v.labels);
  } else {
    const counts = countOf(g.labels);
    const need = whole ? 0 : valFraction > 0 ? 2 : 1;
    const tiny = counts.flatMap((n, c) => (n < need ? [`"${tr.classes[c]}" (${n})`] : []));
    if (tiny.length > 0) {
      const why = need === 2 ? ' (one to train on, one to validate)' : '';
      throw new DataError(
        'DATA_FORMAT',
        `every class needs at least ${need} usable image${need === 2 ? 's' : ''}${why}; too few in ${tiny.join(', ')}`,
      );
    }
    const split = stratifiedSplit(g.labels, K, whole ? 0 : valFraction, opts.seed ?? 0);
    const pick = (ks: number[]): ImageDataset =>
      build(
        ks.map((k) => g.idx[k]!),
        ks.map((k) => g.labels[k]!),
      );
    trainSet = pick(split.train);
    valSet = pick(split.val);
  }
  const trainCounts = countOf(Array.from(trainSet.labels));
  const valCounts = countOf(Array.from(valSet.labels));
  const w = Math.max(5, ...tr.classes.map((c) => c.length));
  if (whole) {
    log(`${K} classes (images):`);
    tr.classes.forEach((c, k) => log(`  ${c.padEnd(w)} ${String(trainCounts[k]).padStart(6)}`));
  } else {
    log(`${K} classes (train / validation images):`);
    tr.classes.forEach((c, k) => log(`  ${c.padEnd(w)} ${String(trainCounts[k]).padStart(6)} / ${valCounts[k]}`));
  }
  const totals = trainCounts.map((n, k) => n + valCounts[k]!);
  const big = totals.indexOf(Math.max(...totals));
  const small = totals.indexOf(Math.min(...totals));
  if (!whole && totals[big]! > 10 * totals[small]!) {
    log(
      `warning: classes are imbalanced: "${tr.classes[big]}" has ${totals[big]} images, "${tr.classes[small]}" ${totals[small]} (more than 10×); accuracy will favour the large classes`,
    );
  }
  return {
    train: trainSet,
    test: valSet,
    report: {
      root,
      name: basename(resolve(root)),
      sha256: await listingHash(root, files),
      classes: tr.classes.slice(),
      trainCounts,
      valCounts,
      skipped,
      decodeSeconds,
      cacheHits: hits,
      decoded: ok - hits,
      threads,
      cacheDir,
      streamed,
    },
  };
}

/**
 * The images `mixer eval --data <folder>` scores: every image of the folder, or of its test/ (else val/) part when it
 * has the train/ + val/ or test/ layout. `classes` fixes the class order (the model's labels), when known.
 */
export async function loadEvalFolder(
  root: string,
  opts: Omit<ImageFolderOptions, 'whole' | 'valFraction'> & { classes?: string[] },
): Promise<{ set: ImageDataset; dir: string; report: FolderReport }> {
  let dir = root;
  if (await isDirectory(join(root, 'train')))
    for (const part of ['test', 'val'])
      if (await isDirectory(join(root, part))) {
        dir = join(root, part);
        break;
      }
  const { classes, ...rest } = opts;
  const r = await loadImageFolder(dir, { ...rest, whole: classes ? { classes } : {} });
  return { set: r.train, dir, report: r.report };
}
