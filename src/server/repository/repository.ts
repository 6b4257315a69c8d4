// The served models: per-version instances loaded from a repository (or one file), request routing with leases, index, poll and explicit control with drained swaps.
import type { Logger } from 'pino';
import { clip, echo, ServiceError } from '../errors.js';
import { pickVersion, type Route, sharesOf, type TrafficWeights, trafficProblem } from '../traffic/split.js';
import { ModelFileError } from './config-file.js';
import { type InstanceOptions, ModelInstance } from './instance.js';
import { checkModelName, checkVersion } from './names.js';
import { type ScannedModel, type ScanOptions, scanModel, scanRepository } from './scan.js';

export const MODEL_CONTROLS = ['none', 'poll', 'explicit'] as const;
export type ModelControl = (typeof MODEL_CONTROLS)[number];
export const READINESS = ['all', 'any'] as const;
export type Readiness = (typeof READINESS)[number];
export type VersionState = 'READY' | 'UNAVAILABLE' | 'LOADING' | 'UNLOADING';

interface Slot {
  version: number;
  state: VersionState;
  reason: string;
  instance: ModelInstance | null;
  fingerprint: string;
}

interface Entry {
  name: string;
  error: string | null;
  slots: Map<number, Slot>;
  /** Weights for requests that name no version (null: the latest READY version); replaced whole, never mutated. */
  traffic: TrafficWeights | null;
  /** config.json's "traffic" as last read (JSON): the weights follow the file when it changes, the API in between. */
  fileTraffic: string;
}

/** GET/POST /v2/repository/models/{name}/traffic: the weights set, and the share each READY version gets now. */
export interface TrafficView {
  name: string;
  traffic: TrafficWeights | null;
  shares: Record<string, number>;
}

export interface RepositoryOptions extends InstanceOptions {
  /** A Triton-layout folder, or null for single-model mode. */
  root: string | null;
  /** Single-model mode: the file and its name (version 1). */
  single: { file: string; name: string } | null;
  defaultModel: string | null;
  control: ModelControl;
  /** Explicit control: the models loaded at start (Triton's --load-model; `*` = all); null or absent: all. */
  loadModels?: readonly string[] | null;
  pollIntervalMs: number;
  /** Let links in the repository point outside it (--allow-external-links on). */
  allowExternalLinks: boolean;
  log: Logger;
  /** Called after a version becomes ready or goes away. */
  onChange?: () => void;
  /** Called when an instance stops taking requests (replaced or unloaded), before it drains. */
  onRetire?: (inst: ModelInstance) => void;
}

export interface IndexRow {
  name: string;
  version: string;
  state: VersionState;
  reason: string;
}

/** Timings of the last swaps (ms): load+warm of the new instance, the switch, and the drain of the old one. */
export interface SwapTiming {
  /** load: a new version; replace: a changed file swapped in; unload: a removed version drained. */
  kind: 'load' | 'replace' | 'unload';
  name: string;
  version: number;
  loadMs: number;
  warmupMs: number;
  switchMs: number;
  drainMs: number | null;
}

/** The one MODEL_NOT_FOUND for a name no model has (the client's name bounded), listing the models there are. */
export function modelNotFound(name: string, names: readonly string[]): ServiceError {
  return new ServiceError('MODEL_NOT_FOUND', `no model ${echo(name)}; the models are: ${names.join(', ') || 'none'}`);
}

export class Repository {
  private readonly entries = new Map<string, Entry>();
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private readonly retiring = new Set<Promise<void>>();
  readonly swaps: SwapTiming[] = [];
  private closed = false;
  /** Skipped folders already logged (a poll rescan logs each once). */
  private readonly skipped = new Set<string>();
  private readonly scan: ScanOptions;
  private readonly io: InstanceOptions;

  private constructor(readonly opts: RepositoryOptions) {
    this.scan = {
      allowExternalLinks: opts.allowExternalLinks,
      skip: (folder, reason) => {
        if (this.skipped.has(folder)) return;
        this.skipped.add(folder);
        opts.log.warn({ folder, reason }, 'repository folder skipped');
      },
    };
    this.io = { ...opts, memoryInUse: () => this.memoryInUse() };
  }

  /** Estimated memory of every loaded version (a new one must fit next to it). */
  private memoryInUse(): number {
    let n = 0;
    for (const e of this.entries.values()) for (const s of e.slots.values()) n += s.instance?.memoryBytes ?? 0;
    return n;
  }

  /** Loads every model (single mode: fails on a bad model; repository mode: a bad model is unavailable, the rest serve). */
  static async open(opts: RepositoryOptions): Promise<Repository> {
    const repo = new Repository(opts);
    if (opts.single) {
      const inst = await ModelInstance.load(
        {
          name: opts.single.name,
          version: 1,
          file: opts.single.file,
          config: {},
          labels: null,
          configPath: `${opts.single.file} (config)`,
          labelsPath: `${opts.single.file} (labels)`,
        },
        repo.io,
      );
      repo.entries.set(opts.single.name, {
        name: opts.single.name,
        error: null,
        slots: new Map([[1, { version: 1, state: 'READY', reason: '', instance: inst, fingerprint: '' }]]),
        traffic: null,
        fileTraffic: 'null',
      });
      opts.log.info(
        {
          model: inst.name,
          version: 1,
          sha256: inst.sha256,
          provider: inst.provider,
          loadMs: Math.round(inst.timings.loadMs),
          warmupMs: Math.round(inst.timings.warmupMs),
        },
        'model ready',
      );
      repo.warn(inst);
      return repo;
    }
    try {
      const scanned = await scanRepository(opts.root!, repo.scan);
      if (opts.defaultModel !== null && !scanned.some((m) => m.name === opts.defaultModel)) {
        throw new ModelFileError(
          `--default-model "${opts.defaultModel}" is not in the repository ${opts.root} (models: ${scanned.map((m) => m.name).join(', ') || 'none'})`,
        );
      }
      const chosen = repo.chosenAtStart(scanned.map((m) => m.name));
      for (const m of scanned) {
        if (chosen.has(m.name)) await repo.sync(m);
        // Listed as unloaded (index, MODEL_UNAVAILABLE) until POST /v2/repository/models/{name}/load.
        else
          repo.entries.set(m.name, { name: m.name, error: null, slots: new Map(), traffic: null, fileTraffic: 'null' });
      }
    } catch (e) {
      await repo.close();
      throw e;
    }
    if (opts.control === 'poll') {
      repo.timer = setInterval(() => void repo.poll(), opts.pollIntervalMs);
      repo.timer.unref();
    }
    return repo;
  }

  /** The models to load at start: all, or in explicit control those --load-model names (each must be in the repository). */
  private chosenAtStart(names: string[]): Set<string> {
    const want = this.opts.loadModels;
    if (this.opts.control !== 'explicit' || !want || want.includes('*')) return new Set(names);
    const missing = want.filter((n) => !names.includes(n));
    if (missing.length > 0)
      throw new ModelFileError(
        `--load-model ${missing.map((n) => `"${clip(n, 128)}"`).join(', ')}: not in the repository ${this.opts.root} (models: ${names.join(', ') || 'none'})`,
      );
    return new Set(want);
  }

  /** Runs repository changes one at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => {});
    return p;
  }

  /** Brings one model in line with its folder: loads new or changed versions, then retires removed or replaced ones. */
  private async sync(m: ScannedModel): Promise<void> {
    let e = this.entries.get(m.name);
    if (!e) {
      e = { name: m.name, error: null, slots: new Map(), traffic: null, fileTraffic: 'null' };
      this.entries.set(m.name, e);
    }
    if (m.error && [...e.slots.values()].some((x) => x.instance)) {
      this.opts.log.error({ model: m.name, reason: m.error }, 'model folder broken; the loaded versions keep serving');
      return;
    }
    e.error = m.error;
    const fileTraffic = JSON.stringify(m.config.traffic ?? null);
    if (fileTraffic !== e.fileTraffic) {
      e.fileTraffic = fileTraffic;
      e.traffic = m.config.traffic ?? null;
      this.opts.log.info({ model: m.name, traffic: e.traffic }, 'traffic weights set from config.json');
    }
    if (m.error) this.opts.log.error({ model: m.name, reason: m.error }, 'model unavailable');
    const wanted = m.error ? [] : m.versions;
    for (const v of wanted) {
      const slot = e.slots.get(v.version);
      if (
        slot &&
        slot.fingerprint === v.fingerprint &&
        slot.state !== 'UNLOADING' &&
        !(slot.state === 'UNAVAILABLE' && slot.reason === 'unloaded')
      )
        continue;
      if (v.error || !v.file) {
        if (slot?.instance) this.retire(e, slot.instance);
        e.slots.set(v.version, {
          version: v.version,
          state: 'UNAVAILABLE',
          reason: v.error ?? 'no model file',
          instance: null,
          fingerprint: v.fingerprint,
        });
        this.opts.log.error({ model: m.name, version: v.version, reason: v.error }, 'model version unavailable');
        continue;
      }
      const s: Slot = slot ?? {
        version: v.version,
        state: 'LOADING',
        reason: 'loading',
        instance: null,
        fingerprint: '',
      };
      if (!slot) e.slots.set(v.version, s);
      if (!s.instance) {
        s.state = 'LOADING';
        s.reason = 'loading';
      }
      try {
        const inst = await ModelInstance.load(
          {
            name: m.name,
            version: v.version,
            file: v.file,
            config: m.config,
            labels: m.labels,
            configPath: m.configPath,
            labelsPath: m.labelsPath,
          },
          this.io,
        );
        if (this.closed) {
          await inst.close();
          return;
        }
        const t0 = performance.now();
        const old = s.instance;
        s.instance = inst;
        s.state = 'READY';
        s.reason = '';
        s.fingerprint = v.fingerprint;
        const timing: SwapTiming = {
          kind: old ? 'replace' : 'load',
          name: m.name,
          version: v.version,
          loadMs: inst.timings.loadMs,
          warmupMs: inst.timings.warmupMs,
          switchMs: performance.now() - t0,
          drainMs: null,
        };
        this.record(timing);
        this.opts.log.info(
          {
            model: m.name,
            version: v.version,
            sha256: inst.sha256,
            provider: inst.provider,
            kind: timing.kind,
            loadMs: Math.round(inst.timings.loadMs),
            warmupMs: Math.round(inst.timings.warmupMs),
            switchMs: timing.switchMs,
          },
          'model ready',
        );
        this.warn(inst);
        if (old) this.retire(e, old, timing);
      } catch (err) {
        if ((err as { code?: string }).code === 'CUDA_UNAVAILABLE') throw err;
        const reason = (err as Error).message.split('\n')[0]!;
        s.fingerprint = v.fingerprint;
        if (s.instance) {
          this.opts.log.error(
            { model: m.name, version: v.version, reason },
            'reload failed; the loaded version keeps serving',
          );
        } else {
          s.state = 'UNAVAILABLE';
          s.reason = reason;
          this.opts.log.error({ model: m.name, version: v.version, reason }, 'model version unavailable');
        }
      }
    }
    for (const [v, slot] of e.slots) {
      if (wanted.some((w) => w.version === v)) continue;
      if (slot.instance) {
        slot.state = 'UNLOADING';
        slot.reason = 'unloading';
        const inst = slot.instance;
        slot.instance = null;
        const timing: SwapTiming = {
          kind: 'unload',
          name: e.name,
          version: v,
          loadMs: 0,
          warmupMs: 0,
          switchMs: 0,
          drainMs: null,
        };
        this.record(timing);
        await this.retire(e, inst, timing);
      }
      if (e.slots.get(v) === slot) e.slots.delete(v);
    }
    if (e.slots.size === 0 && !e.error && !this.opts.single && m.versions.length === 0) this.entries.delete(m.name);
    this.opts.onChange?.();
  }

  /** Logs the assumptions made for a loaded version (one line each). */
  private warn(inst: ModelInstance): void {
    for (const w of inst.contract.warnings) this.opts.log.warn({ model: inst.name, version: inst.version }, w);
  }

  private record(timing: SwapTiming): void {
    this.swaps.push(timing);
    if (this.swaps.length > 50) this.swaps.shift();
  }

  /** Drains an instance no longer routed to (its leases, queue and runs), then closes it. */
  private retire(e: Entry, inst: ModelInstance, timing?: SwapTiming): Promise<void> {
    this.opts.onRetire?.(inst);
    const t0 = performance.now();
    const p = inst.close().then(
      () => {
        if (timing) timing.drainMs = performance.now() - t0;
        this.opts.log.info(
          {
            model: e.name,
            version: inst.version,
            kind: timing?.kind ?? 'unload',
            drainMs: Math.round(performance.now() - t0),
          },
          'model version unloaded',
        );
      },
      (err: unknown) =>
        this.opts.log.error({ err, model: e.name, version: inst.version }, 'closing a model version failed'),
    );
    this.retiring.add(p);
    void p.finally(() => this.retiring.delete(p));
    return p;
  }

  /** Rescans the whole repository (poll mode). */
  poll(): Promise<void> {
    if (!this.opts.root || this.closed) return Promise.resolve();
    return this.serial(async () => {
      let scanned: ScannedModel[];
      try {
        scanned = await scanRepository(this.opts.root!, this.scan);
      } catch (err) {
        this.opts.log.error({ err: (err as Error).message }, 'repository poll failed');
        return;
      }
      for (const m of scanned) await this.sync(m);
      for (const name of [...this.entries.keys()]) {
        if (!scanned.some((m) => m.name === name))
          await this.sync({
            name,
            dir: '',
            configPath: '',
            labelsPath: '',
            config: {},
            labels: null,
            versions: [],
            error: null,
          });
      }
    });
  }

  /** Explicit control: (re)loads a model from its folder. Throws MODEL_LOAD_FAILED with the reason when nothing of it is ready. */
  load(name: string): Promise<void> {
    this.explicitOnly();
    checkModelName(name);
    return this.serial(async () => {
      const m = await scanModel(this.opts.root!, name, this.scan);
      if (m.error?.includes('cannot read it'))
        throw new ServiceError('MODEL_NOT_FOUND', `no model ${echo(name)} in the repository`);
      await this.sync(m);
      const e = this.entries.get(name);
      const ready = e ? [...e.slots.values()].some((s) => s.state === 'READY') : false;
      if (!ready) throw new ServiceError('MODEL_LOAD_FAILED', `failed to load "${name}": ${this.reason(e)}`);
    });
  }

  /**
   * Rescans one model's folder now (poll or explicit control): a version written there loads, one removed drains and
   * goes. Resolves once the model matches its folder.
   */
  refresh(name: string): Promise<void> {
    if (!this.opts.root || this.opts.control === 'none')
      throw new ServiceError(
        'MODEL_CONTROL_DISABLED',
        'the repository is fixed at start; start the server with --model-repository DIR --model-control poll or explicit',
      );
    checkModelName(name);
    return this.serial(async () => {
      await this.sync(await scanModel(this.opts.root!, name, this.scan));
    });
  }

  /** Explicit control: unloads every version of a model, after its in-flight requests finish. */
  unload(name: string): Promise<void> {
    this.explicitOnly();
    checkModelName(name);
    const e = this.entries.get(name);
    if (!e) throw new ServiceError('MODEL_NOT_FOUND', `no model ${echo(name)} in the repository`);
    return this.serial(async () => {
      const drains: Promise<void>[] = [];
      for (const slot of e.slots.values()) {
        if (!slot.instance) {
          slot.state = 'UNAVAILABLE';
          slot.reason = 'unloaded';
          continue;
        }
        slot.state = 'UNLOADING';
        slot.reason = 'unloading';
        const inst = slot.instance;
        slot.instance = null;
        drains.push(
          this.retire(e, inst).then(() => {
            slot.state = 'UNAVAILABLE';
            slot.reason = 'unloaded';
          }),
        );
      }
      await Promise.all(drains);
      this.opts.onChange?.();
    });
  }

  private explicitOnly(): void {
    if (this.opts.control !== 'explicit' || !this.opts.root) {
      throw new ServiceError(
        'MODEL_CONTROL_DISABLED',
        'explicit model control is off; start the server with --model-repository DIR --model-control explicit',
      );
    }
  }

  private reason(e: Entry | undefined): string {
    if (!e) return 'not loaded';
    if (e.error) return e.error;
    const bad = [...e.slots.values()].filter((s) => s.state !== 'READY');
    return (
      bad.map((s) => `version ${s.version}: ${s.state === 'LOADING' ? 'loading' : s.reason}`).join('; ') ||
      'no version loaded'
    );
  }

  get names(): string[] {
    return [...this.entries.keys()];
  }

  /** The model unversioned requests without a model name go to. */
  get defaultName(): string | null {
    if (this.opts.defaultModel !== null) return this.opts.defaultModel;
    return this.entries.size === 1 ? [...this.entries.keys()][0]! : null;
  }

  /**
   * The instance serving (name, version), leased: the caller must release() it. Throws the catalogued errors. Without
   * a version, an inference (`route` given) follows the model's traffic weights; anything else gets the latest READY.
   */
  acquire(name: string | undefined, version?: string, route?: Route): ModelInstance {
    const n = name ?? this.defaultName;
    if (n === null)
      throw new ServiceError(
        'MODEL_REQUIRED',
        `several models are served; choose one with ?model= (one of: ${this.names.join(', ')}) or start the server with --default-model`,
      );
    checkModelName(n);
    const e = this.entries.get(n);
    if (!e) throw modelNotFound(n, this.names);
    let slot: Slot | undefined;
    if (version !== undefined) {
      slot = e.slots.get(checkVersion(version));
      if (!slot)
        throw new ServiceError(
          'MODEL_NOT_FOUND',
          `model "${n}" has no version ${echo(version)}; its versions are: ${[...e.slots.keys()].join(', ') || 'none'}`,
        );
    } else {
      const ready = [...e.slots.values()]
        .filter((s) => s.state === 'READY' && s.instance)
        .sort((a, b) => b.version - a.version);
      slot = ready[0];
      if (route && e.traffic) {
        const v = pickVersion(
          e.traffic,
          ready.map((s) => s.version),
          route.key,
        );
        if (v !== null) slot = e.slots.get(v);
      }
      // Loading passes by itself (Retry-After); a failed load or an unloaded model lasts until someone acts.
      if (!slot)
        throw new ServiceError('MODEL_UNAVAILABLE', `model "${n}" is unavailable: ${clip(this.reason(e), 1000)}`, {
          retryable: !e.error && [...e.slots.values()].some((s) => s.state === 'LOADING'),
        });
    }
    if (slot.state !== 'READY' || !slot.instance)
      throw new ServiceError(
        'MODEL_UNAVAILABLE',
        `model "${n}" version ${slot.version} is ${slot.state === 'LOADING' ? 'loading' : `unavailable: ${clip(slot.reason, 1000)}`}`,
        { retryable: slot.state === 'LOADING' },
      );
    slot.instance.lease();
    return slot.instance;
  }

  /** Runs `fn` with a leased instance, released when it settles. */
  async use<T>(
    name: string | undefined,
    version: string | undefined,
    fn: (m: ModelInstance) => Promise<T>,
    route?: Route,
  ): Promise<T> {
    const m = this.acquire(name, version, route);
    try {
      return await fn(m);
    } finally {
      m.release();
    }
  }

  private entry(name: string): Entry {
    const e = this.entries.get(checkModelName(name));
    if (!e) throw modelNotFound(name, this.names);
    return e;
  }

  /** A model's traffic weights and the share of requests without a version that each READY version gets now. */
  traffic(name: string): TrafficView {
    const e = this.entry(name);
    const ready = [...e.slots.values()].filter((s) => s.state === 'READY' && s.instance).map((s) => s.version);
    return { name: e.name, traffic: e.traffic, shares: sharesOf(e.traffic, ready) };
  }

  /**
   * Sets a model's traffic weights (null: back to the latest READY version) until config.json's "traffic" changes.
   * Each weight names a loaded version; weights are finite, ≥ 0 and sum above 0. Requests in flight keep their version.
   */
  setTraffic(name: string, weights: unknown): TrafficView {
    const e = this.entry(name);
    if (weights !== null) {
      const why = trafficProblem(weights);
      if (why) throw new ServiceError('BAD_REQUEST', `"traffic" ${why}`);
      const loaded = [...e.slots.values()].filter((s) => s.state === 'READY' && s.instance).map((s) => s.version);
      for (const v of Object.keys(weights as TrafficWeights))
        if (!loaded.includes(Number(v)))
          throw new ServiceError(
            'BAD_REQUEST',
            `"traffic" names version ${v} of "${e.name}", which is not loaded; the loaded versions are: ${loaded.join(', ') || 'none'}`,
          );
    }
    e.traffic = weights === null ? null : { ...(weights as TrafficWeights) };
    this.opts.log.info({ model: e.name, traffic: e.traffic }, 'traffic weights set');
    return this.traffic(name);
  }

  /** Every model version with its state (POST /v2/repository/index). */
  index(): IndexRow[] {
    const rows: IndexRow[] = [];
    for (const e of this.entries.values()) {
      if (e.slots.size === 0)
        rows.push({ name: e.name, version: '', state: 'UNAVAILABLE', reason: e.error ?? 'unloaded' });
      for (const s of [...e.slots.values()].sort((a, b) => a.version - b.version))
        rows.push({ name: e.name, version: String(s.version), state: s.state, reason: s.reason });
    }
    return rows;
  }

  /** Ready instances (metrics, listings). */
  instances(): ModelInstance[] {
    const out: ModelInstance[] = [];
    for (const e of this.entries.values())
      for (const s of e.slots.values()) if (s.instance && s.state === 'READY') out.push(s.instance);
    return out;
  }

  /** Versions of a model with states, or null when unknown. */
  versions(
    name: string,
  ): { version: number; state: VersionState; reason: string; instance: ModelInstance | null }[] | null {
    const e = this.entries.get(checkModelName(name));
    if (!e) return null;
    return [...e.slots.values()]
      .sort((a, b) => a.version - b.version)
      .map((s) => ({
        version: s.version,
        state: s.state,
        reason: s.reason,
        instance: s.state === 'READY' ? s.instance : null,
      }));
  }

  modelError(name: string): string | null {
    return this.entries.get(name)?.error ?? null;
  }

  get readyCount(): number {
    return this.instances().length;
  }

  /**
   * Why the server is not ready, or null when it is. 'all' (KServe/Triton): every model that should be loaded is READY,
   * that is no model folder is broken and no version is loading or failed (versions unloaded on purpose don't count);
   * 'any': at least one version is READY.
   */
  notReady(mode: Readiness): string | null {
    if (this.readyCount === 0) return 'no model is ready';
    if (mode === 'any') return null;
    const waiting: string[] = [];
    for (const e of this.entries.values()) {
      if (e.error && ![...e.slots.values()].some((s) => s.instance)) waiting.push(`${e.name}: ${e.error}`);
      for (const s of e.slots.values())
        if (s.state === 'LOADING' || (s.state === 'UNAVAILABLE' && s.reason !== 'unloaded'))
          waiting.push(`${e.name} version ${s.version}: ${s.state === 'LOADING' ? 'loading' : s.reason}`);
    }
    if (waiting.length === 0) return null;
    const list = waiting.slice(0, 3).map((w) => clip(w, 500));
    return `${waiting.length} model version(s) not ready: ${list.join('; ')}${waiting.length > 3 ? '; …' : ''}`;
  }

  /** Stops polling, waits for a running change, drains and closes every instance. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.chain.catch(() => {});
    const all: Promise<void>[] = [...this.retiring];
    for (const e of this.entries.values()) {
      for (const s of e.slots.values()) {
        if (s.instance) all.push(s.instance.close());
        s.instance = null;
      }
    }
    await Promise.all(all);
  }
}
