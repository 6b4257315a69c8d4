// One v2 tensor inference, shared by HTTP and gRPC: whole-request admission, the response size cap (uncompressed) and ORT input errors as BAD_TENSOR.
import type { AppContext } from './context.js';
import { ServiceError } from './errors.js';
import type { ModelInstance } from './repository/instance.js';
import { encodeTensorResponse, parseTensorRequest, responseBytesBound, rowsAsked } from './repository/tensors.js';

export interface TensorInferResult {
  enc: ReturnType<typeof encodeTensorResponse>;
  /** performance.now() after the inputs were converted, and after the model ran. */
  t1: number;
  t2: number;
}

/**
 * Parses a v2 request (JSON head and binary tail), admits its rows whole (503 OVERLOADED when full), runs it on the
 * model's batcher and encodes the answer. The answer's size, before any compression, may not pass MAX_RESPONSE_BYTES:
 * checked from the graph's output shapes before inference, and on the encoded answer after it. `owner` (an HTTP
 * request handed a slot after parking) lets the admission take over the slot it holds.
 */
export async function tensorInfer(
  ctx: AppContext,
  m: ModelInstance,
  json: unknown,
  tail: Buffer | null,
  owner?: object,
): Promise<TensorInferResult> {
  const io = m.contract.io;
  const cap = ctx.config.maxResponseBytes;
  const tooLarge = (bytes: number, when: string) =>
    new ServiceError(
      'RESPONSE_TOO_LARGE',
      `the requested outputs ${when} ${bytes} bytes, more than the ${cap} allowed (see MAX_RESPONSE_BYTES); ask for fewer rows or outputs, or binary outputs`,
    );
  // The whole request (its rows) is admitted, or refused with 503, before its tensors are converted; released when answered.
  const release = ctx.admission.admit(rowsAsked(json, m.batchable), owner);
  let call;
  let out;
  let t1: number;
  try {
    call = parseTensorRequest(json, tail, io.inputs, io.outputs, m.batchable, ctx.config.maxQueue);
    t1 = performance.now();
    // Checked before inference from the graph's output shapes; outputs with other dynamic dims are checked after it.
    const bound = responseBytesBound(call, io.outputs, m.labels, m.name);
    if (bound !== null && bound > cap) throw tooLarge(bound, 'could take up to');
    out = await m.infer(call.payload, call.rows, call.layout).catch((e: unknown) => {
      // The graph's own shape and value checks (symbolic dims that disagree, out-of-range indices) are the caller's input.
      if ((e as { code?: string }).code === 'RUN_FAILED')
        throw new ServiceError(
          'BAD_TENSOR',
          `onnxruntime rejected the inputs: ${(e as Error).message
            .replace(/^inference failed: /, '')
            .split('\n')[0]!
            .slice(0, 300)}`,
        );
      throw e;
    });
  } finally {
    release();
  }
  const t2 = performance.now();
  const enc = encodeTensorResponse(call, out, io.outputs, m.labels, m);
  const size = Buffer.byteLength(JSON.stringify(enc.json), 'utf8') + enc.binary.reduce((a, b) => a + b.length, 0);
  if (size > cap) throw tooLarge(size, 'take');
  return { enc, t1, t2 };
}
