// Public surface of the ONNX graph builder.

export * from './errors.js';
export * from './graph.js';
export * from './inspect.js';
export * from './op-types.js';
export * from './ops.js';
export * from './serialize.js';
export * from './shapes.js';
export * from './types.js';
