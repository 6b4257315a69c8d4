// Build-time graph errors that name the node and the shapes involved.
import { CodedError } from '../util/errors.js';

/**
 * GRAPH_INVALID: a graph built here is inconsistent (a bug); MODEL_INVALID: bytes read from a file are not a model
 * this runtime can use (the file is at fault).
 */
export class GraphError extends CodedError {
  declare readonly code: 'GRAPH_INVALID' | 'MODEL_INVALID';

  constructor(message: string, options?: { code?: 'GRAPH_INVALID' | 'MODEL_INVALID'; cause?: unknown }) {
    super(
      options?.code ?? 'GRAPH_INVALID',
      message,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
  }

  override get userFault(): boolean {
    return this.code === 'MODEL_INVALID';
  }
}
