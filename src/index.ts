// The package entry point: the typed HTTP client, re-exported from the onnx-mixer-client workspace package (it loads
// neither onnxruntime-node nor sharp).

export type {
  ClassifyOptions,
  ClassifyResult,
  ClientOptions,
  Datatype,
  ImageInput,
  InferOptions,
  InferResult,
  ModelsResult,
  ModelVersionState,
  OutputTensor,
  Prediction,
  Tensor,
  TensorData,
} from 'onnx-mixer-client';
export { Client, MixerError } from 'onnx-mixer-client';
