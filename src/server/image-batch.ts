// The one image-batch runner under the service and the CLI: preprocessed images → model runs (laid out, fixed batch padded) → class rows.
import type { ElemType } from '../onnx/types.js';
import type { HostTensor, TensorData } from '../runtime/session.js';
import type { ImageContract, ModelContract } from './repository/contract.js';

/** One model run: a worker pool's, or a Session's wrapped to the same shape. */
export type RunModel = (
  feeds: Record<string, HostTensor>,
  outputs: readonly string[],
) => Promise<{ outputs: Record<string, HostTensor>; ms: number }>;

/** Bytes → a typed view of the element type (copied first when not 8-byte aligned). */
export const typedView = (type: ElemType, b: Uint8Array): TensorData => {
  const buf = b.byteOffset % 8 === 0 ? b : b.slice();
  const { buffer, byteOffset: o, byteLength: n } = buf;
  switch (type) {
    case 'float32':
      return new Float32Array(buffer, o, n / 4);
    case 'float64':
      return new Float64Array(buffer, o, n / 8);
    case 'float16':
    case 'uint16':
      return new Uint16Array(buffer, o, n / 2);
    case 'int16':
      return new Int16Array(buffer, o, n / 2);
    case 'int8':
      return new Int8Array(buffer, o, n);
    case 'int32':
      return new Int32Array(buffer, o, n / 4);
    case 'uint32':
      return new Uint32Array(buffer, o, n / 4);
    case 'int64':
      return new BigInt64Array(buffer, o, n / 8);
    case 'uint64':
      return new BigUint64Array(buffer, o, n / 8);
    default:
      return buf;
  }
};

/**
 * The class output of `n` preprocessed images (the contract's input bytes, one after another), n × K values, and the
 * milliseconds the runs took. Runs of at most `maxRows` images (a fixed batch dim B: at most B, each zero-padded to B and
 * the padding's rows dropped).
 */
export async function runImages(
  run: RunModel,
  contract: ModelContract,
  px: Uint8Array,
  n: number,
  maxRows = n,
): Promise<{ out: Float32Array; ms: number }> {
  const c = contract.image!;
  const fb = contract.fixedBatch;
  const step = Math.max(1, fb ?? maxRows);
  const parts: Float32Array[] = [];
  let ms = 0;
  for (let start = 0; start < n; start += step) {
    const k = Math.min(step, n - start);
    const nb = fb ?? k;
    let buf = px.subarray(start * c.itemBytes, (start + k) * c.itemBytes);
    if (nb !== k || buf.byteOffset % 4 !== 0) {
      const padded = new Uint8Array(nb * c.itemBytes);
      padded.set(buf);
      buf = padded;
    }
    const dims = c.layout === 'NCHW' ? [nb, c.channels, c.height, c.width] : [nb, c.height, c.width, c.channels];
    const r = await run({ [c.input]: { dtype: c.dtype, dims, data: typedView(c.dtype, buf) } }, [c.output]);
    const out = r.outputs[c.output]!.data as Float32Array;
    parts.push(nb === k ? out : out.subarray(0, (out.length / nb) * k));
    ms += r.ms;
  }
  if (parts.length === 1) return { out: parts[0]!, ms };
  const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  return { out: all, ms };
}

/** n images' class output (n × K) → one row per image: class probabilities (softmax applied where the contract says). */
export function classRows(out: Float32Array, n: number, c: ImageContract): Float32Array[] {
  const k = out.length / n;
  return Array.from({ length: n }, (_, i) => {
    const row = out.subarray(i * k, (i + 1) * k);
    return c.softmax ? softmax(row) : row;
  });
}

export function softmax(x: Float32Array): Float32Array {
  let m = -Infinity;
  for (const v of x) m = Math.max(m, v);
  const out = new Float32Array(x.length);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += out[i] = Math.exp(x[i]! - m);
  for (let i = 0; i < x.length; i++) out[i] = out[i]! / s;
  return out;
}
