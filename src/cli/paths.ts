// Locations inside the installed package (the shipped default model).
import { SHIPPED_MODEL_PATH } from '../model/index.js';

/** The shipped model, overridable with MODEL_PATH. */
export function defaultModelPath(): string {
  return process.env['MODEL_PATH'] || SHIPPED_MODEL_PATH;
}
