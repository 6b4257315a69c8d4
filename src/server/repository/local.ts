// Opens one model file for the CLI (info, predict, eval): its graph interface and contract, with an optional config.json and labels.txt.

import { constants as bufferConstants } from 'node:buffer';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MODEL_NOT_FOUND_HINT } from '../../model/load.js';
import { GraphError } from '../../onnx/errors.js';
import { inspectModel, type ModelInterface } from '../../onnx/inspect.js';
import type { HostTensor, Session } from '../../runtime/session.js';
import { ModelFileError, readConfigFile, readLabelsFile } from './config-file.js';
import { deriveContract, type ImageContract, type ModelContract } from './contract.js';
import { softmax } from './instance.js';
import { readCapped } from './safe-read.js';

export interface LocalModel {
  path: string;
  bytes: Uint8Array;
  sha256: string;
  io: ModelInterface;
  contract: ModelContract;
}

/** Reads and inspects a model; `config` and `labels` name optional config.json / labels.txt files (missing ones are errors here). */
export async function openModelFile(
  file: string,
  o: { config?: string; labels?: string; maxBatch?: number } = {},
): Promise<LocalModel> {
  let bytes: Uint8Array;
  try {
    // Capped and non-blocking: a FIFO or a device named as the model fails at once instead of hanging or filling memory.
    const buf = await readCapped(file, bufferConstants.MAX_LENGTH - 1, { root: null, allowExternalLinks: true });
    bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  } catch (e) {
    const code = ((e as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT')
      throw new ModelFileError(`cannot read model ${file}: ENOENT${MODEL_NOT_FOUND_HINT}`, { cause: e });
    throw e;
  }
  let io: ModelInterface;
  try {
    io = inspectModel(bytes);
  } catch (e) {
    if (e instanceof GraphError)
      throw new ModelFileError(`${file} is not a valid ONNX model: ${e.message}`, { cause: e });
    throw e;
  }
  for (const [flag, f] of [
    ['--config', o.config],
    ['--labels', o.labels],
  ] as const) {
    if (
      f !== undefined &&
      !(await readFile(f).then(
        () => true,
        () => false,
      ))
    )
      throw new ModelFileError(`${flag} ${f}: cannot read it`);
  }
  const cfg = o.config ? await readConfigFile(o.config) : {};
  const labels = o.labels ? await readLabelsFile(o.labels) : null;
  const threads = Math.max(1, Math.min(2, os.availableParallelism()));
  let contract: ModelContract;
  try {
    contract = deriveContract(
      io,
      cfg,
      labels,
      { maxBatch: o.maxBatch ?? 64, workers: 1, threads },
      o.config ?? `${file} (add --config config.json)`,
      o.labels ?? 'labels',
    );
  } catch (e) {
    if (e instanceof ModelFileError) throw e;
    throw new ModelFileError(`${file}: ${(e as Error).message}`, { cause: e });
  }
  return { path: path.resolve(file), bytes, sha256: createHash('sha256').update(bytes).digest('hex'), io, contract };
}

/** The image contract, or a one-line error saying why the model is not an image classifier. */
export function imageContract(m: LocalModel): ImageContract {
  if (!m.contract.image) throw new ModelFileError(`${m.path} is not an image classifier: ${m.contract.notImage}`);
  return m.contract.image;
}

/** Class probabilities of `n` preprocessed images (the contract's input bytes, one after another), in runs of at most maxBatch (fixed batch: padded). */
export async function classifyBatch(s: Session, m: LocalModel, input: Uint8Array, n: number): Promise<Float32Array[]> {
  const c = imageContract(m);
  const out: Float32Array[] = [];
  const step = m.contract.fixedBatch ?? m.contract.maxBatch;
  for (let start = 0; start < n; start += step) {
    const k = Math.min(step, n - start);
    const nb = m.contract.fixedBatch ?? k;
    const buf = new Uint8Array(nb * c.itemBytes);
    buf.set(input.subarray(start * c.itemBytes, (start + k) * c.itemBytes));
    const dims = c.layout === 'NCHW' ? [nb, c.channels, c.height, c.width] : [nb, c.height, c.width, c.channels];
    const feed: HostTensor = { dtype: c.dtype, dims, data: c.dtype === 'float32' ? new Float32Array(buf.buffer) : buf };
    const r = (await s.run({ [c.input]: feed }, [c.output]))[c.output]!.data as Float32Array;
    const K = r.length / nb;
    for (let i = 0; i < k; i++) {
      const row = r.slice(i * K, (i + 1) * K);
      out.push(c.softmax ? softmax(row) : row);
    }
  }
  return out;
}
