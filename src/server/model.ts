// The served model: the inference model file plus the figures the service reports and batches by.
import { type ModelSpec, forwardMacs, loadModelFile, paramCount } from '../model/index.js';

export { ModelLoadError } from '../model/index.js';

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
  const m = await loadModelFile(path);
  const size = m.spec.config.image_size;
  return {
    name,
    path,
    bytes: m.bytes,
    sha256: m.sha256,
    spec: m.spec,
    size,
    imageBytes: size * size * 3,
    numClasses: m.spec.config.num_classes,
    parameters: paramCount(m.spec.config),
    macsPerImage: forwardMacs(m.spec.config),
    opset: m.parsed.opset,
  };
}
