// The tensor names of the onnx-mixer model contract (documented in docs/architecture.md; clients and the service rely on them).

/** The input: uint8 [N,H,W,3] RGB pixels. */
export const PIXELS = 'pixels';
/** An output: float [N,K] class scores before the softmax. */
export const LOGITS = 'logits';
/** An output: float [N,K] softmax of the logits. */
export const PROBABILITIES = 'probabilities';
