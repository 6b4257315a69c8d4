// `mixer predict`: a batch job over files, folders and globs with any model the service can serve, through the
// service's decoder, micro-batcher and inference workers; results stream in input order, a bad file gets its own error
// record and the rest still run; --resume skips what an earlier run's output already holds.
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { decodeImage, ImageError } from '../../image/decode.js';
import { topK } from '../../model/predictions.js';
import { ModelFileError, readConfigFile, readLabelsFile } from '../../server/repository/config-file.js';
import { pixelsToInput } from '../../server/repository/contract.js';
import { ModelInstance, type VersionSource } from '../../server/repository/instance.js';
import { isModelName, MODEL_NAME_RULE } from '../../server/repository/names.js';
import { scanModel } from '../../server/repository/scan.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { num, parse, str, UsageError } from '../args.js';
import { type Flag, flagOptions, numFlag } from '../flags.js';
import { expandInputs, type Input } from '../inputs.js';
import { imageContract, openLocalModel } from '../model-file.js';
import { defaultModelPath } from '../paths.js';
import { CSV_HEADER, type Format, formatOutcome, type Outcome, previousOutput } from '../predict-output.js';

export const flags: readonly Flag[] = [
  {
    flag: 'model',
    kind: 'string',
    arg: 'M',
    dfltText: 'the shipped model, or MODEL_PATH',
    help: 'an ONNX image classifier',
  },
  { flag: 'config', kind: 'string', arg: 'config.json', help: 'completes --model as in a model repository' },
  { flag: 'labels', kind: 'string', arg: 'labels.txt', help: 'completes --model as in a model repository' },
  { flag: 'model-repository', kind: 'string', arg: 'DIR', help: 'a model repository, with --model-name' },
  { flag: 'model-name', kind: 'string', arg: 'N', help: 'the model of --model-repository' },
  { flag: 'json', kind: 'boolean', help: 'one JSON object per line' },
  { flag: 'csv', kind: 'boolean', help: 'CSV rows' },
  { flag: 'out', kind: 'string', arg: 'FILE', help: 'write the records there instead of stdout' },
  { flag: 'resume', kind: 'boolean', help: "keep --out FILE's successful records and skip their inputs" },
  { flag: 'top', kind: 'int', arg: 'K', dfltText: '5, at most the classes', min: 1, help: 'predictions per image' },
  { flag: 'workers', kind: 'int', arg: 'N', dflt: 1, min: 1, max: 64, help: 'inference workers' },
  { flag: 'threads', kind: 'int', arg: 'N', dfltText: 'the cores / workers', min: 1, help: 'ORT threads per worker' },
  { flag: 'batch-size', kind: 'int', arg: 'N', dflt: 64, min: 1, max: 4096, help: 'images per run' },
];
export const args = 'PATH...';
const F: Record<string, Flag> = Object.fromEntries(flags.map((f) => [f.flag, f]));

export const help = `mixer predict [--model M | --model-repository DIR --model-name N] [--json | --csv] [--out FILE] [--resume] [--top K] PATH...
  Classifies image files: PATHs are files, folders (their image files, recursively) and globs ("photos/**/*.jpg",
  quoted so the shell leaves them). Results stream in input order to stdout (or --out FILE): readable text by default,
  --json one JSON object per line ({"path", "predictions"} or {"path", "error": {"code", "message"}}), --csv the columns
  path,rank,label,index,probability,error_code,error_message (one row per prediction, one per failed input).
  A file that cannot be read or decoded gets its own error record and the others still run. Progress on a terminal
  and the throughput at the end go to stderr. Exit code 0 when every input succeeded, 2 when any failed.
  --model M              an ONNX image classifier (default: the shipped model, or MODEL_PATH); --config config.json
                         and --labels labels.txt complete it as in a model repository
  --model-repository DIR --model-name N
                         the latest loadable version of model N of a repository, with its config.json (resize,
                         interpolation, mean/std, ...) and labels.txt
  --out FILE             write the records there instead of stdout
  --resume               with --out and --json or --csv: keep FILE's successful records, skip their inputs and append
                         the rest (failed inputs are tried again)
  --top K                predictions per image (default 5, at most the classes)
  --workers N --threads N --batch-size N
                         inference workers (default 1), ORT threads each (default: the cores / workers) and images
                         per run (default 64), as for mixer serve`;

/** Files larger than this are refused without reading them (a decoded image is limited by its pixels anyway). */
const MAX_FILE_BYTES = 256 * 1024 * 1024;

/** Opens the model the flags name as a served version: the service's workers and micro-batcher. */
async function openModel(
  v: Record<string, string | boolean | undefined>,
  o: { workers: number; threads: number; maxBatch: number },
) {
  const repo = v['model-repository'];
  let src: VersionSource;
  if (repo !== undefined) {
    if (v['model'] !== undefined || v['config'] !== undefined || v['labels'] !== undefined)
      throw new UsageError(
        '--model-repository takes its config.json and labels.txt from the model folder; drop --model/--config/--labels',
      );
    const name = str(v, 'model-name');
    if (!isModelName(name)) throw new UsageError(`--model-name ${JSON.stringify(name)}: ${MODEL_NAME_RULE}`);
    // The CLI reads the user's own folder: symlinks out of it are followed, as for --model.
    const m = await scanModel(String(repo), name, { allowExternalLinks: true });
    if (m.error) throw new ModelFileError(m.error);
    const ok = m.versions.filter((x) => x.file && !x.error);
    const latest = ok[ok.length - 1];
    if (!latest)
      throw new ModelFileError(
        `model "${name}" has no loadable version: ${m.versions.map((x) => `version ${x.version}: ${x.error}`).join('; ') || 'no version folder'}`,
      );
    src = {
      name,
      version: latest.version,
      file: latest.file!,
      config: m.config,
      labels: m.labels,
      configPath: m.configPath,
      labelsPath: m.labelsPath,
    };
  } else {
    if (v['model-name'] !== undefined) throw new UsageError('--model-name needs --model-repository');
    const file = str(v, 'model', defaultModelPath());
    const config = v['config'] !== undefined ? str(v, 'config') : undefined;
    const labels = v['labels'] !== undefined ? str(v, 'labels') : undefined;
    // The file's own checks and one-line errors (--config / --labels missing, not an image classifier).
    const m = await openLocalModel(file, { ...(config ? { config } : {}), ...(labels ? { labels } : {}) });
    imageContract(m);
    src = {
      name: path.basename(file, path.extname(file)),
      version: 1,
      file,
      config: config ? await readConfigFile(config) : {},
      labels: labels ? await readLabelsFile(labels) : null,
      configPath: config ?? `${file} (add --config config.json)`,
      labelsPath: labels ?? 'labels',
    };
  }
  const inst = await ModelInstance.load(src, {
    device: 'cpu',
    maxBatch: o.maxBatch,
    workers: o.workers,
    threads: o.threads,
    batchDelayMs: 1,
    maxQueue: Number.MAX_SAFE_INTEGER,
    maxModelBytes: Number.MAX_SAFE_INTEGER,
  });
  if (!inst.contract.image) {
    await inst.close();
    throw new ModelFileError(`${src.file} is not an image classifier: ${inst.contract.notImage}`);
  }
  return inst;
}

/** One input → its outcome: read, decode (the service's decoder and the model's preprocessing), classify. */
async function predictOne(inst: ModelInstance, input: Input, top: number): Promise<Outcome> {
  if (input.missing) return { path: input.path, error: input.missing };
  const c = inst.contract.image!;
  let bytes: Uint8Array;
  try {
    const s = await stat(input.path);
    if (!s.isFile()) return { path: input.path, error: { code: 'UNREADABLE', message: `${input.path} is not a file` } };
    if (s.size > MAX_FILE_BYTES)
      return {
        path: input.path,
        error: {
          code: 'FILE_TOO_LARGE',
          message: `${input.path} is ${s.size} bytes, over the ${MAX_FILE_BYTES}-byte limit`,
        },
      };
    bytes = await readFile(input.path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    return { path: input.path, error: { code: 'UNREADABLE', message: `cannot read ${input.path}: ${code}` } };
  }
  let px: Uint8Array;
  try {
    px = await decodeImage(bytes, c, { name: input.path });
  } catch (e) {
    if (e instanceof ImageError) return { path: input.path, error: { code: e.code, message: e.message } };
    throw e;
  }
  const [probs] = await inst.classify(pixelsToInput(px, c), 1);
  return { path: input.path, predictions: topK(probs!, inst.labels, top) };
}

/** A one-line progress bar on a terminal (stderr), redrawn at most 10 times a second. */
function progress(total: number, t0: number) {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  return {
    update(done: number, failed: number): void {
      const now = performance.now();
      if (!tty || (now - last < 100 && done < total)) return;
      last = now;
      const width = 30;
      const filled = total === 0 ? width : Math.round((width * done) / total);
      const rate = done / Math.max(1e-3, (now - t0) / 1000);
      process.stderr.write(
        `\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}${failed ? ` (${failed} failed)` : ''} ${rate.toFixed(0)} images/s `,
      );
    },
    end(): void {
      if (tty) process.stderr.write('\n');
    },
  };
}

async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

export async function run(argv: string[]): Promise<number> {
  const { values: v, positionals: paths } = parse(argv, flagOptions(flags), true);
  if (paths.length === 0) throw new UsageError('mixer predict: give at least one image file, folder or glob');
  if (v['json'] && v['csv']) throw new UsageError('--json and --csv: choose one');
  const format: Format = v['json'] ? 'json' : v['csv'] ? 'csv' : 'text';
  const outFile = v['out'] !== undefined ? str(v, 'out') : null;
  if (v['resume'] && (outFile === null || format === 'text'))
    throw new UsageError('--resume needs --out FILE and --json or --csv (it reads the records back)');
  const workers = numFlag(v, F['workers']!);
  const threads = num(v, 'threads', Math.max(1, Math.floor(os.availableParallelism() / workers)), {
    int: true,
    min: 1,
  });
  const maxBatch = numFlag(v, F['batch-size']!);

  // What an earlier run's output already holds (--resume), before anything is loaded.
  let done = new Set<string>();
  let keep = '';
  if (v['resume']) {
    let text: string | null = null;
    try {
      text = await readFile(outFile!, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new UsageError(`--out ${outFile}: cannot read it (${(e as NodeJS.ErrnoException).code})`, { cause: e });
    }
    if (text !== null) ({ done, keep } = previousOutput(text, format as 'json' | 'csv'));
  }
  const inputs = (await expandInputs(paths)).filter((i) => !done.has(i.path));
  if (done.size > 0) process.stderr.write(`mixer predict: ${done.size} input(s) already in ${outFile}, skipped\n`);

  const inst = await openModel(v, { workers, threads, maxBatch });
  for (const w of inst.contract.warnings) process.stderr.write(`mixer predict: warning: ${w}\n`);
  const top = num(v, 'top', Math.min(5, inst.classes), { int: true, min: 1, max: inst.classes });

  let out: Writable = process.stdout;
  if (outFile !== null) {
    if (v['resume']) await writeFileAtomic(outFile, keep);
    out = createWriteStream(outFile, { flags: v['resume'] ? 'a' : 'w' });
  }
  if (format === 'csv' && !v['resume']) await write(out, CSV_HEADER);

  // A window of inputs in flight (reading, decoding, queued in the batcher), written in input order as they finish.
  const t0 = performance.now();
  const bar = progress(inputs.length, t0);
  const window = Math.max(2 * maxBatch * workers, 8);
  const inFlight: Promise<Outcome>[] = [];
  let next = 0;
  const launch = (): void => {
    if (next < inputs.length) inFlight.push(predictOne(inst, inputs[next++]!, top));
  };
  let failed = 0;
  try {
    for (let k = 0; k < window; k++) launch();
    for (let i = 0; i < inputs.length; i++) {
      const o = await inFlight.shift()!;
      launch();
      if (o.error) failed++;
      await write(out, formatOutcome(o, format));
      bar.update(i + 1, failed);
    }
  } finally {
    // Inputs still in flight after a failure settle before the workers stop.
    await Promise.allSettled(inFlight);
    await inst.close();
    if (out !== process.stdout) await new Promise<void>((r, j) => out.end((e?: Error | null) => (e ? j(e) : r())));
  }
  bar.end();
  const s = (performance.now() - t0) / 1000;
  process.stderr.write(
    `mixer predict: ${inputs.length} input(s), ${inputs.length - failed} classified, ${failed} failed, in ${s.toFixed(2)} s (${(inputs.length / Math.max(s, 1e-9)).toFixed(1)} images/s)\n`,
  );
  return failed > 0 ? 2 : 0;
}
