// Reads an inference model file: bytes, sha256, parsed I/O and its ModelSpec, with one-line errors for bad paths or files.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type ParsedModel, parseModel } from '../onnx/index.js';
import { UserError } from '../util/errors.js';
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

export async function loadModelFile(path: string): Promise<LoadedModel> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const hint = code === 'ENOENT' ? MODEL_NOT_FOUND_HINT : '';
    throw new ModelLoadError(`cannot read model ${path}: ${code ?? (e as Error).message}${hint}`, { cause: e });
  }
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
  return { path, bytes, sha256: createHash('sha256').update(bytes).digest('hex'), parsed, spec };
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
