// The only module that imports onnxruntime-node: sessions, execution providers and tensor conversion.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { CodedError } from '../util/errors.js';
// First: telemetry off before the binding below loads.
import './telemetry.js';
import ort from 'onnxruntime-node';
import type { ElemType, TypedData } from '../onnx/types.js';

export const DEVICES = ['cpu', 'cuda', 'auto'] as const;
export type Device = (typeof DEVICES)[number];

/** Tensor contents: a typed array (float16 as raw Uint16Array bits, bool as Uint8Array), or strings. */
export type TensorData = TypedData | Int8Array | Uint16Array | Int16Array | Uint32Array | BigUint64Array | string[];

/** A tensor on the JS side. */
export interface HostTensor {
  readonly dtype: ElemType;
  readonly dims: readonly number[];
  readonly data: TensorData;
}

export interface SessionOptions {
  /** Intra-op threads; 0 lets ORT choose. */
  threads?: number;
  device?: Device;
  /** Write ORT's optimized graph here (to inspect fusions). */
  optimizedModelPath?: string;
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Let ORT's intra-op threads busy-wait between operators (ORT's default). Off by default here: on small shared
   * machines spinning threads steal cores from each other and from the rest of the process.
   */
  spin?: boolean;
  /**
   * ORT's memory pattern: plan one block for all intermediate tensors from the first run (default on). Training
   * sessions turn it off: for the batch-128 train step its plan peaks at about 1.5 GB RSS, against 0.8 GB when the
   * arena reuses freed buffers instead, at the same speed.
   */
  memPattern?: boolean;
  /** ORT's profiler: trace every run into `<profile>_<date>.json` (a file prefix); endProfiling() writes it. */
  profile?: string;
}

/** Codes of RuntimeErrors that the user's model or machine causes (the others are failures of the runtime itself). */
const USER_RUNTIME_CODES: ReadonlySet<string> = new Set(['BAD_DEVICE', 'BAD_MODEL', 'CUDA_UNAVAILABLE']);

/** An ONNX Runtime failure: `code` says which (BAD_MODEL, CUDA_UNAVAILABLE, RUN_FAILED, WORKER_CRASHED, …). */
export class RuntimeError extends CodedError {
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }

  override get userFault(): boolean {
    return USER_RUNTIME_CODES.has(this.code);
  }
}

export const CUDA_FIX =
  'install the CUDA provider (ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js) on a machine with CUDA 12 and cuDNN 9, or use --device cpu';

/** True when the CUDA execution provider's shared library is present next to the ORT binding. */
export function cudaProviderInstalled(): boolean {
  try {
    const req = createRequire(import.meta.url);
    const pkgDir = path.dirname(req.resolve('onnxruntime-node/package.json'));
    const dir = path.join(pkgDir, 'bin', `napi-v6`, process.platform, process.arch);
    return (
      existsSync(path.join(dir, 'libonnxruntime_providers_cuda.so')) ||
      existsSync(path.join(dir, 'onnxruntime_providers_cuda.dll'))
    );
  } catch {
    return false;
  }
}

export class Session {
  private constructor(
    private readonly s: ort.InferenceSession,
    /** The execution provider actually used: 'cpu' or 'cuda'. */
    readonly provider: 'cpu' | 'cuda',
  ) {}

  static async create(model: string | Uint8Array, o: SessionOptions = {}): Promise<Session> {
    const device = o.device ?? 'cpu';
    if (!DEVICES.includes(device))
      throw new RuntimeError(
        `Unsupported device "${String(device)}". Should be one of: ${DEVICES.join(', ')}`,
        'BAD_DEVICE',
      );
    const base: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: o.optimization ?? 'all',
      executionMode: 'sequential',
      enableMemPattern: o.memPattern ?? true,
      ...(o.threads ? { intraOpNumThreads: o.threads, interOpNumThreads: 1 } : {}),
      ...(o.optimizedModelPath ? { optimizedModelFilePath: o.optimizedModelPath } : {}),
      ...(o.profile ? { enableProfiling: true, profileFilePrefix: o.profile } : {}),
      extra: {
        session: { intra_op: { allow_spinning: o.spin ? '1' : '0' }, inter_op: { allow_spinning: o.spin ? '1' : '0' } },
      },
    };
    const open = (eps: string[]) =>
      typeof model === 'string'
        ? ort.InferenceSession.create(model, { ...base, executionProviders: eps })
        : ort.InferenceSession.create(model, { ...base, executionProviders: eps });
    if (device === 'cuda' || device === 'auto') {
      const why = cudaProviderInstalled() ? null : 'the CUDA execution provider library is not installed';
      if (why === null) {
        try {
          return new Session(await open(['cuda', 'cpu']), 'cuda');
        } catch (e) {
          if (device === 'cuda')
            throw new RuntimeError(
              `CUDA execution provider failed to start (${(e as Error).message.split('\n')[0]}); ${CUDA_FIX}`,
              'CUDA_UNAVAILABLE',
              { cause: e },
            );
        }
      } else if (device === 'cuda') {
        throw new RuntimeError(`--device cuda: ${why}; ${CUDA_FIX}`, 'CUDA_UNAVAILABLE');
      }
    }
    try {
      return new Session(await open(['cpu']), 'cpu');
    } catch (e) {
      throw new RuntimeError(`cannot load model: ${(e as Error).message.split('\n')[0]}`, 'BAD_MODEL', { cause: e });
    }
  }

  get inputNames(): readonly string[] {
    return this.s.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.s.outputNames;
  }

  /** Runs the graph; fetches `outputs` (all by default). */
  async run(feeds: Record<string, HostTensor>, outputs?: readonly string[]): Promise<Record<string, HostTensor>> {
    const f: Record<string, ort.Tensor> = {};
    for (const [k, t] of Object.entries(feeds)) f[k] = new ort.Tensor(t.dtype, t.data as never, [...t.dims]);
    const r = outputs ? await this.s.run(f, [...outputs]) : await this.s.run(f);
    const out: Record<string, HostTensor> = {};
    for (const [k, t] of Object.entries(r))
      out[k] = { dtype: t.type as ElemType, dims: [...t.dims], data: t.data as TensorData };
    return out;
  }

  /** Ends ORT's profiler (SessionOptions.profile) and writes its trace. */
  endProfiling(): void {
    this.s.endProfiling();
  }

  async release(): Promise<void> {
    await this.s.release();
  }
}
