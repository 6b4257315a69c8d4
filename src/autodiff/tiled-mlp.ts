// A Linear → exact GELU → Linear MLP run on row tiles, with a hand-written gradient: each tile's [rows, hidden]
// activations stay in cache from the first GEMM through GELU to the second (forward), and from the second GEMM's
// input gradient through GELU's backward to the first's (backward). Every value equals the untiled MLP's bit for bit.
import type { Builder, Dim, Value } from '../onnx/index.js';
import { defineCompositeVjp, geluBackward, geluForward } from './composite.js';
import { unbroadcast } from './rules.js';

export interface MlpWeights {
  /** [hidden, in], timm's Linear layout (the GEMM uses it transposed). */
  w1: Value;
  b1: Value;
  /** [out, hidden]. */
  w2: Value;
  b2: Value;
}

/** Splits x [k·rows, d] (rows symbolic or not) into k tiles [rows, d]: one Split, the reshapes are views. */
function tilesOf(b: Builder, x: Value, k: number, rows: string | number): Value[] {
  const d = x.shape[1]!;
  return b.split(b.reshape(x, [k, rows, d]), 0, new Array<number>(k).fill(1)).map((part) => b.reshape(part, [rows, d]));
}

/** Concatenates k tiles [rows, d] back into [total, d] (`total` as the graph spells k·rows). */
function untile(b: Builder, parts: readonly Value[], total: Dim): Value {
  const [rows, d] = parts[0]!.shape;
  return b.reshape(
    b.concat(
      parts.map((p) => b.reshape(p, [1, rows!, d!])),
      0,
    ),
    [total, d!],
  );
}

/**
 * y = GELU(x·w1ᵀ + b1)·w2ᵀ + b2 for x [R, in] with R = k·rows (`rows` as the graph spells it, e.g. `N*8`), computed
 * on k row tiles. The gradient is declared as a composite (see backward()): per tile, the second GEMM's input
 * gradient, GELU's backward and the first GEMM's input gradient; the weight gradients are single GEMMs over the
 * concatenated tiles, so that every sum runs in the same order as without tiles.
 *
 * The per-element arithmetic is that of geluComposite (the same geluForward / geluBackward) and of the Gemm rule: a GEMM's rows are independent (MLAS
 * blocks over k, never across rows) and Split / Concat copy, so the values are those of the untiled graph.
 */
export function tiledGeluMlp(
  b: Builder,
  x: Value,
  w: MlpWeights,
  k: number,
  rows: string | number,
  needs: (v: Value) => boolean = () => true,
): Value {
  const total = x.shape[0]!;
  const xs = tilesOf(b, x, k, rows);
  const saved = xs.map((xi) => {
    const a = b.gemm(xi, w.w1, w.b1, { transB: true });
    const gelu = geluForward(b, a);
    return { a, gelu, h: gelu.y, o: b.gemm(gelu.y, w.w2, w.b2, { transB: true }) };
  });
  const y = untile(
    b,
    saved.map((s) => s.o),
    total,
  );
  defineCompositeVjp(b.g, y, {
    inputs: [x, w.w1, w.b1, w.w2, w.b2],
    vjp: (b, dy) => {
      const dys = tilesOf(b, dy, k, rows);
      const da = saved.map((s, i) => geluBackward(b, s.a, s.gelu, b.gemm(dys[i]!, w.w2, null)));
      const dx = needs(x)
        ? untile(
            b,
            da.map((d) => b.gemm(d, w.w1, null)),
            total,
          )
        : null;
      const daAll = needs(w.w1) || needs(w.b1) ? untile(b, da, total) : null;
      const hAll = needs(w.w2)
        ? untile(
            b,
            saved.map((s) => s.h),
            total,
          )
        : null;
      return [
        dx,
        daAll && needs(w.w1) ? b.gemm(daAll, x, null, { transA: true }) : null,
        daAll && needs(w.b1) ? unbroadcast(b, daAll, w.b1) : null,
        hAll ? b.gemm(dy, hAll, null, { transA: true }) : null,
        needs(w.b2) ? unbroadcast(b, dy, w.b2) : null,
      ];
    },
  });
  return y;
}
