// Helpers shared by the HTTP, gRPC, repository and hostile-client benchmarks: paths, a free port, the model, /proc figures, the serve layout.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist-bench/bench/). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `mixer` itself, compiled. */
export const CLI = path.join(ROOT, 'dist/cli/main.js');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** `given` (--model or MODEL_PATH), the shipped model, or else an untrained cifar10-s4 written to `tmp` (same cost per image). */
export async function pickModel(tmp: string, given?: string): Promise<{ modelPath: string; note: string }> {
  if (given) return { modelPath: path.resolve(given), note: 'given' };
  const shipped = path.join(ROOT, 'models/mixer-cifar10.onnx');
  if (existsSync(shipped)) return { modelPath: shipped, note: 'shipped' };
  const { buildInferenceModel, defaultSpec, preset, randomParams } = await import('#mixer/model/index.js');
  const c = preset('cifar10-s4');
  const p = path.join(tmp, 'cifar10-s4.onnx');
  writeFileSync(p, buildInferenceModel(defaultSpec(c), randomParams(c, 0)));
  return { modelPath: p, note: 'untrained cifar10-s4: models/mixer-cifar10.onnx is absent' };
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSeconds(pid: number): number {
  const f = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Moves every thread of this process (and the threads it starts later) onto the CPUs `cpus` lists (taskset syntax). */
export function pinSelf(cpus: string): void {
  execFileSync('taskset', ['-a', '-cp', cpus, String(process.pid)], { stdio: 'ignore' });
}

/**
 * --pin's CPUs: the load generator (this process, moved there now) on the first CPU this process may use, the servers
 * and the raw model on the second.
 */
export function pinnedCpus(): { load: string; server: string } {
  const mask = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '';
  const cpus = mask.split(',').flatMap((r) => {
    const [a, b] = r.split('-').map(Number) as [number, number | undefined];
    return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i);
  });
  if (cpus.length < 2) throw new Error(`--pin needs two CPUs; this process may use ${mask || 'an unknown set'}`);
  const pin = { load: String(cpus[0]), server: String(cpus[1]) };
  pinSelf(pin.load);
  return pin;
}

/** `node args` as a spawn command, on the CPUs `cpus` lists when given (taskset execs node, so the pid is the server's). */
export function nodeCommand(args: string[], cpus?: string): [string, string[]] {
  return cpus ? ['taskset', ['-c', cpus, process.execPath, ...args]] : [process.execPath, args];
}

/** Runs `f` with this process on the servers' CPU, back on the load generator's after (no pinning: just runs it). */
export async function onServerCpu<T>(pin: { load: string; server: string } | null, f: () => Promise<T>): Promise<T> {
  if (!pin) return f();
  pinSelf(pin.server);
  try {
    return await f();
  } finally {
    pinSelf(pin.load);
  }
}

/** The median (upper middle for even counts) of some numbers. */
export const med = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;

/** The worker × ORT-thread layout `mixer serve` starts with in this environment (WORKERS/THREADS, else its defaults). */
export async function serveLayout(): Promise<string> {
  const { resolveConfig } = await import('#mixer/server/config.js');
  try {
    const { workers, threads } = resolveConfig({}, process.env);
    return `${workers} worker(s) × ${threads} ORT thread(s) (mixer serve's layout in this environment)`;
  } catch {
    return "mixer serve's layout in this environment (unreadable settings)";
  }
}
