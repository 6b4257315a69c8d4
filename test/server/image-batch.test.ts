// The image-batch runner shared by the service and `mixer eval`: runs of at most maxRows, a fixed batch chunked and zero-padded, rows in order.
import t from 'tap';
import type { HostTensor } from '../../src/runtime/session.js';
import { classRows, type RunModel, runImages } from '../../src/server/image-batch.js';
import type { ImageContract, ModelContract } from '../../src/server/repository/contract.js';

// 1×1 RGB uint8 images, NCHW; the "model" answers each row with [first channel, batch size of the run].
const image = {
  input: 'x',
  output: 'y',
  dtype: 'uint8',
  layout: 'NCHW',
  channels: 3,
  height: 1,
  width: 1,
  itemBytes: 3,
  softmax: false,
} as ImageContract;
const contract = (fixedBatch: number | null): ModelContract => ({ image, fixedBatch, maxBatch: 64 }) as ModelContract;

function recorder() {
  const dims: number[][] = [];
  const run: RunModel = async (feeds, outputs) => {
    const f = feeds['x']!;
    dims.push(f.dims as number[]);
    const nb = f.dims[0]!;
    const px = f.data as Uint8Array;
    const data = new Float32Array(nb * 2);
    for (let i = 0; i < nb; i++) data.set([px[i * 3]!, nb], i * 2);
    return { outputs: { [outputs[0]!]: { dtype: 'float32', dims: [nb, 2], data } as HostTensor }, ms: 2 };
  };
  return { run, dims };
}

const px = Uint8Array.from({ length: 5 * 3 }, (_, i) => (i % 3 === 0 ? 10 + i / 3 : 0));

t.test('a fixed batch of 2: five images run as 2 + 2 + (1 padded to 2), the padding row dropped', async (t) => {
  const { run, dims } = recorder();
  const r = await runImages(run, contract(2), px, 5);
  t.same(dims, [
    [2, 3, 1, 1],
    [2, 3, 1, 1],
    [2, 3, 1, 1],
  ]);
  t.same(Array.from(r.out), [10, 2, 11, 2, 12, 2, 13, 2, 14, 2]);
  t.equal(r.ms, 6);
});

t.test('a dynamic batch runs at once, or in runs of maxRows', async (t) => {
  const one = recorder();
  t.same(Array.from((await runImages(one.run, contract(null), px, 5)).out), [10, 5, 11, 5, 12, 5, 13, 5, 14, 5]);
  t.same(one.dims, [[5, 3, 1, 1]]);
  const capped = recorder();
  const r = await runImages(capped.run, contract(null), px, 5, 3);
  t.same(capped.dims, [
    [3, 3, 1, 1],
    [2, 3, 1, 1],
  ]);
  t.same(Array.from(r.out), [10, 3, 11, 3, 12, 3, 13, 2, 14, 2]);
});

t.test('classRows: one row per image, softmax only where the contract says', async (t) => {
  const out = Float32Array.from([0, 0, 1, 1, 5, 2]);
  t.same(
    classRows(out, 3, image).map((r) => Array.from(r)),
    [
      [0, 0],
      [1, 1],
      [5, 2],
    ],
  );
  const p = classRows(out, 3, { ...image, softmax: true });
  t.same(Array.from(p[0]!), [0.5, 0.5]);
  t.ok(Math.abs(p[2]![0]! - 1 / (1 + Math.exp(-3))) < 1e-6);
});
