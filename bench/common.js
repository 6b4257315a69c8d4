// Helpers shared by the benchmark scripts: a free loopback port and the model to measure.
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const dist = (p) => new URL(`../dist/${p}`, import.meta.url).href;

/** A free TCP port on 127.0.0.1. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** `given` (--model or MODEL_PATH), the shipped model, or else an untrained cifar10-s4 written to `tmp` (same cost per image). */
export async function pickModel(tmp, given) {
  if (given) return { modelPath: path.resolve(given), note: 'given' };
  const shipped = path.join(ROOT, 'models/mixer-cifar10.onnx');
  if (existsSync(shipped)) return { modelPath: shipped, note: 'shipped' };
  const { buildInferenceModel, defaultSpec, preset, randomParams } = await import(dist('model/index.js'));
  const c = preset('cifar10-s4');
  const p = path.join(tmp, 'cifar10-s4.onnx');
  writeFileSync(p, buildInferenceModel(defaultSpec(c), randomParams(c, 0)));
  return { modelPath: p, note: 'untrained cifar10-s4: models/mixer-cifar10.onnx is absent' };
}
