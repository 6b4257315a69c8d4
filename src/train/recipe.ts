// Recipe flags kept in the checkpoint: what a resumed run inherits, and how a changed flag is reported or overridden.
import { UsageError } from '../util/errors.js';

/**
 * Hyperparameters stored in the checkpoint (`mixer.hyperparameters`); all but `epochs` are compared on --resume.
 * `config` (the shape flags / --config), `init` and `resetHead` describe how the run's model was made: the checkpoint
 * fixes them, so a different value on --resume is an error even with --override (FIXED_KEYS). `freeze` is a recipe
 * flag like the others (--override can unfreeze or freeze more). --strict, --cache-mb and --cache-dir do not change
 * what is trained and are not stored. `warmupSteps` has no flag: a new run fixes it (--warmup-epochs, bounded by
 * MAX_WARMUP_SHARE of the planned steps) and a resumed one keeps it, so re-planning --epochs never moves the warmup;
 * checkpoints from before it existed (null) keep their unbounded round(warmupEpochs × steps per epoch).
 */
export const HYPER_KEYS = [
  'preset',
  'epochs',
  'batchSize',
  'lr',
  'weightDecay',
  'warmupEpochs',
  'warmupSteps',
  'minLrRatio',
  'labelSmoothing',
  'seed',
  'data',
  'augment',
  'mode',
  'limitTrain',
  'mixup',
  'cutmix',
  'mixProb',
  'ema',
  'valSplit',
  'dropPath',
  'config',
  'init',
  'resetHead',
  'freeze',
] as const;
export type HyperKey = (typeof HYPER_KEYS)[number];

/** Keys that --resume compares (--epochs re-plans the schedule instead). */
export const RECIPE_KEYS: readonly HyperKey[] = HYPER_KEYS.filter((k) => k !== 'epochs');

/** Keys that describe the model itself: --override cannot change them on --resume. */
export const FIXED_KEYS: ReadonlySet<HyperKey> = new Set<HyperKey>(['preset', 'config', 'init', 'resetHead']);

/** Values a run had before a key existed (checkpoints of older versions lack the key), also stored for unset options. */
export const ABSENT: Partial<Record<HyperKey, unknown>> = {
  mixup: 0,
  cutmix: 0,
  mixProb: 1,
  ema: 0,
  valSplit: 0,
  dropPath: 0,
  limitTrain: null,
  warmupSteps: null,
  config: null,
  init: null,
  resetHead: null,
  freeze: null,
};

/** A stable form for comparison: sorted object keys, missing optional augment fields as their defaults. */
function canon(k: string, v: unknown): string {
  if (v === undefined) v = null;
  if (k === 'augment' && v && typeof v === 'object') v = { policy: null, ...(v as object) };
  const sort = (x: unknown): unknown =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(
          Object.entries(x)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([a, b]) => [a, sort(b ?? null)]),
        )
      : x;
  return JSON.stringify(sort(v));
}

export interface RecipeDiff {
  key: HyperKey;
  checkpoint: unknown;
  given: unknown;
}

/**
 * Applies a checkpoint's hyperparameters to `o` on resume. Keys in `explicit` (flags given on this command line)
 * that differ from the checkpoint are differences: an error listing them, unless `override`, in which case the new
 * values win and the differences are returned. Other keys take the checkpoint's value. `epochs` is left to the caller.
 */
export function applyCheckpointRecipe<T extends Partial<Record<HyperKey, unknown>>>(
  hyper: Record<string, unknown>,
  options: T,
  explicit: ReadonlySet<string> | undefined,
  override: boolean,
): RecipeDiff[] {
  const o: Partial<Record<HyperKey, unknown>> = options;
  const diffs: RecipeDiff[] = [];
  for (const k of RECIPE_KEYS) {
    const stored = Object.hasOwn(hyper, k) ? hyper[k] : Object.hasOwn(ABSENT, k) ? ABSENT[k] : undefined;
    if (stored === undefined) continue;
    if (explicit?.has(k) && canon(k, stored) !== canon(k, o[k]))
      diffs.push({ key: k, checkpoint: stored ?? null, given: o[k] ?? null });
    else o[k] = stored;
  }
  const fixed = diffs.filter((d) => FIXED_KEYS.has(d.key));
  if (fixed.length > 0) {
    const list = fixed.map((d) => `${d.key} ${JSON.stringify(d.checkpoint)} → ${JSON.stringify(d.given)}`).join('; ');
    throw new UsageError(
      `--resume continues the checkpoint's model; these cannot change (${list}): start a new run with --init instead`,
    );
  }
  if (diffs.length > 0 && !override) {
    const list = diffs.map((d) => `${d.key} ${JSON.stringify(d.checkpoint)} → ${JSON.stringify(d.given)}`).join('; ');
    throw new UsageError(
      `--resume with recipe flags that differ from the checkpoint (${list}); drop them to keep the checkpoint's values, or add --override to change them`,
    );
  }
  return diffs;
}
