// A typed ONNX graph: values with dtype and (symbolic) shape, nodes, initializers, inputs and outputs.
import { GraphError } from './errors.js';
import type { OpType } from './op-types.js';
import type { DType, Shape, TypedData } from './types.js';

export interface Value {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
}

export interface ConstTensor {
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly data: TypedData;
}

export type AttrValue =
  | { readonly i: number }
  | { readonly f: number }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] }
  | { readonly s: string }
  | { readonly t: ConstTensor }
  | { readonly g: Graph };

export interface GNode {
  readonly op: OpType;
  readonly name: string;
  /** Input value names; '' marks an omitted optional input. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Readonly<Record<string, AttrValue>>;
}

export class Graph {
  readonly nodes: GNode[] = [];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly initializers = new Map<string, ConstTensor>();
  readonly values = new Map<string, Value>();
  /** Names taken in this graph and every graph nested in (or around) it: ONNX names are unique across scopes. */
  private readonly used: Set<string>;

  /** `outer`: the graph whose values this one (an If branch) may read. */
  constructor(
    readonly name: string,
    private readonly outer?: Graph,
  ) {
    this.used = outer ? outer.used : new Set<string>();
  }

  /** A branch body for a node of this graph (If): it reads this graph's values by name and declares its own outputs. */
  subgraph(base: string): Graph {
    return new Graph(this.fresh(base), this);
  }

  /** Whether `name` is a value of this graph or of one around it. */
  has(name: string): boolean {
    return this.values.has(name) || (this.outer?.has(name) ?? false);
  }

  /** A name not used yet, derived from `base`. */
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  private define(v: Value): Value {
    if (this.has(v.name)) throw new GraphError(`value '${v.name}' is defined twice`);
    this.used.add(v.name);
    this.values.set(v.name, v);
    return v;
  }

  value(name: string): Value {
    const v = this.values.get(name);
    if (v) return v;
    if (this.outer) return this.outer.value(name);
    throw new GraphError(`unknown value '${name}'`);
  }

  input(name: string, dtype: DType, shape: Shape): Value {
    const v = this.define({ name, dtype, shape });
    this.inputs.push(v);
    return v;
  }

  initializer(name: string, t: ConstTensor): Value {
    const n = t.dims.reduce((p, d) => p * d, 1);
    if (t.data.length !== n) {
      throw new GraphError(`initializer '${name}': ${t.data.length} elements for dims [${t.dims.join(',')}]`);
    }
    this.initializers.set(name, t);
    return this.define({ name, dtype: t.dtype, shape: t.dims });
  }

  /** Appends a node; `outs` give each output's dtype and shape (and optionally a fixed name). */
  node(
    op: OpType,
    inputs: readonly (Value | null)[],
    outs: readonly { dtype: DType; shape: Shape; name?: string | undefined }[],
    attrs: Record<string, AttrValue> = {},
  ): Value[] {
    for (const v of inputs)
      if (v && !this.has(v.name)) throw new GraphError(`${op}: input '${v.name}' is not in this graph`);
    const nodeName = this.fresh(op);
    const outputs = outs.map((o) =>
      this.define({ name: o.name ?? this.fresh(`${nodeName}_out`), dtype: o.dtype, shape: o.shape }),
    );
    this.nodes.push({
      op,
      name: nodeName,
      inputs: inputs.map((v) => (v ? v.name : '')),
      outputs: outputs.map((v) => v.name),
      attrs,
    });
    return outputs;
  }

  /** Marks `v` as a graph output. */
  output(v: Value): Value {
    this.outputs.push(v);
    return v;
  }
}
