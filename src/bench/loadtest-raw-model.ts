// The load test's raw-model baseline, run as a child process: batch-32 runs back to back on `workers` worker threads
// (one session of `threads` threads each, the service's layout) for some seconds; prints the images/s as JSON.
//   node dist/bench/loadtest-raw-model.js <model.onnx> <threads> <seconds> <workers>   (absent model: untrained cifar10-s4)
import { existsSync } from 'node:fs';
import { buildInferenceModel, defaultSpec, initParams, loadModelFile, preset } from '../model/index.js';
import { WorkerPool } from '../runtime/worker-pool.js';

const [modelPath = '', threads = '0', seconds = '2', workers = '1'] = process.argv.slice(-4);
let bytes: Uint8Array;
let size: number;
if (existsSync(modelPath)) {
  const m = await loadModelFile(modelPath);
  bytes = m.bytes;
  size = m.spec.config.image_size;
} else {
  const c = preset('cifar10-s4');
  bytes = buildInferenceModel(defaultSpec(c), initParams(c, 0));
  size = c.image_size;
}
const W = Number(workers);
const pool = await WorkerPool.create(bytes, { threads: Number(threads), workers: W, device: 'cpu' });
const N = 32;
const pixels = new Uint8Array(N * size * size * 3).map((_, i) => (i * 31) & 255);
// A fresh buffer per run: the pool moves each batch's buffer to its worker.
const runOne = () =>
  pool.run({ pixels: { dtype: 'uint8', dims: [N, size, size, 3], data: pixels.slice() } }, ['probabilities']);
for (let i = 0; i < 3; i++) await Promise.all(Array.from({ length: W }, runOne));
let images = 0;
let runs = 0;
const t0 = performance.now();
const end = t0 + Number(seconds) * 1000;
await Promise.all(
  Array.from({ length: W }, async () => {
    while (performance.now() < end) {
      await runOne();
      images += N;
      runs++;
    }
  }),
);
const rate = images / ((performance.now() - t0) / 1000);
await pool.close();
console.log(
  JSON.stringify({
    imagesPerSec: rate,
    batch: N,
    threads: Number(threads),
    workers: W,
    runs,
    model: existsSync(modelPath) ? modelPath.split('/').pop() : 'untrained cifar10-s4',
  }),
);
