// The page's routes through app.inject: CSP and cache headers, ETag/304, gzip, versioned assets, the training report route, --ui off.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { ConfigError, resolveConfig } from '../../src/server/config.js';
import { UI_DIR } from '../../src/server/ui/assets.js';
import { PAGE_CSP } from '../../src/server/ui/routes.js';
import { image, testApp, writeModel } from '../fixtures/server.js';

const dir = t.testdir();
const modelPath = writeModel(dir, 'tiny', 2, 'shop.onnx');
const reportDir = path.join(dir, 'shop-report');
mkdirSync(reportDir);
writeFileSync(path.join(reportDir, 'report.md'), '# Training report\n\n**Test accuracy: 12.5%**\n');
writeFileSync(
  path.join(reportDir, 'training.svg'),
  '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
);
writeFileSync(path.join(reportDir, 'train.log'), 'secret-ish log\n');
const app = await testApp(t, { modelPath });

const directives = (csp: string): Map<string, string> =>
  new Map(
    csp.split(';').map(
      (d) =>
        d
          .trim()
          .split(/\s+(.*)/s)
          .slice(0, 2) as [string, string],
    ),
  );

t.test('GET /: the page, with a strict CSP and revalidated caching', async (t) => {
  const r = await app.inject({ method: 'GET', url: '/' });
  t.equal(r.statusCode, 200);
  t.match(r.headers['content-type'], /^text\/html; charset=utf-8/);
  const csp = directives(String(r.headers['content-security-policy']));
  t.equal(csp.get('default-src'), "'none'");
  t.equal(csp.get('script-src'), "'self'", 'scripts from this origin only: no inline script, no eval');
  t.equal(csp.get('style-src'), "'self'", 'no inline styles or style attributes');
  t.equal(csp.get('connect-src'), "'self'");
  t.equal(csp.get('frame-ancestors'), "'none'");
  t.equal(r.headers['cache-control'], 'no-cache', 'the page revalidates, so a new release shows at once');
  t.equal(r.headers['x-content-type-options'], 'nosniff');
  t.match(r.headers['etag'], /^"[\w-]{22}"$/);
  t.equal(r.headers['content-security-policy'], PAGE_CSP);

  const again = await app.inject({ method: 'GET', url: '/', headers: { 'if-none-match': String(r.headers['etag']) } });
  t.equal(again.statusCode, 304, 'If-None-Match → 304');
  t.equal(again.body, '');

  const gz = await app.inject({ method: 'GET', url: '/', headers: { 'accept-encoding': 'br, gzip;q=0.8' } });
  t.equal(gz.headers['content-encoding'], 'gzip');
  t.equal(gunzipSync(gz.rawPayload).toString('utf8'), r.body, 'gzip carries the same page');
  t.ok(gz.rawPayload.length < r.rawPayload.length / 1.5, `gzip: ${gz.rawPayload.length} B vs ${r.rawPayload.length} B`);
  t.equal(gz.headers['vary'], 'accept-encoding');
  t.not(gz.headers['etag'], r.headers['etag'], 'the gzip form has its own ETag');
  t.equal(
    (
      await app.inject({
        method: 'GET',
        url: '/',
        headers: { 'accept-encoding': 'gzip', 'if-none-match': String(gz.headers['etag']) },
      })
    ).statusCode,
    304,
  );
  const noGzip = await app.inject({ method: 'GET', url: '/', headers: { 'accept-encoding': 'gzip;q=0' } });
  t.notOk(noGzip.headers['content-encoding'], 'gzip;q=0 is honoured');

  const head = await app.inject({ method: 'HEAD', url: '/' });
  t.equal(head.statusCode, 200);
});

t.test('assets: versioned URLs cached for good, others revalidated, nothing else served', async (t) => {
  const html = (await app.inject({ method: 'GET', url: '/' })).body;
  const refs = [...html.matchAll(/(?:src|href)="(\/ui\/static\/[^"]+)"/g)].map((m) => m[1]!);
  t.ok(refs.length >= 3, `the page names its files: ${refs.join(' ')}`);
  for (const ref of refs) {
    const r = await app.inject({ method: 'GET', url: ref });
    t.equal(r.statusCode, 200, ref);
    t.equal(r.headers['cache-control'], 'public, max-age=31536000, immutable', `${ref} is immutable`);
  }
  const js = refs.find((u) => u.endsWith('.js'))!;
  t.match((await app.inject({ method: 'GET', url: js })).headers['content-type'], /^text\/javascript/);
  const old = await app.inject({ method: 'GET', url: js.replace(/\/static\/\w+\//, '/static/000000000000/') });
  t.equal(old.statusCode, 200, 'an older page still gets the file');
  t.equal(old.headers['cache-control'], 'no-cache', '… but not cached for good');
  for (const bad of [
    '/ui/static/x/nope.js',
    '/ui/static/x/..%2F..%2Fpackage.json',
    '/ui/static/x/%2e%2e',
    '/ui/static/x/index.html',
  ]) {
    const r = await app.inject({ method: 'GET', url: bad });
    t.equal(r.statusCode, 404, bad);
    t.equal(r.json().code, 'NOT_FOUND');
  }
});

t.test('the shipped files: no inline code, and nothing parsed as HTML', async (t) => {
  const files = readdirSync(UI_DIR);
  for (const f of files.filter((f) => f.endsWith('.html'))) {
    const html = readFileSync(path.join(UI_DIR, f), 'utf8');
    t.notMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, `${f}: no inline <script>`);
    t.notMatch(html, /<style/i, `${f}: no <style>`);
    t.notMatch(html, /\sstyle=|\son[a-z]+=/i, `${f}: no style or on* attributes`);
    t.notMatch(html, /https?:\/\//i, `${f}: nothing from another origin`);
  }
  for (const f of files.filter((f) => f.endsWith('.js'))) {
    const js = readFileSync(path.join(UI_DIR, f), 'utf8');
    t.notMatch(
      js,
      /innerHTML|outerHTML|insertAdjacentHTML|document\.write|DOMParser|createContextualFragment|\beval\(|new Function/,
      `${f}: builds the DOM with textContent only`,
    );
    t.notMatch(
      js,
      /localStorage|sessionStorage|document\.cookie|indexedDB/,
      `${f}: keeps nothing (the API key stays in memory)`,
    );
  }
  const weight = files.reduce((n, f) => n + readFileSync(path.join(UI_DIR, f)).length, 0);
  t.ok(weight < 64 * 1024, `all the page's files: ${weight} B`);
});

t.test('GET /ui/model and the training report beside the model', async (t) => {
  const page = await app.inject({ method: 'GET', url: '/ui/model' });
  t.equal(page.statusCode, 200);
  t.equal(page.headers['content-security-policy'], PAGE_CSP);
  const md = await app.inject({ method: 'GET', url: '/ui/model/report/report.md' });
  t.equal(md.statusCode, 200);
  t.match(md.headers['content-type'], /^text\/markdown/);
  t.match(md.body, 'Test accuracy: 12.5%');
  const svg = await app.inject({ method: 'GET', url: '/ui/model/report/training.svg?model=shop' });
  t.equal(svg.statusCode, 200);
  t.equal(svg.headers['content-type'], 'image/svg+xml');
  t.match(svg.headers['content-security-policy'], /sandbox/, 'a report SVG opened directly runs no script');
  t.notMatch(svg.headers['content-security-policy'], /script-src/);
  for (const [url, code] of [
    ['/ui/model/report/train.log', 'NOT_FOUND'],
    ['/ui/model/report/..%2Fshop.onnx', 'NOT_FOUND'],
    ['/ui/model/report/.report.md', 'NOT_FOUND'],
    ['/ui/model/report/absent.md', 'NOT_FOUND'],
    ['/ui/model/report/report.md?model=other', 'MODEL_NOT_FOUND'],
  ] as const) {
    const r = await app.inject({ method: 'GET', url });
    t.equal(r.statusCode, 404, url);
    t.equal(r.json().code, code, url);
  }
  const bare = await testApp(t, { modelPath: writeModel(dir, 'tiny', 3, 'plain.onnx') });
  const none = await bare.inject({ method: 'GET', url: '/ui/model/report/report.md' });
  t.equal(none.statusCode, 404, 'no report beside the model: 404');
});

t.test(
  "a training run's model.onnx: served under the run's name, its report.md and plot found beside it",
  async (t) => {
    const run = path.join(dir, 'runs', 'pets');
    mkdirSync(run, { recursive: true });
    const runModel = writeModel(run, 'tiny', 4, 'model.onnx');
    writeFileSync(path.join(run, 'report.md'), '# Training report\n\n**Validation accuracy: 97.5%**\n');
    writeFileSync(path.join(run, 'training.svg'), '<svg xmlns="http://www.w3.org/2000/svg"></svg>');
    writeFileSync(path.join(run, 'metrics.jsonl'), '{}\n');
    const a = await testApp(t, { modelPath: runModel });
    t.equal((await a.inject({ method: 'GET', url: '/v1/model' })).json().name, 'pets');
    const md = await a.inject({ method: 'GET', url: '/ui/model/report/report.md' });
    t.equal(md.statusCode, 200, 'report.md beside model.onnx');
    t.match(md.body, 'Validation accuracy: 97.5%');
    t.equal((await a.inject({ method: 'GET', url: '/ui/model/report/training.svg' })).statusCode, 200, 'the plot');
    t.equal((await a.inject({ method: 'GET', url: '/ui/model/report/metrics.jsonl' })).statusCode, 404, 'not the rest');
  },
);

t.test("/v1/model reports the model folder's config.json as applied", async (t) => {
  const repo = path.join(dir, 'repo');
  mkdirSync(path.join(repo, 'shop', '1'), { recursive: true });
  writeModel(path.join(repo, 'shop', '1'), 'tiny', 5, 'model.onnx');
  writeFileSync(path.join(repo, 'shop', 'config.json'), JSON.stringify({ max_batch_size: 4, softmax: false }));
  mkdirSync(path.join(repo, 'plain', '1'), { recursive: true });
  writeModel(path.join(repo, 'plain', '1'), 'tiny', 6, 'model.onnx');
  const a = await testApp(t, { modelRepository: repo });
  const shop = (await a.inject({ method: 'GET', url: '/v1/model?model=shop' })).json();
  t.same(shop.configFile, { max_batch_size: 4, softmax: false });
  t.equal(shop.config.num_classes, 10, "beside the graph's own mixer.config");
  t.equal((await a.inject({ method: 'GET', url: '/v1/model?model=plain' })).json().configFile, null);
});

t.test('Server-Timing on API answers; UI routes stay out of the OpenAPI document', async (t) => {
  const r = await app.inject({
    method: 'POST',
    url: '/classify',
    payload: await image('png'),
    headers: { 'content-type': 'image/png' },
  });
  t.equal(r.statusCode, 200);
  t.match(r.headers['server-timing'], /^app;dur=\d+\.\d$/);
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
  t.same(
    Object.keys(doc.paths).filter((p) => p === '/' || p.startsWith('/ui')),
    [],
  );
});

t.test('--ui off / UI=off removes the page', async (t) => {
  t.equal(resolveConfig({}).ui, 'on', 'on by default');
  t.equal(resolveConfig({}, { UI: 'off' }).ui, 'off');
  t.throws(() => resolveConfig({}, { UI: 'maybe' }), ConfigError);
  const off = await testApp(t, { modelPath, ui: 'off' });
  for (const url of ['/', '/ui/model', '/ui/model/report/report.md', '/ui/static/x/classify.js']) {
    const r = await off.inject({ method: 'GET', url });
    t.equal(r.statusCode, 404, url);
    t.equal(r.json().code, 'NOT_FOUND', url);
  }
  t.equal((await off.inject({ method: 'GET', url: '/v1/model' })).statusCode, 200, 'the API stays');
});
