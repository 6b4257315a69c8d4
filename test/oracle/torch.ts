// Shared plumbing for the reference-oracle tests: the python3-torch / python3-onnx gate, job directories for torch_mixer.py, and error metrics.
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { AdamWConfig } from '../../src/autodiff/index.js';
import { type ModelSpec, type Params, paramTable } from '../../src/model/index.js';
import { type StTensor, decodeSafetensors, encodeSafetensors } from '../../src/train/safetensors.js';
import { Rng } from '../../src/util/rng.js';

const run = promisify(execFile);

/** Debian's interpreter, which has python3-torch and python3-onnx (a PATH python may not). */
export const PYTHON = process.env['MIXER_PYTHON'] ?? '/usr/bin/python3';
export const TORCH_SCRIPT = fileURLToPath(new URL('./torch_mixer.py', import.meta.url));
export const CHECK_SCRIPT = fileURLToPath(new URL('./onnx_check.py', import.meta.url));

/** Why `module` can't be imported by PYTHON, or null when it can (a cheap find_spec probe: no torch import). */
export function pythonMissing(modules: readonly string[]): string | null {
  const probe = `import importlib.util, sys\nmissing = [m for m in sys.argv[1:] if importlib.util.find_spec(m) is None]\nprint(' '.join(missing))`;
  try {
    const missing = execFileSync(PYTHON, ['-c', probe, ...modules], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    return missing ? `${PYTHON} cannot import ${missing.split(' ').join(', ')}` : null;
  } catch (e) {
    return `${PYTHON} does not run (${(e as Error).message.split('\n')[0]})`;
  }
}

interface Gate {
  plan(n: number, comment?: string): void;
  fail(message: string): void;
  end(): void;
}

/**
 * True when the reference interpreter has `modules`. Otherwise the file fails with a clear message,
 * or is skipped when MIXER_SKIP_TORCH=1 (CI installs python3-torch and python3-onnx, so it never skips there).
 */
export function requirePython(t: Gate, modules: readonly string[] = ['torch', 'numpy']): boolean {
  const why = pythonMissing(modules);
  if (why === null) return true;
  if (process.env['MIXER_SKIP_TORCH'] === '1') {
    t.plan(0, `${why}; skipped because MIXER_SKIP_TORCH=1`);
    return false;
  }
  t.fail(`${why}: the reference tests need Debian's python3-torch and python3-onnx (apt install python3-torch python3-onnx), or set MIXER_SKIP_TORCH=1 to skip them`);
  t.end();
  return false;
}

/** Runs a python script; throws with its stderr tail when it fails. */
export async function python(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run(PYTHON, [...args], { maxBuffer: 64 << 20, env: { ...process.env, OMP_NUM_THREADS: '1' } });
    return stdout;
  } catch (e) {
    const err = e as Error & { stderr?: string; stdout?: string; code?: number };
    const tail = `${err.stdout ?? ''}\n${err.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`${PYTHON} ${args.join(' ')} failed (exit ${String(err.code)}):\n${tail}`);
  }
}

export interface TorchJob {
  mode: 'logits' | 'grads' | 'adamw' | 'timm_state_dict';
  spec: ModelSpec;
  batch?: number;
  params?: Params;
  pixels?: Uint8Array;
  labels?: BigInt64Array;
  /** Probability targets [batch, K] (grads mode: cross_entropy with probability targets instead of labels). */
  targets?: Float32Array;
  /** Stochastic depth masks drop_path.<block>.<branch>, float32 [batch] (grads mode). */
  dropPath?: Map<string, Float32Array>;
  labelSmoothing?: number;
  dtype?: 'float64' | 'float32';
  adamw?: AdamWConfig;
  lr?: number;
  step?: number;
  /** adamw: `<name>_grad`, `<name>.exp_avg`, `<name>.exp_avg_sq`. */
  state?: Map<string, Float32Array>;
  seed?: number;
}

export interface TorchResult {
  dir: string;
  out: Map<string, StTensor>;
}

function shapesOf(spec: ModelSpec): Map<string, number[]> {
  return new Map(paramTable(spec.config).map((p) => [p.name, p.shape]));
}

function paramsSt(spec: ModelSpec, params: Map<string, Float32Array>, nameOf: (key: string) => string = (k) => k): Uint8Array {
  const shapes = shapesOf(spec);
  const t = new Map<string, StTensor>();
  for (const [k, data] of params) {
    const shape = shapes.get(nameOf(k));
    if (!shape) throw new Error(`no parameter for tensor '${k}'`);
    t.set(k, { dtype: 'F32', shape, data });
  }
  return encodeSafetensors(t);
}

/** The parameter a state key belongs to: `x.y_grad` / `x.y.exp_avg` / `x.y.exp_avg_sq` → `x.y`. */
function stateParam(k: string): string {
  return k.replace(/(_grad|\.exp_avg_sq|\.exp_avg)$/, '');
}

/** Writes one directory per job under `root`, runs torch_mixer.py once over all of them, and reads each out.safetensors. */
export async function runTorch(root: string, jobs: readonly TorchJob[]): Promise<TorchResult[]> {
  const dirs = jobs.map((j, i) => {
    const dir = join(root, `job${i}-${j.mode}`);
    mkdirSync(dir, { recursive: true });
    const { spec } = j;
    const meta = {
      mode: j.mode,
      config: spec.config,
      mean: spec.mean,
      std: spec.std,
      batch: j.batch ?? 0,
      label_smoothing: j.labelSmoothing ?? 0,
      dtype: j.dtype ?? 'float64',
      adamw: j.adamw ?? null,
      lr: j.lr ?? null,
      step: j.step ?? null,
      seed: j.seed ?? 0,
    };
    writeFileSync(join(dir, 'job.json'), JSON.stringify(meta, null, 1));
    if (j.params) writeFileSync(join(dir, 'params.safetensors'), paramsSt(spec, j.params));
    if (j.pixels) {
      const want = (j.batch ?? 0) * spec.config.image_size ** 2 * 3;
      if (j.pixels.length !== want) throw new Error(`pixels: ${j.pixels.length} bytes, expected ${want} for batch ${String(j.batch)}`);
      writeFileSync(join(dir, 'pixels.bin'), j.pixels);
    }
    if (j.labels) writeFileSync(join(dir, 'labels.bin'), new Uint8Array(j.labels.buffer, j.labels.byteOffset, j.labels.byteLength));
    if (j.dropPath) writeFileSync(join(dir, 'drop_path.safetensors'), encodeSafetensors(new Map([...j.dropPath].map(([k, d]) => [k, { dtype: 'F32', shape: [d.length], data: d } as StTensor]))));
    if (j.targets) writeFileSync(join(dir, 'targets.bin'), new Uint8Array(j.targets.buffer, j.targets.byteOffset, j.targets.byteLength));
    if (j.state) writeFileSync(join(dir, 'state.safetensors'), paramsSt(spec, j.state, stateParam));
    return dir;
  });
  await python([TORCH_SCRIPT, ...dirs]);
  // A plain Uint8Array (not a pooled Buffer view), so every decoded tensor owns exactly its bytes.
  return dirs.map((dir) => ({ dir, out: decodeSafetensors(new Uint8Array(readFileSync(join(dir, 'out.safetensors')))).tensors }));
}

// ---- random inputs ----

export function randomPixels(rng: Rng, n: number, size: number): Uint8Array {
  return Uint8Array.from({ length: n * size * size * 3 }, () => rng.int(256));
}

export function randomLabels(rng: Rng, n: number, k: number): BigInt64Array {
  return BigInt64Array.from({ length: n }, () => BigInt(rng.int(k)));
}

export function randomLike(rng: Rng, params: Params, f: (rng: Rng) => number): Params {
  const out: Params = new Map();
  for (const [k, v] of params) out.set(k, Float32Array.from({ length: v.length }, () => f(rng)));
  return out;
}

// ---- error metrics (b is the reference) ----

type Num = ArrayLike<number>;

export function toNumbers(x: StTensor | { data: unknown }): Num {
  const d = x.data;
  if (d instanceof Float32Array || d instanceof Float64Array) return d;
  throw new Error('expected a float tensor');
}

/** max|a − b| / max|b|. */
export function maxRelError(a: Num, b: Num): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs reference ${b.length}`);
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return m === 0 ? d : d / m;
}

/** ‖a − b‖₂ / ‖b‖₂. */
export function normRelError(a: Num, b: Num): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs reference ${b.length}`);
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    m += b[i]! ** 2;
  }
  return m === 0 ? Math.sqrt(d) : Math.sqrt(d / m);
}

export function fmt(x: number): string {
  return x.toExponential(2);
}
