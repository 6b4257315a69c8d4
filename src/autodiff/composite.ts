// Composite ops with a hand-written gradient: the forward emits plain ONNX ops, and backward() applies one VJP at the
// composite's output instead of differentiating its inner nodes (fewer, cheaper backward ops on large activations).
import type { Builder, Graph, Value } from '../onnx/index.js';

export interface CompositeVjp {
  /** The composite's differentiable inputs, in the order vjp() returns their gradients. */
  inputs: readonly Value[];
  /** Gradients of the inputs given the output's gradient (null: none). */
  vjp: (b: Builder, dy: Value) => (Value | null)[];
}

const registry = new WeakMap<Graph, Map<string, CompositeVjp>>();

/**
 * Declares that `output` is computed from `c.inputs` by a composite whose gradient is `c.vjp`. The composite's inner
 * values must not be used outside it: backward() sends no gradient through them.
 */
export function defineCompositeVjp(g: Graph, output: Value, c: CompositeVjp): void {
  const m = registry.get(g) ?? new Map<string, CompositeVjp>();
  registry.set(g, m);
  m.set(output.name, c);
}

export function compositeVjp(g: Graph, name: string): CompositeVjp | undefined {
  return registry.get(g)?.get(name);
}

/** Exact GELU's forward ops: t = x/√2, Φ(x) = 0.5 + 0.5·erf(t) and y = x·Φ(x) (t and Φ are kept for the backward). */
export function geluForward(b: Builder, x: Value): { t: Value; cdf: Value; y: Value } {
  const t = b.mul(x, b.scalar(Math.SQRT1_2, x.dtype));
  const cdf = b.add(b.mul(b.erf(t), b.scalar(0.5, x.dtype)), b.scalar(0.5, x.dtype));
  return { t, cdf, y: b.mul(x, cdf) };
}

/** Exact GELU's input gradient from geluForward's values: dy·(Φ(x) + x·φ(x)), φ(x) = exp(ln(1/√(2π)) − t²). */
export function geluBackward(b: Builder, x: Value, f: { t: Value; cdf: Value }, dy: Value): Value {
  const pdf = b.exp(b.sub(b.scalar(-0.5 * Math.log(2 * Math.PI), x.dtype), b.mul(f.t, f.t)));
  return b.mul(dy, b.add(f.cdf, b.mul(x, pdf)));
}

/**
 * Exact GELU, x·Φ(x) with Φ(x) = 0.5 + 0.5·erf(x/√2), for training graphs: 5 forward ops whose Φ is kept, and a
 * backward of 6 elementwise ops, dx = dy·(Φ(x) + x·φ(x)) with φ(x) = exp(ln(1/√(2π)) − (x/√2)²), instead of the 10
 * that differentiating the forward node by node gives.
 */
export function geluComposite(b: Builder, x: Value): Value {
  const f = geluForward(b, x);
  defineCompositeVjp(b.g, f.y, { inputs: [x], vjp: (b, dy) => [geluBackward(b, x, f, dy)] });
  return f.y;
}
