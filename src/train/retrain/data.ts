// The sets a retrain uses: the feedback (a stratified part held out), a class-balanced replay sample of the original training data, and its validation split.
import { type ImageDataset, imageAt, imageBytes } from '../../data/dataset.js';
import { isDirectory } from '../../data/files.js';
import { loadImageFolder, stratifiedSplit } from '../../data/folder.js';
import { UsageError } from '../../util/errors.js';
import { mixSeed, Rng } from '../../util/rng.js';

/** Held-out feedback below this many images cannot tell two versions apart. */
export const MIN_HELD_OUT = 2;

export interface RetrainDataOptions {
  /** `<feedback-dir>/<model>`: one folder per correct label (what `POST /v1/feedback` writes). */
  feedbackDir: string;
  /** The original image folder (the model's training data). */
  replayDir: string;
  labels: readonly string[];
  size: number;
  /** The original run's seed: the same seed reproduces its validation split. */
  seed: number;
  /** Share of each label's feedback held out for the gate (0-1). */
  holdout: number;
  /** Replay images per feedback training image. */
  replayRatio: number;
  /** What the original run recorded of its data (name, sha256 of the file list), checked against `replayDir`. */
  recorded: { name: string | null; sha256: string | null };
  cacheDir?: string;
  log: (line: string) => void;
}

export interface RetrainData {
  /** Feedback training part + replay sample. */
  train: ImageDataset;
  /** The held-out feedback. */
  heldOut: ImageDataset;
  /** The original validation split. */
  originalVal: ImageDataset;
  counts: {
    feedback: number;
    feedbackTrain: number;
    heldOut: number;
    replay: number;
    originalVal: number;
    perLabel: Record<string, number>;
  };
  replay: { name: string; sha256: string; sameAsTraining: boolean | null };
}

/** `a` then `b` (same size and classes), in memory. */
function concat(a: ImageDataset, b: ImageDataset): ImageDataset {
  const per = imageBytes(a);
  const count = a.count + b.count;
  const images = new Uint8Array(count * per);
  const labels = new Uint8Array(count);
  let k = 0;
  for (const ds of [a, b])
    for (let i = 0; i < ds.count; i++, k++) {
      images.set(imageAt(ds, i), k * per);
      labels[k] = ds.labels[i]!;
    }
  return { images, labels, count, height: a.height, width: a.width, classes: a.classes.slice() };
}

/** The images at `idx`, in memory. */
function pick(ds: ImageDataset, idx: readonly number[]): ImageDataset {
  const per = imageBytes(ds);
  const images = new Uint8Array(idx.length * per);
  idx.forEach((i, k) => images.set(imageAt(ds, i), k * per));
  return {
    images,
    labels: Uint8Array.from(idx, (i) => ds.labels[i]!),
    count: idx.length,
    height: ds.height,
    width: ds.width,
    classes: ds.classes.slice(),
  };
}

/** `n` indices of `ds`, as even over its classes as they allow (seeded shuffle within each class, then round robin). */
export function balancedSample(labels: ArrayLike<number>, numClasses: number, n: number, seed: number): number[] {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]!]!.push(i);
  byClass.forEach((idx, c) => new Rng(mixSeed(seed, 7919 + c)).shuffle(idx));
  const out: number[] = [];
  for (let round = 0; out.length < Math.min(n, labels.length); round++)
    for (const idx of byClass) if (round < idx.length && out.length < n) out.push(idx[round]!);
  return out.sort((a, b) => a - b);
}

export async function loadRetrainData(o: RetrainDataOptions): Promise<RetrainData> {
  const quiet = (): void => {};
  const common = { size: o.size, threads: 1, ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}) };
  if (!(await isDirectory(o.feedbackDir)))
    throw new UsageError(
      `no corrections in ${o.feedbackDir}: send some first (POST /v1/feedback, or the page's "Wrong?" form)`,
    );
  const fb = await loadImageFolder(o.feedbackDir, { ...common, whole: { classes: [...o.labels] }, log: quiet });
  const K = o.labels.length;
  const split = stratifiedSplit(fb.train.labels, K, o.holdout, mixSeed(o.seed, 33));
  if (split.val.length < MIN_HELD_OUT || split.train.length < 1)
    throw new UsageError(
      `${fb.train.count} correction${fb.train.count === 1 ? '' : 's'} in ${o.feedbackDir}: too few to retrain and check (a label needs at least 2 corrections for one to be held out; ${MIN_HELD_OUT} held out in all at least)`,
    );
  const feedbackTrain = pick(fb.train, split.train);
  const heldOut = pick(fb.train, split.val);
  const orig = await loadImageFolder(o.replayDir, { ...common, seed: o.seed, log: quiet });
  if (orig.report.classes.join('\n') !== o.labels.join('\n'))
    throw new UsageError(
      `the replay data ${o.replayDir} has the classes ${orig.report.classes.join(', ')}; the model's labels are ${o.labels.join(', ')}`,
    );
  const sameAsTraining = o.recorded.sha256 ? o.recorded.sha256 === orig.report.sha256 : null;
  if (sameAsTraining === false)
    o.log(
      `warning: ${o.replayDir} is not the folder the model was trained on (its file list differs from the recorded one${o.recorded.name ? `, "${o.recorded.name}"` : ''}): its validation split is not the original one`,
    );
  const want = Math.max(K, Math.ceil(o.replayRatio * feedbackTrain.count));
  const replay = pick(orig.train, balancedSample(orig.train.labels, K, want, mixSeed(o.seed, 34)));
  const perLabel: Record<string, number> = {};
  for (const l of fb.train.labels) perLabel[o.labels[l]!] = (perLabel[o.labels[l]!] ?? 0) + 1;
  o.log(
    `data: ${fb.train.count} corrections (${feedbackTrain.count} to train, ${heldOut.count} held out), ${replay.count} replayed of ${orig.train.count} original training images, ${orig.test.count} original validation images`,
  );
  return {
    train: concat(feedbackTrain, replay),
    heldOut,
    originalVal: orig.test,
    counts: {
      feedback: fb.train.count,
      feedbackTrain: feedbackTrain.count,
      heldOut: heldOut.count,
      replay: replay.count,
      originalVal: orig.test.count,
      perLabel,
    },
    replay: { name: orig.report.name, sha256: orig.report.sha256, sameAsTraining },
  };
}
