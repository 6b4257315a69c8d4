// The package entry point of onnx-mixer-client: the typed HTTP client, its tensors and its errors (no dependencies).

export type {
  ClassifyOptions,
  ClassifyResult,
  ClientOptions,
  FeedbackCounts,
  FeedbackInput,
  FeedbackResult,
  ImageInput,
  InferOptions,
  InferResult,
  ModelsResult,
  ModelVersionState,
  Prediction,
} from './client.js';
export { Client, MixerError } from './client.js';
export { CodedError } from './errors.js';
export type { Datatype, OutputTensor, Tensor, TensorData } from './tensors.js';
export { DATATYPE_BYTES } from './tensors.js';
