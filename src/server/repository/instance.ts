// One loaded model version: its file checks, ORT worker sessions, micro-batcher and queue, warm-up, and the runner that feeds them.

import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ElemType } from '../../onnx/types.js';
import type { Device, HostTensor } from '../../runtime/session.js';
import { WorkerPool } from '../../runtime/worker-pool.js';
import { type BatchStats, type ItemResult, MicroBatcher, type OutputValues } from '../batcher.js';
import { ServiceError } from '../errors.js';
import { classRows, runImages, typedView as view } from '../image-batch.js';
import type { BatchClock } from '../observe/stage-clock.js';
import { modelContract, openModelFile } from '../open-model.js';
import { type ModelConfigFile, ModelFileError } from './config-file.js';
import { elemBytes, type ModelContract } from './contract.js';
import { fitProblem, memoryEstimate } from './machine.js';

/** Where a version comes from: its file, and its model folder's config.json and labels.txt (already read). */
export interface VersionSource {
  name: string;
  version: number;
  file: string;
  config: ModelConfigFile;
  labels: string[] | null;
  configPath: string;
  labelsPath: string;
}

export interface InstanceOptions {
  device: Device;
  maxBatch: number;
  workers: number;
  threads: number;
  batchDelayMs: number;
  maxQueue: number;
  maxModelBytes: number;
  /** The repository folder links must stay in (null: anywhere, as for a single --model file). */
  root?: string | null;
  /** Let links in the repository point outside it (--allow-external-links on). */
  allowExternalLinks?: boolean;
  /** Memory the loaded versions are estimated to hold (a new version must fit next to it). */
  memoryInUse?: () => number;
  onBatch?: (name: string, version: number, s: BatchStats) => void;
}

/** A generic tensor request's layout: inputs in order with per-row (batched) or whole (solo) dims. */
export interface TensorLayout {
  inputs: { name: string; type: ElemType; dims: number[] }[];
  outputs: string[];
  /** Rows share one run with other requests of the same layout; otherwise the request runs alone. */
  batched: boolean;
  /** Equal for equal layouts (the batcher groups by it); computed once, by tensorLayout. */
  key: string;
}

/** A layout with its batching key. */
export function tensorLayout(inputs: TensorLayout['inputs'], outputs: string[], batched: boolean): TensorLayout {
  return { inputs, outputs, batched, key: JSON.stringify([inputs, outputs, batched]) };
}

/** Length-prefixed UTF-8 strings (the v2 binary BYTES encoding) → strings. */
export function decodeStrings(b: Uint8Array): string[] {
  const out: string[] = [];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i + 4 <= b.length; ) {
    const len = dv.getUint32(i, true);
    out.push(Buffer.from(b.subarray(i + 4, i + 4 + len)).toString('utf8'));
    i += 4 + len;
  }
  return out;
}

const prod = (d: readonly number[]): number => d.reduce((p, x) => p * x, 1);

/** Rewords onnxruntime's load errors: missing operators get their own message. */
function loadError(file: string, e: unknown): ModelFileError {
  const msg = (e as Error).message.replace(/^cannot load model: /, '');
  if (
    /not a registered function\/op|Could not find an implementation|No opset import for domain|Unrecognized attribute|is not a registered/i.test(
      msg,
    )
  ) {
    return new ModelFileError(
      `${file} uses an operator this onnxruntime build does not implement (${msg}); export it with standard ONNX ops or a lower opset`,
    );
  }
  return new ModelFileError(`${file}: onnxruntime cannot load it (${msg})`);
}

/** Checks external-data locations stay inside the model's folder; returns their total size. */
async function checkExternalData(file: string, locations: string[]): Promise<number> {
  const dir = path.dirname(file);
  const dirReal = await realpath(dir);
  let total = 0;
  for (const loc of new Set(locations)) {
    const bad = () =>
      new ModelFileError(
        `${file}: external data "${loc}" points outside the model's folder; external data files must sit next to model.onnx (relative paths, no "..")`,
      );
    if (loc === '' || path.isAbsolute(loc) || loc.split(/[\\/]/).includes('..')) throw bad();
    let real: string;
    try {
      real = await realpath(path.join(dir, loc));
    } catch {
      throw new ModelFileError(`${file}: external data file "${loc}" is missing; copy it next to model.onnx`);
    }
    if (!real.startsWith(dirReal + path.sep)) throw bad();
    const s = await stat(real);
    // onnxruntime opens these itself: a FIFO or a device there would block or never end its read.
    if (!s.isFile()) throw new ModelFileError(`${file}: external data "${loc}" is not a regular file`);
    total += s.size;
  }
  return total;
}

export class ModelInstance {
  /** Requests holding this instance (it drains to 0 before it is closed). */
  leases = 0;
  private drained: (() => void)[] = [];
  /** Width of the class output (known after warm-up for a dynamic one). */
  classes: number;
  labels: string[];

  private constructor(
    readonly name: string,
    readonly version: number,
    readonly file: string,
    readonly sha256: string,
    readonly fileBytes: number,
    readonly contract: ModelContract,
    /** Estimated memory it holds (machine.ts's memoryEstimate). */
    readonly memoryBytes: number,
    private readonly pool: WorkerPool,
    private readonly batcher: MicroBatcher<TensorLayout>,
    readonly timings: { loadMs: number; warmupMs: number },
    /** The model folder's config.json as applied ({} when there is none). */
    readonly configFile: ModelConfigFile = {},
  ) {
    this.classes = contract.labels?.length ?? 0;
    this.labels = contract.labels ?? [];
  }

  /** Reads, checks, opens and warms a version. Throws ModelFileError (or RuntimeError for a missing CUDA provider). */
  static async load(src: VersionSource, opts: InstanceOptions): Promise<ModelInstance> {
    const t0 = performance.now();
    const limit = ` (raise --max-model-bytes / MAX_MODEL_BYTES)`;
    const { bytes, sha256, io } = await openModelFile(src.file, {
      maxBytes: opts.maxModelBytes,
      limitHint: limit,
      policy: { root: opts.root ?? null, allowExternalLinks: opts.allowExternalLinks ?? false },
    });
    const size = bytes.length;
    const external = io.externalData.length > 0 ? await checkExternalData(src.file, io.externalData) : 0;
    if (size + external > opts.maxModelBytes)
      throw new ModelFileError(
        `${src.file} with its external data is ${size + external} bytes, over the ${opts.maxModelBytes}-byte limit${limit}`,
      );
    const contract = modelContract(src.file, io, src, {
      maxBatch: opts.maxBatch,
      workers: opts.workers,
      threads: opts.threads,
    });
    // Before any worker starts: a model asking for more threads or memory than the machine has is refused here.
    const misfit = fitProblem(contract, size + external, opts.memoryInUse?.() ?? 0, src.configPath);
    if (misfit) throw new ModelFileError(misfit);
    let pool: WorkerPool;
    try {
      pool = await WorkerPool.create(external > 0 ? src.file : bytes, {
        device: opts.device,
        threads: contract.threads,
        workers: contract.instances,
      });
    } catch (e) {
      if ((e as { code?: string }).code === 'CUDA_UNAVAILABLE') throw e;
      throw loadError(src.file, e);
    }
    const t1 = performance.now();
    const runner = {
      get idle() {
        return pool.idle;
      },
      get workers() {
        return pool.size;
      },
      run: (px: Uint8Array, n: number, layout?: TensorLayout) => runBatch(pool, contract, px, n, layout),
    };
    const batcher = new MicroBatcher<TensorLayout>(runner, {
      maxBatch: contract.maxBatch,
      delayMs: opts.batchDelayMs,
      maxQueue: opts.maxQueue,
      imageBytes: contract.image?.itemBytes ?? 0,
      onBatch: (s) => opts.onBatch?.(src.name, src.version, s),
    });
    const inst = new ModelInstance(
      src.name,
      src.version,
      src.file,
      sha256,
      size + external,
      contract,
      memoryEstimate(contract, size + external),
      pool,
      batcher,
      { loadMs: t1 - t0, warmupMs: 0 },
      src.config,
    );
    try {
      await inst.warm(src.labelsPath);
    } catch (e) {
      await pool.close();
      if (e instanceof ModelFileError) throw e;
      throw new ModelFileError(`${src.file}: the warm-up run failed (${(e as Error).message})`, { cause: e });
    }
    inst.timings.warmupMs = performance.now() - t1;
    return inst;
  }

  /** Runs every worker once with a full batch and once with one item, so the first requests pay no allocation. */
  private async warm(labelsPath: string): Promise<void> {
    const c = this.contract;
    const runner = (px: Uint8Array, n: number, layout?: TensorLayout) => runBatch(this.pool, c, px, n, layout);
    const sizes = [...new Set([c.maxBatch, 1])];
    if (c.image) {
      for (const n of sizes) {
        const outs = await Promise.all(
          Array.from({ length: this.pool.size }, () => runner(new Uint8Array(n * c.image!.itemBytes), n)),
        );
        const k = outs[0]!.outputs[c.image.output]!.length / n;
        if (this.classes === 0 || !c.labels) {
          this.classes = k;
          this.labels = Array.from({ length: k }, (_, i) => String(i));
        } else if (k !== this.classes) {
          throw new ModelFileError(
            `${labelsPath} has ${this.classes} labels but output "${c.image.output}" has ${k} classes; write one label per class`,
          );
        }
      }
      return;
    }
    // A generic model warms when its shapes are known: static, or static apart from a dynamic batch dim.
    const ins = c.io.inputs;
    if (ins.some((i) => i.type === 'string' || i.shape.slice(1).some((d) => typeof d !== 'number'))) return;
    const batched =
      c.fixedBatch === null &&
      ins.every((i) => i.shape.length > 0) &&
      c.io.outputs.every((x) => x.shape.length > 0 && typeof x.shape[0] !== 'number');
    if (!batched && ins.some((i) => typeof i.shape[0] !== 'number' && i.shape.length > 0)) return;
    for (const n of batched ? sizes : [1]) {
      const layout = tensorLayout(
        ins.map((i) => ({ name: i.name, type: i.type, dims: (batched ? i.shape.slice(1) : i.shape) as number[] })),
        c.io.outputs.map((x) => x.name),
        batched,
      );
      const bytes = layout.inputs.reduce((s, i) => s + prod(i.dims) * elemBytes(i.type), 0) * (batched ? n : 1);
      await Promise.all(
        Array.from({ length: this.pool.size }, () => runner(new Uint8Array(bytes), batched ? n : 1, layout)),
      );
    }
  }

  get provider(): 'cpu' | 'cuda' {
    return this.pool.provider;
  }

  get queueDepth(): number {
    return this.batcher.depth;
  }

  /** True when generic requests can share runs: a dynamic batch dim on every input and output. */
  get batchable(): boolean {
    const c = this.contract;
    return (
      c.fixedBatch === null &&
      c.io.inputs.every((i) => i.shape.length > 0 && typeof i.shape[0] !== 'number') &&
      c.io.outputs.every((x) => x.shape.length > 0 && typeof x.shape[0] !== 'number')
    );
  }

  /**
   * Class probabilities for `count` preprocessed images (count × the contract's input tensor bytes), submitted as one
   * batch item so they run together or not at all; one array per image.
   */
  async classify(input: Uint8Array, count = 1, clock?: BatchClock): Promise<Float32Array[]> {
    const c = this.contract.image;
    if (!c)
      throw new ServiceError(
        'NOT_AN_IMAGE_MODEL',
        `model "${this.name}" is not an image classifier: ${this.contract.notImage}; use /v2/models/${this.name}/infer`,
      );
    return classRows((await this.batcher.submit(input, count, clock))[c.output]!, count, c);
  }

  /** Runs a generic tensor request (payload laid out as `layout` says; `rows` rows when batched). */
  infer(payload: Uint8Array, rows: number, layout: TensorLayout, clock?: BatchClock): Promise<ItemResult> {
    return this.batcher.submitWithLayout(payload, layout.batched ? rows : 1, layout, clock);
  }

  lease(): void {
    this.leases++;
  }

  release(): void {
    this.leases--;
    if (this.leases === 0) for (const f of this.drained.splice(0)) f();
  }

  /** Waits for the requests holding it and for its queued and running batches, then stops its workers. */
  async close(): Promise<void> {
    if (this.leases > 0) await new Promise<void>((r) => this.drained.push(r));
    await this.batcher.drain();
    await this.pool.close();
  }
}

/** One batch on the pool: a generic request's rows when it has a layout, else images (one request's may span fixed batches). */
async function runBatch(
  pool: WorkerPool,
  contract: ModelContract,
  px: Uint8Array,
  n: number,
  layout?: TensorLayout,
): Promise<{ outputs: Record<string, OutputValues>; ms: number; dims?: Record<string, number[]>; worker?: number }> {
  if (layout) return runTensors(pool, px, n, layout);
  let worker: number | undefined;
  const { out, ms } = await runImages(
    (feeds, outputs) =>
      pool.run(feeds, outputs).then((r) => {
        worker = r.worker;
        return r;
      }),
    contract,
    px,
    n,
  );
  return { outputs: { [contract.image!.output]: out }, ms, ...(worker !== undefined ? { worker } : {}) };
}

/** A generic request: batched payloads are row-interleaved inputs, solo payloads the inputs one after another. */
async function runTensors(
  pool: WorkerPool,
  px: Uint8Array,
  n: number,
  layout: TensorLayout,
): Promise<{ outputs: Record<string, OutputValues>; ms: number; dims: Record<string, number[]>; worker: number }> {
  const feeds: Record<string, HostTensor> = {};
  if (layout.batched) {
    const rowBytes = layout.inputs.map((i) => prod(i.dims) * elemBytes(i.type));
    const total = rowBytes.reduce((a, b) => a + b, 0);
    let off = 0;
    layout.inputs.forEach((inp, k) => {
      const rb = rowBytes[k]!;
      let b: Uint8Array;
      if (layout.inputs.length === 1) b = px;
      else {
        b = new Uint8Array(n * rb);
        for (let r = 0; r < n; r++) b.set(px.subarray(r * total + off, r * total + off + rb), r * rb);
      }
      off += rb;
      feeds[inp.name] = { dtype: inp.type, dims: [n, ...inp.dims], data: view(inp.type, b) };
    });
  } else {
    let off = 0;
    const dv = new DataView(px.buffer, px.byteOffset, px.byteLength);
    for (const inp of layout.inputs) {
      let len: number;
      if (inp.type === 'string') {
        len = 0;
        for (let e = 0; e < prod(inp.dims); e++) len += 4 + dv.getUint32(off + len, true);
        feeds[inp.name] = { dtype: 'string', dims: inp.dims, data: decodeStrings(px.subarray(off, off + len)) };
      } else {
        len = prod(inp.dims) * elemBytes(inp.type);
        feeds[inp.name] = { dtype: inp.type, dims: inp.dims, data: view(inp.type, px.slice(off, off + len)) };
      }
      off += len;
    }
  }
  const r = await pool.run(feeds, layout.outputs);
  const outputs: Record<string, OutputValues> = {};
  const dims: Record<string, number[]> = {};
  for (const name of layout.outputs) {
    outputs[name] = r.outputs[name]!.data;
    dims[name] = [...r.outputs[name]!.dims];
  }
  return { outputs, ms: r.ms, dims, worker: r.worker };
}
