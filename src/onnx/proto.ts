// The ONNX protobuf definitions (from the onnx-proto package): the only module that touches protobuf.
import pkg from 'onnx-proto';

export const onnx = pkg.onnx;
export type ModelProto = InstanceType<typeof pkg.onnx.ModelProto>;
export type GraphProto = InstanceType<typeof pkg.onnx.GraphProto>;
export type NodeProto = InstanceType<typeof pkg.onnx.NodeProto>;
export type TensorProto = InstanceType<typeof pkg.onnx.TensorProto>;
export type AttributeProto = InstanceType<typeof pkg.onnx.AttributeProto>;
export type ValueInfoProto = InstanceType<typeof pkg.onnx.ValueInfoProto>;
