// The load test's raw-model baseline, run as a child process: batch-32 runs of one session for some seconds; prints the median images/s as JSON.
//   node dist/bench/loadtest-raw-model.js <model.onnx> <threads> <seconds>   (an absent model file: an untrained cifar10-s4)
import { existsSync } from 'node:fs';
import { buildInferenceModel, defaultSpec, initParams, loadModelFile, preset } from '../model/index.js';
import { type HostTensor, Session } from '../runtime/session.js';

const [modelPath = '', threads = '0', seconds = '2'] = process.argv.slice(-3);
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
const s = await Session.create(bytes, { threads: Number(threads), device: 'cpu' });
const N = 32;
const data = new Uint8Array(N * size * size * 3).map((_, i) => (i * 31) & 255);
const feeds: Record<string, HostTensor> = { pixels: { dtype: 'uint8', dims: [N, size, size, 3], data } };
for (let i = 0; i < 3; i++) await s.run(feeds, ['probabilities']);
const rates: number[] = [];
const end = Date.now() + Number(seconds) * 1000;
while (Date.now() < end) {
  const t0 = performance.now();
  await s.run(feeds, ['probabilities']);
  rates.push(N / ((performance.now() - t0) / 1000));
}
rates.sort((a, b) => a - b);
console.log(
  JSON.stringify({
    imagesPerSec: rates[rates.length >> 1],
    batch: N,
    threads: Number(threads),
    runs: rates.length,
    model: existsSync(modelPath) ? modelPath.split('/').pop() : 'untrained cifar10-s4',
  }),
);
