// Loads the served model file: bytes, sha256, ModelSpec from its metadata, and a check of the I/O the service relies on.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { forwardMacs, type ModelSpec, paramCount, specFromMetadata } from '../model/index.js';
import { parseModel, type ParsedModel } from '../onnx/index.js';

export class ModelLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelLoadError';
  }
}

export interface ServedModel {
  name: string;
  path: string;
  bytes: Uint8Array;
  sha256: string;
  spec: ModelSpec;
  /** Side of the square input image. */
  size: number;
  /** Bytes of one input image (size × size × 3). */
  imageBytes: number;
  numClasses: number;
  parameters: number;
  macsPerImage: number;
  opset: number;
}

export async function loadServedModel(path: string, name: string): Promise<ServedModel> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const hint = code === 'ENOENT' ? ' (set --model or MODEL_PATH; `mixer build` writes an untrained one, `mixer train` a trained one)' : '';
    throw new ModelLoadError(`cannot read model ${path}: ${code ?? (e as Error).message}${hint}`);
  }
  let parsed: ParsedModel;
  let spec: ModelSpec;
  try {
    parsed = parseModel(bytes);
    spec = specFromMetadata(parsed.metadata);
  } catch (e) {
    throw new ModelLoadError(`${path} is not an onnx-mixer inference model: ${(e as Error).message}`);
  }
  const size = spec.config.image_size;
  const input = parsed.inputs.find((v) => v.name === 'pixels');
  const shapeOk = input && input.dtype === 'uint8' && input.shape.length === 4 && input.shape[1] === size && input.shape[2] === size && input.shape[3] === 3;
  const outs = new Set(parsed.outputs.map((o) => o.name));
  if (!shapeOk || !outs.has('logits') || !outs.has('probabilities')) {
    throw new ModelLoadError(
      `${path}: expected input 'pixels' uint8 [N,${size},${size},3] and outputs 'logits', 'probabilities'; found inputs [${parsed.inputs.map((v) => v.name).join(', ')}], outputs [${[...outs].join(', ')}]`,
    );
  }
  return {
    name,
    path,
    bytes,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    spec,
    size,
    imageBytes: size * size * 3,
    numClasses: spec.config.num_classes,
    parameters: paramCount(spec.config),
    macsPerImage: forwardMacs(spec.config),
    opset: parsed.opset,
  };
}
