// The ecosystem's own checkers on what the service serves: promtool on /metrics, @readme/openapi-parser (strict) on /openapi.json, examples against their schemas; per-image and per-model metrics.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { compileErrors, dereference, validate } from '@readme/openapi-parser';
import { Ajv } from 'ajv';
import t from 'tap';
import { noise, testApp, writeModel } from '../fixtures/server.js';

const modelPath = writeModel(t.testdir());
const app = await testApp(t, { modelPath, maxBatch: 8 });
const base = '/v2/models/mixer-test';

/** promtool: $PROMTOOL (CI sets it; then it must exist), else in .tools/ (where scripts/setup-test-deps.sh unpacks it) or on PATH. */
function promtool(): string | null {
  const given = process.env['PROMTOOL'];
  if (given) return given;
  const local = path.resolve(import.meta.dirname, '../../.tools/prometheus/usr/bin/promtool');
  if (existsSync(local)) return local;
  return spawnSync('promtool', ['--version']).status === 0 ? 'promtool' : null;
}

const metric = (text: string, name: string, labels = ''): number => {
  const re = new RegExp(`^${name}\\{?${labels.replace(/[{}]/g, '')}[^\\n]*?\\}? (\\S+)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : NaN;
};

t.test('/metrics passes promtool check metrics; queue wait counts images; success and failure per model', async (t) => {
  const before = (await app.inject('/metrics')).body;
  const px = Array.from(noise(32, 96, 3));
  const ok = await app.inject({
    method: 'POST',
    url: `${base}/infer`,
    payload: { inputs: [{ name: 'pixels', shape: [3, 32, 32, 3], datatype: 'UINT8', data: px }] },
  });
  t.equal(ok.statusCode, 200);
  const bad = await app.inject({
    method: 'POST',
    url: `${base}/infer`,
    payload: { inputs: [{ name: 'pixels', shape: [1, 32, 32, 3], datatype: 'UINT8', data: [1] }] },
  });
  t.equal(bad.statusCode, 400);
  const text = (await app.inject('/metrics')).body;
  const labels = 'model="mixer-test",version="1"';
  t.equal(
    metric(text, 'mixer_queue_wait_seconds_count', labels) -
      (metric(before, 'mixer_queue_wait_seconds_count', labels) || 0),
    3,
    'one queue-wait observation per image',
  );
  t.equal(
    metric(text, 'mixer_inference_request_success_total', labels) -
      (metric(before, 'mixer_inference_request_success_total', labels) || 0),
    1,
  );
  t.equal(
    metric(text, 'mixer_inference_request_failure_total', labels) -
      (metric(before, 'mixer_inference_request_failure_total', labels) || 0),
    1,
  );
  t.notMatch(text, /^# TYPE \S+_total gauge$/m, 'no gauge ends in _total');
  const tool = promtool();
  if (!tool) {
    t.skip(
      "promtool not found: run scripts/setup-test-deps.sh (it unpacks Debian's prometheus package into .tools/), put it on PATH, or set PROMTOOL",
      () => {},
    );
    return;
  }
  const r = spawnSync(tool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  t.equal(r.status, 0, `promtool check metrics: ${(r.stdout + r.stderr).trim() || 'no problems'}`);
  t.equal((r.stdout + r.stderr).trim(), '', 'promtool prints nothing');
  // The check can fail: a gauge named like a counter is reported.
  const broken = spawnSync(tool, ['check', 'metrics'], {
    input: '# HELP x_total y\n# TYPE x_total gauge\nx_total 1\n',
    encoding: 'utf8',
  });
  t.not(broken.status, 0, 'promtool flags a _total gauge');
  t.ok(execFileSync(tool, ['--version'], { encoding: 'utf8' }).includes('promtool'));
});

t.test(
  '/openapi.json passes @readme/openapi-parser with every rule an error; examples fit their schemas',
  async (t) => {
    const doc = (await app.inject('/openapi.json')).json();
    const r = await validate(structuredClone(doc));
    t.ok(r.valid, r.valid ? 'valid' : compileErrors(r));
    t.same(r.warnings, [], 'no warnings');
    t.ok(doc.paths['/openapi.json']?.get, '/openapi.json documents itself');
    // Every path parameter is in its path and vice versa (the validator's rule), for the unversioned v2 paths too.
    for (const p of [
      '/v2/models/{name}',
      '/v2/models/{name}/ready',
      '/v2/models/{name}/infer',
      '/v2/models/{name}/config',
      '/v2/models/{name}/stats',
    ]) {
      const op = doc.paths[p].get ?? doc.paths[p].post;
      t.same(
        op.parameters.filter((x: { in: string }) => x.in === 'path').map((x: { name: string }) => x.name),
        ['name'],
        `${p}: only {name}`,
      );
    }
    const ajv = new Ajv({ strict: false, allErrors: true });
    let checked = 0;
    const deref = (await dereference(structuredClone(doc))) as typeof doc;
    for (const [p, ops] of Object.entries(
      deref.paths as Record<
        string,
        Record<
          string,
          { responses?: Record<string, { content?: Record<string, { schema?: object; example?: unknown }> }> }
        >
      >,
    )) {
      for (const [method, op] of Object.entries(ops)) {
        for (const [status, res] of Object.entries(op.responses ?? {})) {
          const c = res.content?.['application/json'];
          if (!c || c.example === undefined) continue;
          const ok = ajv.validate(c.schema!, c.example);
          t.ok(ok, `${method.toUpperCase()} ${p} ${status}: example fits the schema ${ok ? '' : ajv.errorsText()}`);
          checked++;
        }
      }
    }
    t.ok(checked >= 12, `${checked} response examples checked`);
    // And a real answer of the same route fits the same schema as its example.
    const real = (await app.inject(base)).json();
    t.ok(ajv.validate(deref.paths['/v2/models/{name}'].get.responses['200'].content['application/json'].schema, real));
  },
);
