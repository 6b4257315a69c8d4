// The package entry point: the typed HTTP client (it loads neither onnxruntime-node nor sharp).

export type {
  ClassifyOptions,
  ClassifyResult,
  ClientOptions,
  ImageInput,
  InferOptions,
  InferResult,
  ModelsResult,
  ModelVersionState,
  Prediction,
} from './client/client.js';
export { Client, MixerError } from './client/client.js';
export type { Datatype, OutputTensor, Tensor, TensorData } from './client/tensors.js';
