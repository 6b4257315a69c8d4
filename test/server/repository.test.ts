// Model repository: torch.onnx-exported classifiers served by /classify and v2 agree with direct onnxruntime runs; bad models are unavailable with reasons.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import t, { type Test } from 'tap';
import { resolveConfig } from '../../src/server/config.js';
import { requirePython } from '../fixtures/oracle/torch.js';
import { direct, pixels, softmaxRef, writeRepository } from '../fixtures/repository.js';
import { buildAppWith, multipart } from '../fixtures/server.js';

if (requirePython(t, ['torch', 'onnx'])) {
  const root = path.join(t.testdir(), 'models');
  await writeRepository(root);
  const app = await buildAppWith({ modelRepository: root, logger: false, threads: 1, maxBatch: 4 });
  t.teardown(() => app.close());
  const file = (name: string, v = 1) => path.join(root, name, String(v), 'model.onnx');

  const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
  /** The reference preprocessing, written independently of the service: HWC uint8 → float NCHW (p/255 − mean)/std. */
  const nchw = (px: Uint8Array, h: number, w: number, c: number, mean: number[], std: number[]): Float32Array => {
    const out = new Float32Array(h * w * c);
    for (let k = 0; k < c; k++)
      for (let i = 0; i < h * w; i++) out[k * h * w + i] = (px[i * c + k]! / 255 - mean[k]!) / std[k]!;
    return out;
  };
  const png = (px: Uint8Array, h: number, w: number, c: 1 | 3) =>
    sharp(Buffer.from(px), { raw: { width: w, height: h, channels: c } })
      .png()
      .toBuffer();

  interface Pred {
    label: string;
    index: number;
    probability: number;
  }
  /** The service's top-k must be the reference's k best, with the same probabilities. */
  const agree = (t: Test, got: Pred[], probs: number[], labels: (i: number) => string, msg: string): void => {
    const order = probs.map((p, i) => [p, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    t.equal(got.length, Math.min(5, probs.length), `${msg}: top-k length`);
    let worst = 0;
    got.forEach((p, r) => {
      t.equal(p.index, order[r]![1], `${msg}: rank ${r} index`);
      t.equal(p.label, labels(p.index), `${msg}: label`);
      worst = Math.max(worst, Math.abs(p.probability - order[r]![0]));
    });
    t.ok(worst < 1e-6, `${msg}: max probability diff ${worst}`);
  };
  const classify = async (query: string, body: Buffer) =>
    app.inject({ method: 'POST', url: `/classify?${query}`, headers: { 'content-type': 'image/png' }, payload: body });

  t.test(
    'repository index: good models READY, bad ones UNAVAILABLE with a reason naming the file and the fix',
    async (t) => {
      const r = await app.inject({ method: 'POST', url: '/v2/repository/index' });
      t.equal(r.statusCode, 200);
      const rows = r.json() as { name: string; version: string; state: string; reason: string }[];
      const state = (n: string, v = '1') => rows.find((x) => x.name === n && x.version === v);
      for (const [n, v] of [
        ['resnet', '1'],
        ['resnet', '2'],
        ['softmax1', '1'],
        ['gray', '1'],
        ['nhwc', '1'],
        ['tabular', '1'],
        ['extdata', '1'],
        ['mixer', '1'],
      ] as const) {
        t.equal(state(n, v)?.state, 'READY', `${n}/${v} READY`);
      }
      const reasons: [string, string, RegExp][] = [
        ['broken', '1', /broken\/1\/model\.onnx is not a valid ONNX model/],
        [
          'badop',
          '1',
          /badop\/1\/model\.onnx uses an operator this onnxruntime build does not implement .*FrobnicateImage/,
        ],
        [
          'escape',
          '1',
          /escape\/1\/model\.onnx: external data "\.\.\/\.\.\/outside\.bin" points outside the model's folder/,
        ],
        [
          'noversion',
          '',
          /noversion has no numeric version folder \(found model\.onnx directly in it\); put the model at .*noversion\/1\/model\.onnx/,
        ],
        ['twocands', '1', /twocands\/1 has 2 model candidates \(model\.onnx, other\.onnx\); keep only model\.onnx/],
        ['badjson', '', /badjson\/config\.json is not valid JSON .*fix it or remove it/],
        [
          'missingtensor',
          '1',
          /missingtensor\/config\.json: "input" names "images" but the graph's inputs are input; fix the name or remove the key/,
        ],
        [
          'badlabels',
          '1',
          /badlabels\/labels\.txt has 3 lines but output "logits" has 10 classes; write one label per class/,
        ],
      ];
      for (const [n, v, re] of reasons) {
        const row = state(n, v);
        t.equal(row?.state, 'UNAVAILABLE', `${n} unavailable`);
        t.match(row?.reason, re, `${n}: ${row?.reason}`);
      }
      // --readiness all (the default): the broken models should be loaded, so the server is not ready (the good ones serve).
      const rz = await app.inject('/readyz');
      t.equal(rz.statusCode, 503, 'not ready while models that should be loaded are not');
      t.match(rz.json().message, /model version\(s\) not ready/);
    },
  );

  t.test(
    'resnet (NCHW float32, ImageNet mean/std, dynamic batch, labels.txt): every version equals a direct run',
    async (t) => {
      for (const v of [1, 2]) {
        const imgs = [0, 1, 2, 3, 4, 5].map((i) => pixels(32, 32, 3, 10 * v + i));
        // Concurrent single-image requests share batches; each answer must still be its own image's.
        const answers = await Promise.all(
          imgs.map(async (px) => classify(`model=resnet&version=${v}`, await png(px, 32, 32, 3))),
        );
        const ref = await direct(file('resnet', v), {
          input: {
            dtype: 'float32',
            dims: [imgs.length, 3, 32, 32],
            data: Float32Array.from(imgs.flatMap((px) => Array.from(nchw(px, 32, 32, 3, IMAGENET.mean, IMAGENET.std)))),
          },
        });
        const logits = ref['logits']!.data as Float32Array;
        answers.forEach((a, i) => {
          t.equal(a.statusCode, 200, a.body);
          const j = a.json();
          t.match(j.model, { name: 'resnet', version: String(v), sha256: /^[0-9a-f]{64}$/ });
          agree(
            t,
            j.results[0].predictions,
            softmaxRef(logits.subarray(i * 10, (i + 1) * 10)),
            (k) => `class-${k}`,
            `resnet v${v} image ${i}`,
          );
        });
      }
      const latest = await classify('model=resnet', await png(pixels(32, 32, 3, 1), 32, 32, 3));
      t.equal(latest.json().model.version, '2', 'unversioned requests go to the latest version');
    },
  );

  t.test(
    'softmax1 (fixed batch 1, ends in Softmax): several images per request run one per call, no second softmax',
    async (t) => {
      const imgs = [0, 1, 2].map((i) => pixels(24, 24, 3, 50 + i));
      const parts = await Promise.all(
        imgs.map(async (px, i) => ({ filename: `${i}.png`, type: 'image/png', data: await png(px, 24, 24, 3) })),
      );
      const r = await app.inject({ method: 'POST', url: '/classify?model=softmax1&top=7', ...multipart(parts) });
      t.equal(r.statusCode, 200, r.body);
      for (const [i, px] of imgs.entries()) {
        const ref = await direct(file('softmax1'), {
          image: { dtype: 'float32', dims: [1, 3, 24, 24], data: nchw(px, 24, 24, 3, [0, 0, 0], [1, 1, 1]) },
        });
        const probs = Array.from(ref['prob']!.data as Float32Array);
        t.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-5, 'the graph output is already probabilities');
        const got = r.json().results[i].predictions as Pred[];
        t.equal(got.length, 7);
        agree(t, got.slice(0, 5), probs, String, `softmax1 image ${i}`);
      }
      const m = (await app.inject('/v1/models/softmax1')).json();
      t.match(m.latest, { output: { name: 'prob', softmax: false }, batching: { maxBatch: 1, fixedBatch: 1 } });
    },
  );

  t.test('gray (1 channel, mean/std from config.json) equals a direct run', async (t) => {
    const px = pixels(28, 28, 1, 77);
    const r = await classify('model=gray', await png(px, 28, 28, 1));
    t.equal(r.statusCode, 200, r.body);
    const ref = await direct(file('gray'), {
      x: { dtype: 'float32', dims: [1, 1, 28, 28], data: nchw(px, 28, 28, 1, [0.5], [0.25]) },
    });
    agree(t, r.json().results[0].predictions, softmaxRef(ref['y']!.data as Float32Array), String, 'gray');
  });

  t.test(
    'nhwc (uint8 raw pixels, normalisation inside the graph) and the onnx-mixer model equal direct runs',
    async (t) => {
      const px = pixels(32, 32, 3, 88);
      const r = await classify('model=nhwc', await png(px, 32, 32, 3));
      t.equal(r.statusCode, 200, r.body);
      const ref = await direct(file('nhwc'), { pixels: { dtype: 'uint8', dims: [1, 32, 32, 3], data: px } });
      agree(t, r.json().results[0].predictions, softmaxRef(ref['logits']!.data as Float32Array), String, 'nhwc');
      const mx = await classify('model=mixer', await png(px, 32, 32, 3));
      t.equal(mx.statusCode, 200, mx.body);
      const mref = await direct(file('mixer'), { pixels: { dtype: 'uint8', dims: [1, 32, 32, 3], data: px } });
      const labels = JSON.parse(
        (await app.inject('/v1/models/mixer')).json().latest.labels.length === 10
          ? '["airplane","automobile","bird","cat","deer","dog","frog","horse","ship","truck"]'
          : '[]',
      ) as string[];
      agree(
        t,
        mx.json().results[0].predictions,
        Array.from(mref['probabilities']!.data as Float32Array),
        (i) => labels[i]!,
        'mixer',
      );
    },
  );

  t.test('extdata (weights in a file next to model.onnx) loads from its folder and equals resnet v1', async (t) => {
    const px = pixels(32, 32, 3, 5);
    const a = (await classify('model=extdata', await png(px, 32, 32, 3))).json();
    const b = (await classify('model=resnet&version=1', await png(px, 32, 32, 3))).json();
    t.same(
      a.results[0].predictions.map((p: Pred) => p.probability),
      b.results[0].predictions.map((p: Pred) => p.probability),
    );
  });

  t.test(
    'v2 generic tensors: tabular (FP32 + INT64 in, FP32 + INT64 out), JSON and binary, batched, equal direct runs',
    async (t) => {
      const features = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i) * 2);
      const bucket = BigInt64Array.from([0n, 3n]);
      const ref = await direct(file('tabular'), {
        features: { dtype: 'float32', dims: [2, 6], data: features },
        bucket: { dtype: 'int64', dims: [2], data: bucket },
      });
      const body = {
        id: 'tab',
        inputs: [
          { name: 'features', datatype: 'FP32', shape: [2, 6], data: Array.from(features) },
          { name: 'bucket', datatype: 'INT64', shape: [2], data: [0, 3] },
        ],
      };
      const rs = await Promise.all(
        [0, 1, 2].map(() => app.inject({ method: 'POST', url: '/v2/models/tabular/infer', payload: body })),
      );
      for (const r of rs) {
        t.equal(r.statusCode, 200, r.body);
        const j = r.json();
        t.match(j, { model_name: 'tabular', model_version: '1', id: 'tab' });
        t.same(j.outputs[0], {
          name: 'scores',
          datatype: 'FP32',
          shape: [2, 3],
          data: Array.from(ref['scores']!.data as Float32Array),
        });
        t.same(j.outputs[1], {
          name: 'best',
          datatype: 'INT64',
          shape: [2],
          data: Array.from(ref['best']!.data as BigInt64Array, Number),
        });
      }
      const header = Buffer.from(
        JSON.stringify({
          inputs: [
            { name: 'features', datatype: 'FP32', shape: [2, 6], parameters: { binary_data_size: 48 } },
            { name: 'bucket', datatype: 'INT64', shape: [2], parameters: { binary_data_size: 16 } },
          ],
          outputs: [{ name: 'best', parameters: { binary_data: true } }],
        }),
      );
      const bin = await app.inject({
        method: 'POST',
        url: '/v2/models/tabular/versions/1/infer',
        headers: {
          'content-type': 'application/octet-stream',
          'inference-header-content-length': String(header.length),
        },
        payload: Buffer.concat([header, Buffer.from(features.buffer), Buffer.from(bucket.buffer)]),
      });
      t.equal(bin.statusCode, 200, bin.body);
      const len = Number(bin.headers['inference-header-content-length']);
      const j = JSON.parse(bin.rawPayload.subarray(0, len).toString());
      t.same(j.outputs, [{ name: 'best', datatype: 'INT64', shape: [2], parameters: { binary_data_size: 16 } }]);
      const tail = bin.rawPayload.subarray(len);
      t.same(
        Array.from(new BigInt64Array(tail.buffer.slice(tail.byteOffset, tail.byteOffset + 16))),
        Array.from(ref['best']!.data as BigInt64Array),
      );
      const meta = (await app.inject('/v2/models/tabular')).json();
      t.same(meta.inputs, [
        { name: 'features', datatype: 'FP32', shape: [-1, 6] },
        { name: 'bucket', datatype: 'INT64', shape: [-1] },
      ]);
    },
  );

  t.test('v2 round trip of every datatype (FP32..UINT64, FP16, BOOL, BYTES), JSON and binary', async (t) => {
    const values: Record<string, [string, unknown[]]> = {
      fp32: ['FP32', [1.5, -2, 0.25, 3]],
      fp64: ['FP64', [1e-300, -2.5, 3.25, 4]],
      fp16: ['FP16', [1.5, -2, 0.0999755859375, 65504]],
      i8: ['INT8', [-128, 127, 0, -1]],
      i16: ['INT16', [-32768, 32767, 5, -5]],
      i32: ['INT32', [-(2 ** 31), 2 ** 31 - 1, 7, -7]],
      i64: ['INT64', [-(2 ** 53) + 1, 2 ** 53 - 1, 9, -9]],
      u8: ['UINT8', [0, 255, 1, 2]],
      u16: ['UINT16', [0, 65535, 3, 4]],
      u32: ['UINT32', [0, 2 ** 32 - 1, 5, 6]],
      u64: ['UINT64', [0, 2 ** 53 - 1, 7, 8]],
      b: ['BOOL', [true, false, false, true]],
      s: ['BYTES', ['a', 'héllo', '', 'z z']],
    };
    const inputs = Object.entries(values).map(([k, [datatype, data]]) => ({
      name: `in_${k}`,
      datatype,
      shape: [2, 2],
      data,
    }));
    const r = await app.inject({ method: 'POST', url: '/v2/models/dtypes/infer', payload: { inputs } });
    t.equal(r.statusCode, 200, r.body);
    for (const o of r.json().outputs as { name: string; datatype: string; shape: number[]; data: unknown[] }[]) {
      const [datatype, data] = values[o.name.slice(4)]!;
      t.same(o, { name: o.name, datatype, shape: [2, 2], data }, o.name);
    }
    // Binary: FP16 bits and length-prefixed BYTES in, the same bytes out.
    const half = Buffer.from(new Uint16Array([0x3e00, 0xc000, 0x2e66, 0x7bff]).buffer);
    const strs = Buffer.concat(
      ['a', 'héllo', '', 'z z'].map((x) => {
        const b = Buffer.from(x);
        const l = Buffer.alloc(4);
        l.writeUInt32LE(b.length);
        return Buffer.concat([l, b]);
      }),
    );
    const header = Buffer.from(
      JSON.stringify({
        inputs: inputs.map((i) =>
          i.name === 'in_fp16'
            ? { name: i.name, datatype: 'FP16', shape: [2, 2], parameters: { binary_data_size: 8 } }
            : i.name === 'in_s'
              ? { name: i.name, datatype: 'BYTES', shape: [2, 2], parameters: { binary_data_size: strs.length } }
              : i,
        ),
        outputs: [
          { name: 'out_fp16', parameters: { binary_data: true } },
          { name: 'out_s', parameters: { binary_data: true } },
          { name: 'out_b' },
        ],
      }),
    );
    const bin = await app.inject({
      method: 'POST',
      url: '/v2/models/dtypes/infer',
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
      payload: Buffer.concat([header, half, strs]),
    });
    t.equal(bin.statusCode, 200, bin.body);
    const len = Number(bin.headers['inference-header-content-length']);
    const j = JSON.parse(bin.rawPayload.subarray(0, len).toString());
    t.same(
      j.outputs.map((o: { parameters?: { binary_data_size: number } }) => o.parameters?.binary_data_size),
      [8, strs.length, undefined],
    );
    t.same(bin.rawPayload.subarray(len), Buffer.concat([half, strs]));
    const badBool = await app.inject({
      method: 'POST',
      url: '/v2/models/dtypes/infer',
      payload: { inputs: inputs.map((i) => (i.name === 'in_b' ? { ...i, data: [true, 'yes', 0, 1] } : i)) },
    });
    t.match(badBool.json(), { code: 'BAD_TENSOR', message: /input "in_b" value 1 is "yes", not a boolean/ });
    const badI8 = await app.inject({
      method: 'POST',
      url: '/v2/models/dtypes/infer',
      payload: { inputs: inputs.map((i) => (i.name === 'in_i8' ? { ...i, data: [128, 0, 0, 0] } : i)) },
    });
    t.match(badI8.json(), { code: 'BAD_TENSOR', message: /not an integer in -128\.\.127 \(INT8\)/ });
  });

  t.test('v2 on an image model takes its real input (FP32 NCHW) and equals a direct run', async (t) => {
    const x = nchw(pixels(32, 32, 3, 9), 32, 32, 3, IMAGENET.mean, IMAGENET.std);
    const r = await app.inject({
      method: 'POST',
      url: '/v2/models/resnet/versions/1/infer',
      payload: {
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3, 32, 32], data: Array.from(x) }],
        outputs: [{ name: 'logits', parameters: { classification: 3 } }],
      },
    });
    t.equal(r.statusCode, 200, r.body);
    const ref = Array.from(
      (await direct(file('resnet'), { input: { dtype: 'float32', dims: [1, 3, 32, 32], data: x } }))['logits']!
        .data as Float32Array,
    );
    const best = ref.indexOf(Math.max(...ref));
    t.match(r.json().outputs[0], { name: 'logits', datatype: 'BYTES', shape: [1, 3] });
    t.equal(r.json().outputs[0].data[0], `${ref[best]}:${best}:class-${best}`);
  });

  t.test(
    'routing errors: MODEL_REQUIRED, MODEL_NOT_FOUND, MODEL_UNAVAILABLE, NOT_AN_IMAGE_MODEL, BAD_TENSOR',
    async (t) => {
      const img = await png(pixels(32, 32, 3, 1), 32, 32, 3);
      const cases: [string, number, string, RegExp][] = [
        [
          '',
          400,
          'MODEL_REQUIRED',
          /choose one with \?model= \(one of: .*resnet.*\) or start the server with --default-model/,
        ],
        ['model=nope', 404, 'MODEL_NOT_FOUND', /no model "nope"; the models are: /],
        ['model=resnet&version=9', 404, 'MODEL_NOT_FOUND', /model "resnet" has no version "9"; its versions are: 1, 2/],
        ['model=resnet&version=x1', 400, 'BAD_REQUEST', /invalid model version "x1": a version is a positive integer/],
        [
          'model=broken',
          503,
          'MODEL_UNAVAILABLE',
          /model "broken" is unavailable: version 1: .*not a valid ONNX model/,
        ],
        ['model=badjson', 503, 'MODEL_UNAVAILABLE', /is not valid JSON/],
        [
          'model=tabular',
          400,
          'NOT_AN_IMAGE_MODEL',
          /model "tabular" is not an image classifier: the model has 2 inputs \(features, bucket\).*\/v2\/models\/tabular\/infer/,
        ],
      ];
      for (const [q, status, code, re] of cases) {
        const r = await classify(q, img);
        t.equal(r.statusCode, status, `${q}: ${r.body}`);
        t.equal(r.json().code, code);
        t.match(r.json().message, re);
        // A model that failed to load is a permanent failure until its folder changes: no Retry-After, so clients do
        // not retry it.
        if (status === 503) t.equal(r.headers['retry-after'], undefined, `${q}: no Retry-After`);
      }
      const v2 = async (url: string, payload: object) => app.inject({ method: 'POST', url, payload });
      t.equal(
        (
          await v2('/v2/models/broken/infer', { inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }] })
        ).json().code,
        'MODEL_UNAVAILABLE',
      );
      const wrong = await v2('/v2/models/tabular/infer', {
        inputs: [
          { name: 'features', datatype: 'FP32', shape: [2, 5], data: [] },
          { name: 'bucket', datatype: 'INT64', shape: [2], data: [0, 1] },
        ],
      });
      t.equal(wrong.json().code, 'BAD_TENSOR');
      t.match(wrong.json().message, /input "features" must have shape \[-1,6\]/);
      const big = await v2('/v2/models/tabular/infer', {
        inputs: [
          { name: 'features', datatype: 'FP32', shape: [1, 6], data: [1, 2, 3, 4, 5, 6] },
          { name: 'bucket', datatype: 'INT64', shape: [1], data: [2 ** 60] },
        ],
      });
      t.equal(big.json().code, 'BAD_TENSOR', 'an int64 beyond 2^53 in JSON');
      const oob = await v2('/v2/models/tabular/infer', {
        inputs: [
          { name: 'features', datatype: 'FP32', shape: [1, 6], data: [1, 2, 3, 4, 5, 6] },
          { name: 'bucket', datatype: 'INT64', shape: [1], data: [99] },
        ],
      });
      t.equal(oob.statusCode, 400, `an embedding index the graph rejects: ${oob.body}`);
      t.equal((await app.inject('/v1/models/nope')).statusCode, 404);
    },
  );

  t.test('/v1/models and /v1/models/{name}: states, contract, real parameter counts and MACs', async (t) => {
    const all = (await app.inject('/v1/models')).json();
    t.equal(all.default, null, 'several models and no --default-model');
    const names = all.models.map((m: { name: string }) => m.name);
    t.ok(['resnet', 'tabular', 'broken', 'badjson'].every((n) => names.includes(n)));
    const r = (await app.inject('/v1/models/resnet')).json();
    const ready = { state: 'READY', reason: '', classifier: true, inputSize: [32, 32], classes: 10 };
    t.same(
      r.versions,
      [
        { version: '1', ...ready },
        { version: '2', ...ready },
      ],
      'ready versions say what a model picker needs',
    );
    t.match(r.latest, {
      version: '2',
      classifier: true,
      input: { name: 'input', datatype: 'float32', shape: [-1, 3, 32, 32], layout: 'NCHW' },
      preprocessing: { size: [32, 32], resize: 'crop', color: 'rgb', mean: IMAGENET.mean, std: IMAGENET.std },
      output: { name: 'logits', softmax: true, classes: 10 },
    });
    // conv stem 8×3×3×3 at 16×16, two 8×8×3×3 convs at 16×16, the 10×8 head (batch norm folded by the export).
    t.equal(r.latest.macsPerImage, 216 * 256 + 2 * 576 * 256 + 80);
    t.equal(r.latest.parameters, 216 + 8 + 2 * (576 + 8) + 80 + 10);
    t.match((await app.inject('/v1/models/tabular')).json().latest, {
      classifier: false,
      notClassifierReason: /2 inputs/,
    });
    t.match((await app.inject('/v1/models/tabular')).json().versions[0], {
      state: 'READY',
      classifier: false,
      inputSize: null,
      classes: null,
    });
    t.equal((await app.inject('/v1/model')).json().code, 'MODEL_REQUIRED');
  });

  t.test('metrics carry model and version labels', async (t) => {
    const text = (await app.inject('/metrics')).body;
    t.match(text, /mixer_images_classified_total\{model="resnet",version="2"\} [1-9]/);
    t.match(text, /mixer_batch_size_count\{model="softmax1",version="1"\} [1-9]/);
    t.match(text, /mixer_model_info\{name="resnet",version="1",sha256="[0-9a-f]{64}",provider="cpu"\} 1/);
    t.notMatch(text, /mixer_model_info\{name="broken"/);
  });

  t.test('--default-model routes requests without ?model=; an unknown default is a start-up error', async (t) => {
    const a = await buildAppWith({
      modelRepository: root,
      defaultModel: 'gray',
      logger: false,
      threads: 1,
      maxBatch: 2,
    });
    t.teardown(() => a.close());
    const r = await a.inject({
      method: 'POST',
      url: '/classify',
      headers: { 'content-type': 'image/png' },
      payload: await png(pixels(28, 28, 1, 3), 28, 28, 1),
    });
    t.equal(r.json().model.name, 'gray');
    t.equal((await a.inject('/v1/model')).json().name, 'gray');
    await t.rejects(
      buildAppWith({ modelRepository: root, defaultModel: 'nope', logger: false, threads: 1 }),
      /--default-model "nope" is not in the repository/,
    );
  });

  t.test('single-model mode: a foreign model serves by itself; limits and bad files fail at start', async (t) => {
    const a = await buildAppWith({ modelPath: file('nhwc'), logger: false, threads: 1 });
    t.teardown(() => a.close());
    const px = pixels(32, 32, 3, 4);
    const r = await a.inject({
      method: 'POST',
      url: '/classify',
      headers: { 'content-type': 'image/png' },
      payload: await png(px, 32, 32, 3),
    });
    t.equal(r.statusCode, 200, r.body);
    t.equal(r.json().model.name, 'nhwc', 'nhwc/1/model.onnx is served as the model folder names it');
    await t.rejects(
      buildAppWith({ modelPath: file('resnet'), maxModelBytes: 4096, logger: false, threads: 1 }),
      /model\.onnx is 7\d\d\d bytes, over the 4096-byte limit \(raise --max-model-bytes \/ MAX_MODEL_BYTES\)/,
    );
    await t.rejects(buildAppWith({ modelPath: file('broken'), logger: false, threads: 1 }), {
      name: 'ModelLoadError',
      message: /is not a valid ONNX model/,
    });
    t.throws(
      () => resolveConfig({ modelPath: 'a.onnx', modelRepository: root }),
      /--model \(MODEL_PATH\) and --model-repository \(MODEL_REPOSITORY\) are exclusive/,
    );
    t.throws(
      () => resolveConfig({ modelRepository: root }, { MODEL_PATH: 'a.onnx' }),
      /--model \(MODEL_PATH\) and --model-repository/,
    );
    t.throws(() => resolveConfig({ modelControl: 'poll' }), /--model-control poll needs --model-repository/);
    t.ok(readFileSync(file('resnet')).length > 4096);
  });
}
