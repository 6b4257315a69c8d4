// Reads a model file (the one capped, non-blocking reader every model path uses) and parses an inference model: bytes, sha256, parsed I/O and its ModelSpec, with one-line errors for bad paths or files.

import { constants as bufferConstants } from 'node:buffer';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type ParsedModel, parseModel } from '../onnx/index.js';
import { UserError } from '../util/errors.js';
import { type LinkPolicy, ModelFileError, readCapped } from '../util/safe-read.js';
import type { ModelSpec } from './config.js';
import { LOGITS, PIXELS, PROBABILITIES } from './io-names.js';
import { specFromMetadata } from './metadata.js';
import { type Params, paramTable } from './params.js';

/** The shipped default model, relative to the package root. */
export const SHIPPED_MODEL_FILE = 'models/mixer-cifar10.onnx';

/** The shipped default model's absolute path (this file is two levels below the package root in src/ and dist/). */
export const SHIPPED_MODEL_PATH = fileURLToPath(new URL(`../../${SHIPPED_MODEL_FILE}`, import.meta.url));

/** What to add to a "cannot read model" error when the file is missing (ENOENT). */
export const MODEL_NOT_FOUND_HINT =
  ' (model file not found: set --model or MODEL_PATH; `mixer build` writes an untrained one, `mixer train` a trained one)';

/** A model file that cannot be read or is not an onnx-mixer model. */
export class ModelLoadError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MODEL_LOAD', message, options);
  }
}

export interface LoadedModel {
  path: string;
  bytes: Uint8Array;
  sha256: string;
  parsed: ParsedModel;
  spec: ModelSpec;
}

/** The system error code (ENOENT, EACCES, …) behind a read error, found along its causes. */
function errnoOf(e: unknown): string | undefined {
  for (let c = e; c instanceof Error; c = c.cause) {
    const code = (c as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
  }
  return undefined;
}

/** How a model file is read: a byte cap (and what to add to its error), and where its links may point. */
export interface ModelReadOptions {
  maxBytes?: number;
  limitHint?: string;
  policy?: LinkPolicy;
}

/**
 * A model file's bytes and sha256, read capped and non-blocking (a FIFO or a device named as the model fails at once
 * instead of hanging or filling memory); a missing file gets the "set --model" hint. Throws ModelFileError.
 */
export async function readModelFile(
  file: string,
  o: ModelReadOptions = {},
): Promise<{ bytes: Uint8Array; sha256: string }> {
  let buf: Buffer;
  try {
    buf = await readCapped(
      file,
      o.maxBytes ?? bufferConstants.MAX_LENGTH - 1,
      o.policy ?? { root: null, allowExternalLinks: true },
      o.limitHint ?? '',
    );
  } catch (e) {
    if (errnoOf(e) === 'ENOENT')
      throw new ModelFileError(`cannot read model ${file}: ENOENT${MODEL_NOT_FOUND_HINT}`, { cause: e });
    throw e;
  }
  // A view of the read buffer, not a copy: a large model is held once.
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

export async function loadModelFile(path: string): Promise<LoadedModel> {
  let read: { bytes: Uint8Array; sha256: string };
  try {
    read = await readModelFile(path);
  } catch (e) {
    const code = errnoOf(e);
    const hint = code === 'ENOENT' ? MODEL_NOT_FOUND_HINT : '';
    throw new ModelLoadError(`cannot read model ${path}: ${code ?? (e as Error).message}${hint}`, { cause: e });
  }
  return parseLoadedModel(path, read.bytes, read.sha256);
}

/** An inference model from bytes already read (readModelFile): parsed, its ModelSpec, its pixels → logits, probabilities I/O checked. */
export function parseLoadedModel(path: string, bytes: Uint8Array, sha256: string): LoadedModel {
  let parsed: ParsedModel;
  try {
    parsed = parseModel(bytes);
  } catch (e) {
    throw new ModelLoadError(`${path} is not a valid ONNX model: ${(e as Error).message}`, { cause: e });
  }
  let spec: ModelSpec;
  try {
    spec = specFromMetadata(parsed.metadata);
  } catch (e) {
    throw new ModelLoadError(`${path}: ${(e as Error).message}`, { cause: e });
  }
  const size = spec.config.image_size;
  const input = parsed.inputs.find((v) => v.name === PIXELS);
  const shapeOk =
    input &&
    input.dtype === 'uint8' &&
    input.shape.length === 4 &&
    input.shape[1] === size &&
    input.shape[2] === size &&
    input.shape[3] === 3;
  const outs = new Set(parsed.outputs.map((o) => o.name));
  if (!shapeOk || !outs.has(LOGITS) || !outs.has(PROBABILITIES)) {
    throw new ModelLoadError(
      `${path}: expected input '${PIXELS}' uint8 [N,${size},${size},3] and outputs '${LOGITS}', '${PROBABILITIES}'; found inputs [${parsed.inputs.map((v) => v.name).join(', ')}], outputs [${[...outs].join(', ')}]`,
    );
  }
  return { path, bytes, sha256, parsed, spec };
}

/** The timm-named float parameters stored as initializers in an inference model (ours, float32). */
export function paramsFromModel(m: LoadedModel): Params {
  const params: Params = new Map();
  for (const p of paramTable(m.spec.config)) {
    const t = m.parsed.initializers.get(p.name);
    if (t?.dtype !== 'float32' || t.dims.join(',') !== p.shape.join(',')) {
      throw new ModelLoadError(
        `${m.path}: no float32 parameter '${p.name}' [${p.shape.join(',')}] (quantized models cannot be re-quantized or exported)`,
      );
    }
    params.set(p.name, t.data as Float32Array);
  }
  return params;
}
