// Counters and histograms for the request path, exposed through a prom-client Registry: a series is found by its label values in a Map, not by sorting and hashing its label object on every call.
import type { Registry } from 'prom-client';

type Labels<L extends string> = Partial<Record<L, string>>;

interface ExportedValue {
  value: number;
  labels: Record<string, string | number | undefined>;
  sharedLabels?: Record<string, string | number | undefined>;
  metricName?: string;
}

/** A label value as the text format prints it: a number given by a JavaScript caller is the same series as its string. */
const text = (v: unknown): string | undefined => (typeof v === 'string' || v === undefined ? v : String(v));

/** The object prom-client's Registry reads from a metric (`get`) and resets (`reset`). */
abstract class Family<L extends string, S> {
  readonly aggregator = 'sum';
  /** The series in the order they were made, and a tree of Maps over the label values in labelNames' order. */
  protected series: { labels: Labels<L>; s: S }[] = [];
  private tree = new Map<string | undefined, unknown>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
    registry: Registry,
  ) {
    // A metric object with name, help, type, get() and reset(): what registerMetric and metrics() use.
    registry.registerMetric(this as never);
  }

  abstract readonly type: 'counter' | 'histogram';
  protected abstract fresh(): S;
  protected abstract export(labels: Labels<L>, s: S): ExportedValue[];

  /**
   * The series of these label values, made on first use (a label name outside the family throws then, as in
   * prom-client). One Map lookup per label, each on a string that keeps its hash: no key is built.
   */
  protected find(labels: Labels<L> | undefined): S {
    const names = this.labelNames;
    let node = this.tree;
    for (let i = 0; i < names.length - 1; i++) {
      const v = text(labels?.[names[i]!]);
      let next = node.get(v) as Map<string | undefined, unknown> | undefined;
      if (next === undefined) {
        next = new Map();
        node.set(v, next);
      }
      node = next;
    }
    const leaf = names.length > 0 ? text(labels?.[names[names.length - 1]!]) : undefined;
    let s = node.get(leaf) as S | undefined;
    if (s === undefined) {
      for (const n of Object.keys(labels ?? {}))
        if (!names.includes(n as L)) throw new Error(`Added label "${n}" is not included in initial labelset`);
      s = this.fresh();
      this.series.push({ labels: { ...labels }, s });
      node.set(leaf, s);
    }
    return s;
  }

  /** Every series' values for the text formats, a bucket's `le` apart from the series' labels (a family without labels always has its one series, from zero). */
  getForPromString() {
    if (this.labelNames.length === 0) this.find(undefined);
    const values: ExportedValue[] = [];
    for (const { labels, s } of this.series) values.push(...this.export(labels, s));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The same with each value's labels in one object, as prom-client's get() gives them (the registry's JSON form). */
  get() {
    const m = this.getForPromString();
    const values = m.values.map(({ sharedLabels, labels, ...v }) => ({ ...v, labels: { ...labels, ...sharedLabels } }));
    return { ...m, values };
  }

  reset(): void {
    this.series = [];
    this.tree = new Map();
  }
}

/** A counter (`inc(labels?, by = 1)`); its name ends in _total as prom-client expects of the text format. */
export class FastCounter<L extends string = never> extends Family<L, { value: number }> {
  readonly type = 'counter';

  inc(labels?: Labels<L> | number, by?: number): void {
    if (typeof labels === 'number') [by, labels] = [labels, undefined];
    const v = by ?? 1;
    if (!Number.isFinite(v)) throw new TypeError(`Value is not a valid number: ${v}`);
    if (v < 0) throw new Error('It is not possible to decrease a counter');
    this.find(labels).value += v;
  }

  protected fresh() {
    return { value: 0 };
  }

  protected export(labels: Labels<L>, s: { value: number }): ExportedValue[] {
    return [{ value: s.value, labels }];
  }
}

interface Buckets {
  /** Observations per bucket (not cumulative); the last slot counts those above every bound. */
  counts: Float64Array;
  sum: number;
  count: number;
}

/** A histogram with fixed upper bounds: `observe(labels, value)`, exported as cumulative _bucket, _sum and _count. */
export class FastHistogram<L extends string> extends Family<L, Buckets> {
  readonly type = 'histogram';

  constructor(
    name: string,
    help: string,
    labelNames: readonly L[],
    readonly bounds: readonly number[],
    registry: Registry,
  ) {
    super(name, help, labelNames, registry);
    for (let i = 1; i < bounds.length; i++)
      if (!(bounds[i]! > bounds[i - 1]!)) throw new Error('histogram bounds must ascend');
  }

  observe(labels: Labels<L>, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const s = this.find(labels);
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    s.counts[i]! += 1;
    s.sum += value;
    s.count += 1;
  }

  protected fresh(): Buckets {
    return { counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
  }

  protected export(labels: Labels<L>, s: Buckets): ExportedValue[] {
    const bucket = `${this.name}_bucket`;
    const out: ExportedValue[] = [];
    let acc = 0;
    this.bounds.forEach((le, i) => {
      acc += s.counts[i]!;
      out.push({ value: acc, labels: { le }, sharedLabels: labels, metricName: bucket });
    });
    out.push(
      { value: s.count, labels: { le: '+Inf' }, sharedLabels: labels, metricName: bucket },
      { value: s.sum, labels: {}, sharedLabels: labels, metricName: `${this.name}_sum` },
      { value: s.count, labels: {}, sharedLabels: labels, metricName: `${this.name}_count` },
    );
    return out;
  }
}
