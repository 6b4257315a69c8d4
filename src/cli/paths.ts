// Locations inside the installed package (the shipped default model).
import { fileURLToPath } from 'node:url';

/** models/mixer-cifar10.onnx next to dist/, overridable with MODEL_PATH. */
export function defaultModelPath(): string {
  return process.env['MODEL_PATH'] || fileURLToPath(new URL('../../models/mixer-cifar10.onnx', import.meta.url));
}
