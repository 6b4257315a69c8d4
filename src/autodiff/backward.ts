// Reverse-mode autodiff over a Graph: walks nodes in reverse topological order, applies VJP rules, sums fan-out.
import { type Builder, GraphError, isFloat, type Value } from '../onnx/index.js';
import { compositeVjp } from './composite.js';
import { VJP, type Vjp } from './rules.js';

/**
 * Appends the backward graph of `loss` (a scalar) with respect to `wrt` and returns each gradient by name.
 * Branches that do not lead from a `wrt` value to the loss (e.g. pixel preprocessing) are pruned.
 */
export function backward(b: Builder, loss: Value, wrt: readonly Value[]): Map<string, Value> {
  const g = b.g;
  const nodes = [...g.nodes];
  // Values that depend on some wrt value (forward sweep; nodes are in topological order).
  const fromWrt = new Set(wrt.map((v) => v.name));
  for (const n of nodes) if (n.inputs.some((i) => fromWrt.has(i))) for (const o of n.outputs) fromWrt.add(o);
  // Values the loss depends on (backward sweep).
  const toLoss = new Set([loss.name]);
  for (let k = nodes.length - 1; k >= 0; k--) {
    const n = nodes[k]!;
    if (n.outputs.some((o) => toLoss.has(o))) for (const i of n.inputs) if (i) toLoss.add(i);
  }
  const active = (name: string) => fromWrt.has(name) && toLoss.has(name) && isFloat(g.value(name).dtype);

  const pending = new Map<string, Value[]>([[loss.name, [b.scalar(1, loss.dtype)]]]);
  const total = (name: string): Value | null => {
    const parts = pending.get(name);
    if (!parts || parts.length === 0) return null;
    const s = b.sum(parts);
    pending.set(name, [s]);
    return s;
  };

  for (let k = nodes.length - 1; k >= 0; k--) {
    const n = nodes[k]!;
    const dy = n.outputs.map((o) => (active(o) ? total(o) : null));
    if (dy.every((d) => d === null)) continue;
    // A composite's own gradient goes straight to its inputs; its inner nodes then receive none and are skipped.
    const composite = n.outputs.length === 1 ? compositeVjp(g, n.outputs[0]!) : undefined;
    if (composite) {
      const dx = composite.vjp(b, dy[0]!);
      composite.inputs.forEach((v, i) => {
        const d = dx[i];
        if (!d || !active(v.name)) return;
        const list = pending.get(v.name) ?? [];
        list.push(d);
        pending.set(v.name, list);
      });
      continue;
    }
    const need = n.inputs.map((i) => i !== '' && active(i));
    if (!need.some(Boolean)) continue;
    const rule = (VJP as Record<string, Vjp | undefined>)[n.op];
    if (!rule) throw new GraphError(`no gradient rule for op ${n.op} (node ${n.name})`);
    const x = n.inputs.map((i) => (i === '' ? null : g.value(i)));
    const y = n.outputs.map((o) => g.value(o));
    // Rules may assume a zero-free gradient on the first output; other outputs only feed the backward pass.
    if (dy[0] === null) throw new GraphError(`${n.op} (node ${n.name}): gradient reaches only a secondary output`);
    const dx = rule({ b, node: n, x, y, dy, need });
    n.inputs.forEach((name, i) => {
      const d = dx[i];
      if (!need[i] || !d) return;
      const list = pending.get(name) ?? [];
      list.push(d);
      pending.set(name, list);
    });
  }

  const out = new Map<string, Value>();
  for (const w of wrt) {
    const d = total(w.name);
    if (!d) throw new GraphError(`parameter '${w.name}' does not affect the loss`);
    out.set(w.name, d);
  }
  return out;
}
