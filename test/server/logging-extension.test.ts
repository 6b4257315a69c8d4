// Triton's logging extension on a real server: GET/POST /v2/logging and gRPC LogSettings, run-time level and format changes seen in pino's output, bad bodies, scopes and rate limits.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { grpcEndpoint } from '../../src/server/grpc/server.js';
import { call, fails, grpcClient } from '../fixtures/grpc.js';
import { listenLocal } from '../fixtures/listen.js';
import { testApp, writeModel } from '../fixtures/server.js';

const dir = t.testdir();
const KEYS = { reader: 'reader-key-0123456789', admin: 'admin-key-0123456789', slow: 'slow-key-0123456789' };
const keyFile = path.join(dir, 'keys.txt');
writeFileSync(
  keyFile,
  [
    `${KEYS.reader} scopes=infer name=reader`,
    `${KEYS.admin} scopes=admin,infer name=admin`,
    `${KEYS.slow} scopes=admin rate=0.01/s burst=2 name=slow`,
  ].join('\n'),
);

/** Every line pino wrote, parsed. */
const lines: Record<string, unknown>[] = [];
const logStream = new Writable({
  write(chunk: Buffer, _enc, cb) {
    for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
    cb();
  },
});
const app = await testApp(t, {
  modelPath: writeModel(dir),
  apiKeyFile: keyFile,
  grpcPort: 0,
  host: '127.0.0.1',
  logger: true,
  logLevel: 'info',
  // Every request line is written (none sampled away), so each request's lines can be checked.
  logSuccesses: 1_000_000,
  logStream,
});
const { url } = await listenLocal(app);
const triton = grpcClient(grpcEndpoint(app)!.port, 'triton');
t.teardown(() => triton.close());

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const md = (key: string) => {
  const m = new grpc.Metadata();
  m.set('authorization', `Bearer ${key}`);
  return m;
};
const getLogging = (key = KEYS.admin) => fetch(`${url}/v2/logging`, { headers: bearer(key) });
const postLogging = (body: unknown, key = KEYS.admin) =>
  fetch(`${url}/v2/logging`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...bearer(key) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
/** The lines one request (by its x-request-id) wrote. */
async function linesOf(p: Promise<Response>): Promise<Record<string, unknown>[]> {
  const r = await p;
  await r.arrayBuffer();
  const id = r.headers.get('x-request-id');
  // The request's last line is written when the response has finished: wait for the stream to catch up.
  await new Promise((resolve) => setImmediate(resolve));
  return lines.filter((l) => l['reqId'] === id);
}
const metadata = () => fetch(`${url}/v2/models/mixer-test`, { headers: bearer(KEYS.reader) });

const DEFAULTS = {
  log_file: '',
  log_info: true,
  log_warning: true,
  log_error: true,
  log_verbose_level: 0,
  log_format: 'default',
};

t.test('GET /v2/logging answers Triton shape; the extension is listed', async (t) => {
  const r = await getLogging();
  t.equal(r.status, 200);
  t.same(await r.json(), DEFAULTS);
  const meta = (await (await fetch(`${url}/v2`, { headers: bearer(KEYS.reader) })).json()) as { extensions: string[] };
  t.ok(meta.extensions.includes('logging'));
});

t.test('a run-time level change takes effect on the next request', async (t) => {
  const quiet = await linesOf(metadata());
  t.same(
    quiet.map((l) => l['level']),
    [30],
    'at info: only the "request completed" line',
  );
  const r = await postLogging({ log_verbose_level: 1 });
  t.equal(r.status, 200);
  t.same(await r.json(), { ...DEFAULTS, log_verbose_level: 1 }, 'every setting is answered, one changed');
  const verbose = await linesOf(metadata());
  t.ok(
    verbose.some((l) => l['level'] === 20 && l['msg'] === 'incoming request'),
    'debug lines appear once verbosity is raised',
  );
  t.same(await (await getLogging()).json(), { ...DEFAULTS, log_verbose_level: 1 });

  t.equal((await postLogging({ log_verbose_level: 0, log_info: false })).status, 200);
  t.same(await linesOf(metadata()), [], 'with info off (pino warn), a success writes nothing');
  t.same(await (await getLogging()).json(), { ...DEFAULTS, log_info: false });
  const r404 = await linesOf(fetch(`${url}/v2/models/nope`, { headers: bearer(KEYS.reader) }));
  t.same(r404, [], 'nor does a 404 (an info line)');

  t.equal((await postLogging({ log_info: true, log_format: 'ISO8601' })).status, 200);
  const iso = await linesOf(metadata());
  t.equal(iso.length, 1);
  t.match(iso[0]!['time'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'ISO8601: an ISO time string');
  t.equal((await postLogging({ log_format: 'default' })).status, 200);
  t.type((await linesOf(metadata()))[0]!['time'], 'number', 'default: epoch milliseconds');
  t.same(await (await getLogging()).json(), DEFAULTS, 'back to the start');
  t.ok(
    lines.some((l) => l['msg'] === 'log settings changed'),
    'each change is logged',
  );
});

t.test('bad bodies: 400 with a JSON error naming the field; nothing changes', async (t) => {
  const cases: [body: unknown, message: RegExp][] = [
    [[], /must be a JSON object/],
    ['"verbose"', /must be a JSON object/],
    [{ log_file: '/var/log/mixer.log' }, /^log_file cannot be set/],
    [{ log_info: 'false' }, /^log_info must be true or false, got "false"/],
    [{ log_verbose_level: -1 }, /^log_verbose_level must be an integer ≥ 0, got -1/],
    [{ log_verbose_level: 1.5 }, /^log_verbose_level must be an integer/],
    [{ log_verbose_level: '1' }, /^log_verbose_level must be an integer/],
    [{ log_format: 'json' }, /^log_format must be one of "default", "ISO8601", got "json"/],
    [{ log_warnings: true }, /^unknown log setting "log_warnings"; the settings are log_file, log_info/],
    [{ log_warning: false }, /log_info true needs log_warning true/],
    [{ log_info: false, log_verbose_level: 3 }, /log_verbose_level > 0 needs log_info true/],
    [{ log_verbose_level: 2, log_file: 'x' }, /^log_file cannot be set/],
  ];
  for (const [body, message] of cases) {
    const r = await postLogging(body);
    t.equal(r.status, 400, JSON.stringify(body));
    t.match(r.headers.get('content-type'), /application\/json/);
    t.match(((await r.json()) as { error: string }).error, message, JSON.stringify(body));
  }
  // Triton's own example, `curl -d '{…}'`, sends its JSON as a form: read as JSON (and refused as JSON when it is not).
  const form = (body: string) =>
    fetch(`${url}/v2/logging`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...bearer(KEYS.admin) },
      body,
    });
  const formOk = await form('{"log_format":"default"}');
  t.equal(formOk.status, 200, 'a form-labelled JSON body is read as JSON');
  t.same(await formOk.json(), DEFAULTS);
  const formBad = await form('log_verbose_level=1');
  t.equal(formBad.status, 400, 'a real form is not JSON');
  t.match(await formBad.json(), { code: 'BAD_REQUEST' });
  const notJson = await postLogging('{"log_info": tru');
  t.equal(notJson.status, 400);
  t.type(((await notJson.json()) as { error: string }).error, 'string');
  t.same(await (await getLogging()).json(), DEFAULTS, 'no refused body changed anything, even in part');
  t.equal((await postLogging({ log_file: '' })).status, 200, 'log_file "" (as it is) is accepted');
});

t.test('admin scope: an infer key gets 403 FORBIDDEN, no key 401, over HTTP and gRPC', async (t) => {
  for (const r of [await getLogging(KEYS.reader), await postLogging({ log_verbose_level: 1 }, KEYS.reader)]) {
    t.equal(r.status, 403);
    t.match(await r.json(), { error: /lacks the "admin" scope/ });
  }
  t.equal((await fetch(`${url}/v2/logging`)).status, 401);
  const e = await fails(call(triton, 'LogSettings', { settings: {} }, md(KEYS.reader)));
  t.equal(e.code, grpc.status.PERMISSION_DENIED);
  t.same(e.metadata.get('mixer-code'), ['FORBIDDEN']);
  t.same(await (await getLogging()).json(), DEFAULTS, 'the refused change did not happen');
});

t.test('gRPC LogSettings reads and changes the same settings, in Triton message shape', async (t) => {
  const read = await call<{ settings: Record<string, Record<string, unknown>> }>(
    triton,
    'LogSettings',
    { settings: {} },
    md(KEYS.admin),
  );
  t.match(read.settings, {
    log_file: { string_param: '', parameter_choice: 'string_param' },
    log_info: { bool_param: true, parameter_choice: 'bool_param' },
    log_warning: { bool_param: true },
    log_error: { bool_param: true },
    log_verbose_level: { uint32_param: 0, parameter_choice: 'uint32_param' },
    log_format: { string_param: 'default' },
  });
  const set = await call<{ settings: Record<string, Record<string, unknown>> }>(
    triton,
    'LogSettings',
    { settings: { log_verbose_level: { uint32_param: 2 } } },
    md(KEYS.admin),
  );
  t.match(set.settings['log_verbose_level'], { uint32_param: 2 });
  t.same(await (await getLogging()).json(), { ...DEFAULTS, log_verbose_level: 2 }, 'HTTP sees the gRPC change');
  t.ok(
    (await linesOf(metadata())).some((l) => l['level'] === 20),
    'verbose level 2 (pino trace) writes the debug lines too',
  );
  const bad = await fails(
    call(triton, 'LogSettings', { settings: { log_file: { string_param: '/tmp/x' } } }, md(KEYS.admin)),
  );
  t.equal(bad.code, grpc.status.INVALID_ARGUMENT);
  t.match(bad.details, /^log_file cannot be set/);
  const wrongType = await fails(
    call(triton, 'LogSettings', { settings: { log_info: { uint32_param: 1 } } }, md(KEYS.admin)),
  );
  t.equal(wrongType.code, grpc.status.INVALID_ARGUMENT);
  t.match(wrongType.details, /^log_info must be true or false, got 1/);
  const empty = await fails(call(triton, 'LogSettings', { settings: { log_info: {} } }, md(KEYS.admin)));
  t.match(empty.details, /^log_info must be true or false, got null/, 'a value with no field set is refused');
  await call(triton, 'LogSettings', { settings: { log_verbose_level: { uint32_param: 0 } } }, md(KEYS.admin));
  t.same(await (await getLogging()).json(), DEFAULTS);
});

t.test('rate-limited like the other routes', async (t) => {
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) statuses.push((await getLogging(KEYS.slow)).status);
  t.same(statuses, [200, 200, 429], 'burst 2, then 429 RATE_LIMITED');
});
