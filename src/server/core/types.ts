// The protocol-neutral inference request and response every adapter (REST v2, gRPC) translates its wire format to and from.
import type { OutputValues } from '../batcher.js';

/**
 * One input tensor as the client sent it. The core checks every field against the graph (an adapter may pass a
 * client's values through unchecked): `data` is a list of values (JSON data, gRPC typed contents; flat or nested,
 * row-major) or the raw little-endian bytes (binary data, raw contents; BYTES as 4-byte-length-prefixed strings).
 */
export interface InputTensor {
  name: string;
  datatype: string;
  shape: readonly number[];
  data: readonly unknown[] | Uint8Array | undefined;
}

/** An output the client asks for: `classification` > 0 asks for the top k "score:index:label" strings per row. */
export interface OutputRequest {
  name: string;
  /** Top k per row (0: the tensor itself); checked by the core. */
  classification?: unknown;
  /** The wire sends it as raw bytes (it sizes the response bound); default: the request's `binaryOutputs`. */
  binary?: boolean;
}

export interface InferRequest {
  id?: string;
  inputs: readonly InputTensor[];
  /** null or empty: every output of the model. */
  outputs: readonly OutputRequest[] | null;
  /** Outputs that do not say are sent as raw bytes (REST binary_data_output; always so over gRPC). */
  binaryOutputs: boolean;
}

/** One output of the answer: a typed array, or strings for BYTES (classification answers are BYTES). */
export interface OutputTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: OutputValues;
  /** Sent as raw bytes, as the request asked. */
  binary: boolean;
}

export interface InferResponse {
  model_name: string;
  model_version: string;
  id?: string;
  outputs: OutputTensor[];
}

/** How an adapter puts an answer on its wire: the core measures it against MAX_RESPONSE_BYTES before it is sent. */
export interface ResponseWire<T> {
  encode(r: InferResponse): T;
  /** Bytes of the encoded answer before any compression. */
  bytes(encoded: T): number;
}
