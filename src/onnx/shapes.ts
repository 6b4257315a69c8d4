// Static shape inference helpers: numpy broadcasting, reshape with a symbolic batch, reductions.
import { GraphError } from './errors.js';
import { type Dim, type Shape, shapeStr, symbolic, symTimes } from './types.js';

export function broadcast(where: string, a: Shape, b: Shape): Dim[] {
  const r = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else throw new GraphError(`${where}: shapes ${shapeStr(a)} and ${shapeStr(b)} do not broadcast`);
  }
  return out;
}

/** Axes of `full` that were broadcast from `small` (right-aligned), i.e. the axes to sum a gradient over. */
export function broadcastAxes(full: Shape, small: Shape): number[] {
  const axes: number[] = [];
  const off = full.length - small.length;
  for (let i = 0; i < full.length; i++) {
    const s = i < off ? undefined : small[i - off];
    if (s === undefined || (s === 1 && full[i] !== 1)) axes.push(i);
  }
  return axes;
}

/** Splits a shape into (symbol, product of symbolic multiples and static dims). */
function factor(s: Shape): { sym: string | null; k: number; nsym: number } {
  let k = 1;
  let sym: string | null = null;
  let nsym = 0;
  for (const d of s) {
    const p = symbolic(d);
    if (p === null) k *= d as number;
    else {
      nsym++;
      if (sym !== null && sym !== p.sym) throw new GraphError(`shape ${shapeStr(s)} mixes symbols ${sym} and ${p.sym}`);
      sym = p.sym;
      k *= p.k;
    }
  }
  return { sym, k, nsym };
}

/**
 * Resolves a Reshape target. Target entries are numbers, -1 (inferred) or symbolic dims.
 * Returns the output shape and the int64 shape to feed the op (symbolic dims become -1).
 */
export function reshapeTarget(where: string, input: Shape, target: readonly Dim[]): { shape: Dim[]; spec: number[] } {
  const fin = factor(input);
  const minus = target.filter((d) => d === -1).length;
  const syms = target.filter((d) => typeof d === 'string');
  if (minus + syms.length > 1)
    throw new GraphError(`${where}: at most one inferred or symbolic dim in ${shapeStr(target)}`);
  if (fin.nsym > 1) throw new GraphError(`${where}: input ${shapeStr(input)} has more than one symbolic dim`);
  const known = target.reduce<number>((p, d) => (typeof d === 'number' && d !== -1 ? p * d : p), 1);
  const shape: Dim[] = [];
  const spec: number[] = [];
  for (const d of target) {
    if (d === -1 || typeof d === 'string') {
      let dim: Dim;
      if (fin.sym === null) {
        if (fin.k % known !== 0)
          throw new GraphError(`${where}: cannot reshape ${shapeStr(input)} to ${shapeStr(target)}`);
        dim = fin.k / known;
      } else {
        if (fin.k % known !== 0)
          throw new GraphError(`${where}: cannot reshape ${shapeStr(input)} to ${shapeStr(target)}`);
        dim = symTimes(fin.sym, fin.k / known);
      }
      if (typeof d === 'string' && d !== dim)
        throw new GraphError(
          `${where}: reshape ${shapeStr(input)} to ${shapeStr(target)} gives ${String(dim)}, not ${d}`,
        );
      shape.push(dim);
      spec.push(-1);
    } else {
      shape.push(d);
      spec.push(d);
    }
  }
  if (minus + syms.length === 0) {
    if (fin.sym !== null || fin.k !== known)
      throw new GraphError(`${where}: cannot reshape ${shapeStr(input)} to ${shapeStr(target)}`);
  }
  return { shape, spec };
}

export function normAxis(where: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new GraphError(`${where}: axis ${axis} out of range for rank ${rank}`);
  return a;
}

export function reduceShape(where: string, s: Shape, axes: readonly number[], keepdims: boolean): Dim[] {
  const ax = new Set(axes.map((a) => normAxis(where, a, s.length)));
  if (axes.length === 0) for (let i = 0; i < s.length; i++) ax.add(i);
  const out: Dim[] = [];
  s.forEach((d, i) => {
    if (!ax.has(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}
