// The load test's raw-model baseline, run as a child process: batch-32 runs back to back on `workers` worker threads
// (one session of `threads` threads each, the service's layout) for some seconds; prints the images/s as JSON.
//   node dist/bench/loadtest-raw-model.js <model.onnx> <threads> <seconds> <workers>   (absent model: untrained cifar10-s4)
import { existsSync } from 'node:fs';
import { buildInferenceModel, defaultSpec, initParams, loadModelFile, preset } from '#mixer/model/index.js';
import { RawModel } from './raw-model.js';

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
const raw = await RawModel.open(bytes, { workers: Number(workers), threads: Number(threads), batch: 32, size });
const { rate, runs } = await raw.measure(Number(seconds));
await raw.close();
console.log(
  JSON.stringify({
    imagesPerSec: rate,
    batch: 32,
    threads: Number(threads),
    workers: Number(workers),
    runs,
    model: existsSync(modelPath) ? modelPath.split('/').pop() : 'untrained cifar10-s4',
  }),
);
