// Reads an inference model file: bytes, sha256, parsed I/O and its ModelSpec, with one-line errors for bad paths or files.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type ParsedModel, parseModel } from '../onnx/index.js';
import type { ModelSpec } from './config.js';
import { specFromMetadata } from './metadata.js';

export class ModelLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelLoadError';
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
    throw new ModelLoadError(code === 'ENOENT' ? `model file not found: ${path}` : `cannot read model ${path}: ${code ?? (e as Error).message}`);
  }
  let parsed: ParsedModel;
  try {
    parsed = parseModel(bytes);
  } catch (e) {
    throw new ModelLoadError(`${path} is not a valid ONNX model: ${(e as Error).message}`);
  }
  let spec: ModelSpec;
  try {
    spec = specFromMetadata(parsed.metadata);
  } catch (e) {
    throw new ModelLoadError(`${path}: ${(e as Error).message}`);
  }
  const names = parsed.inputs.map((v) => v.name);
  if (!names.includes('pixels') || !parsed.outputs.some((o) => o.name === 'logits')) {
    throw new ModelLoadError(`${path}: expected input 'pixels' and output 'logits', found inputs [${names.join(', ')}]`);
  }
  return { path, bytes, sha256: createHash('sha256').update(bytes).digest('hex'), parsed, spec };
}
