// The one model opener under the repository and the CLI: reads a model file capped, inspects its graph, derives its serving contract.
import path from 'node:path';
import { type ModelReadOptions, readModelFile } from '../model/load.js';
import { GraphError } from '../onnx/errors.js';
import { inspectModel, type ModelInterface } from '../onnx/inspect.js';
import { type ModelConfigFile, ModelFileError } from './repository/config-file.js';
import { deriveContract, type ModelContract, type ServerDefaults } from './repository/contract.js';

/** A model file read and inspected: its bytes (held once), sha256 and graph interface. */
export interface OpenedModel {
  /** The absolute path. */
  path: string;
  bytes: Uint8Array;
  sha256: string;
  io: ModelInterface;
}

/** Reads (capped, non-blocking, links under `o.policy`) and inspects a model file; throws ModelFileError. */
export async function openModelFile(file: string, o: ModelReadOptions = {}): Promise<OpenedModel> {
  const { bytes, sha256 } = await readModelFile(file, o);
  let io: ModelInterface;
  try {
    io = inspectModel(bytes);
  } catch (e) {
    if (e instanceof GraphError)
      throw new ModelFileError(`${file} is not a valid ONNX model: ${e.message}`, { cause: e });
    throw e;
  }
  return { path: path.resolve(file), bytes, sha256, io };
}

/** Where a contract's config.json and labels.txt come from (already read), and the names their errors use. */
export interface ContractSource {
  config: ModelConfigFile;
  labels: string[] | null;
  configPath: string;
  labelsPath: string;
}

/** The serving contract of an opened model; a problem is a ModelFileError naming the file. */
export function modelContract(file: string, io: ModelInterface, src: ContractSource, d: ServerDefaults): ModelContract {
  try {
    return deriveContract(io, src.config, src.labels, d, src.configPath, src.labelsPath);
  } catch (e) {
    if (e instanceof ModelFileError) throw e;
    throw new ModelFileError(`${file}: ${(e as Error).message}`, { cause: e });
  }
}
