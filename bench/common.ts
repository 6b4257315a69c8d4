// Helpers shared by the HTTP, gRPC, repository and hostile-client benchmarks: paths, a free port, the model, /proc figures, the serve layout.
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
