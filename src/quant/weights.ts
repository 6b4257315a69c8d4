// Symmetric int8 weight quantization of timm Linear weights [out, in], per output channel or per tensor.

export interface QuantizedWeight {
  /** int8 values, laid out [in, out] (transposed) when `transposed`, else [out, in]. */
  q: Int8Array;
  /** One scale per output channel, or a single scale. */
  scale: Float32Array;
  dims: [number, number];
}

/** q = round(w / s) clamped to [-127, 127], s = max|w| / 127 over each output row (or the whole tensor). */
export function quantizeWeight(
  w: Float32Array,
  out: number,
  inp: number,
  perChannel: boolean,
  transposed: boolean,
): QuantizedWeight {
  const scale = new Float32Array(perChannel ? out : 1);
  for (let o = 0; o < out; o++) {
    let m = 0;
    for (let i = 0; i < inp; i++) m = Math.max(m, Math.abs(w[o * inp + i]!));
    const k = perChannel ? o : 0;
    scale[k] = Math.max(scale[k]!, m / 127);
  }
  for (let k = 0; k < scale.length; k++) if (scale[k] === 0) scale[k] = 1;
  const q = new Int8Array(out * inp);
  for (let o = 0; o < out; o++) {
    const s = scale[perChannel ? o : 0]!;
    for (let i = 0; i < inp; i++) {
      const v = Math.max(-127, Math.min(127, Math.round(w[o * inp + i]! / s)));
      q[transposed ? i * out + o : o * inp + i] = v;
    }
  }
  return { q, scale, dims: transposed ? [inp, out] : [out, inp] };
}

/** Affine uint8 parameters covering [lo, hi] (always including 0): scale and zero point. */
export function uint8Params(lo: number, hi: number): { scale: number; zero: number } {
  const a = Math.min(lo, 0);
  const b = Math.max(hi, 0);
  const scale = b > a ? (b - a) / 255 : 1;
  const zero = Math.max(0, Math.min(255, Math.round(-a / scale)));
  return { scale, zero };
}
