// Triton's Python gRPC client path: stubs generated at test time by grpc_tools.protoc from proto/triton/*.proto call a real server (health, metadata, ModelConfig, ModelInfer, ModelStreamInfer with a bad request, statistics, index, LogSettings, TraceSetting); tensors match REST v2 binary byte for byte.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { grpcEndpoint } from '../../src/server/grpc/server.js';
import { PYTHON, python, pythonMissing } from '../fixtures/oracle/torch.js';
import { noise, testApp, writeModel } from '../fixtures/server.js';

// python3-grpcio and python3-grpc-tools (scripts/setup-test-deps.sh) give grpc, grpc_tools and google.protobuf.
const missing = pythonMissing(['grpc', 'grpc_tools', 'google.protobuf']);
if (missing) {
  t.plan(0, `${missing}: install python3-grpcio and python3-grpc-tools (scripts/setup-test-deps.sh) to run this test`);
  process.exit(0);
}

const ROOT = path.resolve(import.meta.dirname, '../..');
const dir = t.testdir();
const root = path.join(dir, 'models');
mkdirSync(path.join(root, 'mixer', '1'), { recursive: true });
writeModel(path.join(root, 'mixer', '1'), 'tiny', 1, 'model.onnx');
writeFileSync(path.join(root, 'mixer', 'config.json'), JSON.stringify({ version_policy: { all: {} } }));
const KEY = 'python-key-0123456789';
writeFileSync(path.join(dir, 'keys.txt'), `${KEY} scopes=infer,admin\n`);
const app = await testApp(t, {
  modelRepository: root,
  apiKeyFile: path.join(dir, 'keys.txt'),
  maxBatch: 4,
  grpcPort: 0,
  host: '127.0.0.1',
});
await app.listen({ port: 0, host: '127.0.0.1' });

const rows = 2;
const pixels = noise(32, 32 * rows, 5);
writeFileSync(path.join(dir, 'pixels.bin'), pixels);
const stubs = path.join(dir, 'stubs');
mkdirSync(stubs);
// Debian's grpc_tools bundles protoc 3.5.1; the files in proto/triton/ use nothing newer (no proto3 `optional`).
await python([
  '-m',
  'grpc_tools.protoc',
  `-I${path.join(ROOT, 'proto/triton')}`,
  `--python_out=${stubs}`,
  `--grpc_python_out=${stubs}`,
  path.join(ROOT, 'proto/triton/grpc_service.proto'),
  path.join(ROOT, 'proto/triton/model_config.proto'),
]);

interface Answer {
  id: string;
  model_name: string;
  model_version: string;
  outputs: { name: string; datatype: string; shape: string[] }[];
  raw: string[];
}
const out = JSON.parse(
  await python([
    path.join(ROOT, 'test/fixtures/triton_client.py'),
    stubs,
    String(grpcEndpoint(app)!.port),
    KEY,
    'mixer',
    path.join(dir, 'pixels.bin'),
    String(rows),
  ]),
) as {
  live: boolean;
  ready: boolean;
  metadata: Record<string, unknown>;
  config: Record<string, unknown>;
  config_typed: Record<string, unknown>;
  infer: Answer;
  stream: (Answer & { error_message: string })[];
  config_missing: string;
  statistics: { model_stats: { version: string; inference_stats: { success: { count: string } } }[] };
  index: { models: { name: string; version: string; state: string }[] };
  log_read: { settings: Record<string, Record<string, unknown>> };
  log_set: { settings: Record<string, Record<string, unknown>> };
  log_bad: string;
  trace_read: { settings: Record<string, { value?: string[] }> };
  trace_set: { settings: Record<string, { value?: string[] }> };
};

/** The same request over REST v2 with binary input and outputs: each output's bytes. */
async function restBinary(): Promise<Record<string, Buffer>> {
  const json = Buffer.from(
    JSON.stringify({
      inputs: [
        {
          name: 'pixels',
          shape: [rows, 32, 32, 3],
          datatype: 'UINT8',
          parameters: { binary_data_size: pixels.length },
        },
      ],
      parameters: { binary_data_output: true },
    }),
  );
  const r = await app.inject({
    method: 'POST',
    url: '/v2/models/mixer/infer',
    headers: { 'inference-header-content-length': String(json.length), authorization: `Bearer ${KEY}` },
    payload: Buffer.concat([json, pixels]),
  });
  const len = Number(r.headers['inference-header-content-length']);
  const head = JSON.parse(r.rawPayload.subarray(0, len).toString()) as {
    outputs: { name: string; parameters: { binary_data_size: number } }[];
  };
  const bytes: Record<string, Buffer> = {};
  let o = len;
  for (const x of head.outputs) {
    bytes[x.name] = r.rawPayload.subarray(o, o + x.parameters.binary_data_size);
    o += x.parameters.binary_data_size;
  }
  return bytes;
}

t.test('health, metadata and ModelConfig through the Python stubs', async (t) => {
  t.equal(out.live, true);
  t.equal(out.ready, true);
  t.match(out.metadata, { name: 'mixer', platform: 'onnxruntime_onnx', versions: ['1'] });
  // MessageToDict: 64-bit integers as strings, enums by name, defaults (false, 0, FORMAT_NONE) left out.
  t.same(out.config, {
    name: 'mixer',
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    version_policy: { all: {} },
    max_batch_size: 4,
    input: [{ name: 'pixels', data_type: 'TYPE_UINT8', dims: ['32', '32', '3'] }],
    output: [
      { name: 'logits', data_type: 'TYPE_FP32', dims: ['10'] },
      { name: 'probabilities', data_type: 'TYPE_FP32', dims: ['10'] },
    ],
    instance_group: [{ name: 'mixer_0', kind: 'KIND_CPU', count: 1 }],
    default_model_filename: 'model.onnx',
    dynamic_batching: { max_queue_delay_microseconds: '2000' },
    model_transaction_policy: {},
    response_cache: {},
  });
  // Triton's enum numbers: TYPE_UINT8 = 2, TYPE_FP32 = 11, KIND_CPU = 2.
  t.same(out.config_typed, {
    input_data_type: 2,
    output_data_type: 11,
    dims: [32, 32, 3],
    scheduling: 'dynamic_batching',
    policy: 'all',
    kind: 2,
  });
  t.equal(out.config_missing, 'NOT_FOUND');
});

t.test('ModelInfer and ModelStreamInfer answer byte for byte what REST v2 binary answers', async (t) => {
  const rest = await restBinary();
  const check = (a: Answer, what: string) => {
    t.same(
      a.outputs.map((o) => [o.name, o.datatype, o.shape.map(Number)]),
      [
        ['logits', 'FP32', [rows, 10]],
        ['probabilities', 'FP32', [rows, 10]],
      ],
      `${what}: outputs`,
    );
    t.ok(Buffer.from(a.raw[0]!, 'base64').equals(rest['logits']!), `${what}: logits bytes`);
    t.ok(Buffer.from(a.raw[1]!, 'base64').equals(rest['probabilities']!), `${what}: probabilities bytes`);
  };
  check(out.infer, 'ModelInfer');
  t.equal(out.infer.id, 'unary-1');
  t.same(
    out.stream.map((a) => a.id),
    ['s1', 's2-bad', 's3', 's4-missing', 's5'],
    'one answer per request, ids echoed, in order',
  );
  t.same(
    out.stream.map((a) => a.error_message === ''),
    [true, false, true, false, true],
    'the bad requests fail alone; the stream goes on',
  );
  t.match(out.stream[1]!.error_message, /pixels/);
  t.match(out.stream[3]!.error_message, /no-such-model/);
  for (const i of [0, 2, 4]) check(out.stream[i]!, `stream answer ${out.stream[i]!.id}`);
});

t.test('ModelStatistics and RepositoryIndex through the Python stubs', async (t) => {
  const s = out.statistics.model_stats;
  t.equal(s.length, 1);
  // ModelInfer and the stream's three good requests (the REST call came after the script).
  t.equal(Number(s[0]!.inference_stats.success.count), 4);
  t.same(out.index.models, [{ name: 'mixer', version: '1', state: 'READY' }]);
});

t.test(
  "LogSettings and TraceSetting through the Python stubs: Triton's message shapes, the HTTP routes agree",
  async (t) => {
    // A oneof member that is set is kept by MessageToDict even at its default value.
    t.same(out.log_read.settings['log_verbose_level'], { uint32_param: 0 });
    t.same(out.log_read.settings['log_format'], { string_param: 'default' });
    t.same(out.log_set.settings['log_format'], { string_param: 'ISO8601' });
    t.equal(out.log_bad, 'INVALID_ARGUMENT');
    const auth = { authorization: `Bearer ${KEY}` };
    const logging = (await app.inject({ url: '/v2/logging', headers: auth })).json();
    t.equal(logging.log_format, 'ISO8601', 'HTTP sees the change');
    t.same(out.trace_read.settings['trace_level'], { value: ['OFF'] }, 'tracing is off in this server');
    t.same(out.trace_set.settings['trace_rate'], { value: ['7'] });
    const model = (await app.inject({ url: '/v2/models/mixer/trace/setting', headers: auth })).json();
    t.equal(model.trace_rate, '7', "HTTP sees the model's trace_rate");
  },
);

t.comment(`python: ${PYTHON}`);
