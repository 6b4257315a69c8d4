// The page in headless Chromium against real services: uploads, answers equal to POST /classify, errors, keyboard, phone width,
// model switching and API keys (a `mixer serve --model-repository --api-key` process), and the README screenshot.
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'puppeteer-core';
import sharp from 'sharp';
import t from 'tap';
import { CHROMIUM, drawnPhotos, launchChromium } from '../fixtures/browser.js';
import { testApp } from '../fixtures/server.js';

const started = performance.now();
const markup = [
  '<img src=x onerror="window.__owned=1">',
  '<b>bold</b> & <i>co</i>',
  ...Array.from({ length: 8 }, (_, i) => `class_${i + 2}`),
];

const ROOT = path.resolve(import.meta.dirname, '../..');
// The headline of the shipped model's report, as the page must show it (the figure markers are HTML comments, hidden).
const SHIPPED_ACCURACY = /\*\*(Test accuracy: \d+\.\d+%)\*\*/.exec(
  readFileSync(path.join(ROOT, 'models/mixer-cifar10-report/report.md'), 'utf8').replace(/<!--[\s\S]*?-->/g, ''),
)![1]!;
// Run the CLI from sources with the same TypeScript loader as this test.
/** The compiled CLI (`npm test` builds dist/ first): starting it does not compile TypeScript again. */
const CLI = path.join(ROOT, 'dist/cli/main.js');
const KEY = 'k-3f9a1c2e';

/** `mixer <args>` as a child process; resolves with its output once it exits (or once `until` matches it). */
function mixer(args: string[], until?: RegExp): Promise<{ child: ChildProcess; out: string }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, THREADS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const seen = (d: Buffer): void => {
      out += d.toString();
      if (until?.test(out)) resolve({ child, out });
    };
    child.stdout!.on('data', seen);
    child.stderr!.on('data', seen);
    child.once('exit', (code) =>
      until || code !== 0 ? reject(new Error(`mixer ${args[0]} exited ${code}:\n${out}`)) : resolve({ child, out }),
    );
  });
}

/**
 * The service as `mixer serve --model` runs it, with the shipped model; and `mixer serve --model-repository --api-key`
 * over a repository of three models, each in its folder with version 1: the shipped model (its training report beside
 * it), a tiny model built by `mixer build --preset tiny` whose labels.txt holds markup (and a config.json), and another tiny one (unloaded
 * during the test). maxBatch 1: float32 results depend slightly on the batch an image shares, so the page's requests
 * and the test's own POST /classify must run in the same (single-image) batches to be compared exactly.
 */
async function services(): Promise<{ app: FastifyInstance; repoBase: string }> {
  const repo = path.join(t.testdir(), 'repository');
  const shipped = path.join(ROOT, 'models/mixer-cifar10.onnx');
  mkdirSync(path.join(repo, 'mixer-cifar10/1'), { recursive: true });
  copyFileSync(shipped, path.join(repo, 'mixer-cifar10/1/model.onnx'));
  cpSync(path.join(ROOT, 'models/mixer-cifar10-report'), path.join(repo, 'mixer-cifar10/1/report'), {
    recursive: true,
  });
  for (const [name, seed] of [
    ['tiny-markup', '5'],
    ['busy', '6'],
  ] as const) {
    mkdirSync(path.join(repo, name, '1'), { recursive: true });
    await mixer(['build', '--preset', 'tiny', '--seed', seed, '--out', path.join(repo, name, '1/model.onnx')]);
    writeFileSync(path.join(repo, name, 'labels.txt'), `${markup.join('\n')}\n`);
  }
  writeFileSync(path.join(repo, 'tiny-markup', 'config.json'), '{"threads": 1}\n');
  const [app, served] = await Promise.all([
    testApp(t, { maxBatch: 1 }),
    mixer(
      [
        'serve',
        '--model-repository',
        repo,
        '--api-key',
        KEY,
        '--model-control',
        'explicit',
        '--max-batch',
        '1',
        '--port',
        '0',
        '--host',
        '127.0.0.1',
      ],
      /"msg":"ready"/,
    ),
  ]);
  t.teardown(() => void served.child.kill('SIGTERM'));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = Number(/"port":(\d+)/.exec(served.out.split('\n').find((l) => l.includes('"msg":"ready"'))!)![1]);
  t.comment(`services ready in ${(performance.now() - started).toFixed(0)} ms`);
  return { app, repoBase: `http://127.0.0.1:${port}` };
}

const skip = existsSync(CHROMIUM) ? null : `${CHROMIUM} is not installed (Debian: apt-get install -y chromium)`;
// Chromium starts while the services load.
const [launched, servers] = skip ? [{ skip }, null] : await Promise.all([launchChromium(), services()]);
if ('skip' in launched) {
  console.log(`# browser test skipped: ${launched.skip}`);
  t.test('the page in headless Chromium', { skip: launched.skip }, () => {});
} else {
  const { browser, close } = launched;
  t.teardown(close);
  t.comment(`chromium ${await browser.version()} ready at ${(performance.now() - started).toFixed(0)} ms`);
  await run(browser, servers!.app, servers!.repoBase);
}

interface Shown {
  name: string;
  state: string;
  meta: string;
  error: string;
  preds: { label: string; text: string; pct: string; probability: number; index: number }[];
}

interface Classified {
  model: { name: string };
  results: { filename: string | null; predictions: { label: string; index: number; probability: number }[] }[];
}

/** What the result cards show, read from the DOM as text. */
function cards(page: Page): Promise<Shown[]> {
  return page.$$eval('#results > li.card', (lis) =>
    lis.map((li) => ({
      name: li.querySelector('.name')?.textContent ?? '',
      state: (li as HTMLElement).dataset['state'] ?? '',
      meta: li.querySelector('.meta')?.textContent ?? '',
      error: li.querySelector('.error')?.textContent ?? '',
      preds: [...li.querySelectorAll('li.pred')].map((p) => ({
        label: (p as HTMLElement).dataset['label'] ?? '',
        text: p.querySelector('.label')?.textContent ?? '',
        pct: p.querySelector('.pct')?.textContent ?? '',
        probability: Number((p as HTMLElement).dataset['probability']),
        index: Number((p as HTMLElement).dataset['index']),
      })),
    })),
  );
}

/** Waits until `n` cards exist and none is pending. */
async function settled(page: Page, n: number, timeout = 15_000): Promise<Shown[]> {
  await page.waitForFunction(
    (n) => {
      const c = [...document.querySelectorAll('#results > li.card')] as HTMLElement[];
      return c.length === n && c.every((x) => x.dataset['state'] === 'done' || x.dataset['state'] === 'error');
    },
    { timeout },
    n,
  );
  return cards(page);
}

async function post(
  base: string,
  files: { name: string; type: string; data: Buffer }[],
  query: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  const form = new FormData();
  for (const f of files) form.append('image', new Blob([new Uint8Array(f.data)], { type: f.type }), f.name);
  return fetch(`${base}/classify${query}`, { method: 'POST', body: form, headers });
}

const percent = (p: number): string => `${(p * 100).toFixed(1)}%`;

async function run(browser: Browser, app: FastifyInstance, front: string): Promise<void> {
  // Beside the repository in the same test folder (a second t.testdir() would empty it).
  const dir = path.join(t.testdirName, 'files');
  mkdirSync(dir, { recursive: true });
  const photos = await drawnPhotos();
  const files: Record<string, string> = {};
  const write = (name: string, data: Buffer): void => {
    files[name] = path.join(dir, name);
    writeFileSync(files[name], data);
  };
  for (const p of photos) write(p.name, p.data);
  const svg = Buffer.from(
    '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><rect width="40" height="40" fill="#3a7"/></svg>',
  );
  write('drawing.svg', svg);
  write('notes.txt', Buffer.from('not an image at all\n'.repeat(20)));
  // A 20 MB photo: larger than the default 10 MB body limit.
  const big = await sharp({
    create: {
      width: 2600,
      height: 2600,
      channels: 3,
      background: '#808080',
      noise: { type: 'gaussian', mean: 128, sigma: 60 },
    },
  })
    .png({ compressionLevel: 0 })
    .toBuffer();
  write('huge.png', big);

  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  t.test('the page with the shipped model: uploads, answers, errors, keyboard, phone width, screenshot', async (t) => {
    const tStart = performance.now();
    const page = await browser.newPage();
    t.teardown(() => page.close());
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${(e as Error).message}`));
    page.on('console', (m) => {
      if (/Content.Security.Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    await page.setViewport({ width: 900, height: 900 });

    // First load: bytes over the wire (headers + bodies, as Chromium counts them).
    const cdp = await page.createCDPSession();
    await cdp.send('Network.enable');
    const wire = new Map<string, number>();
    const urls = new Map<string, string>();
    cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
    cdp.on('Network.loadingFinished', (e) => wire.set(e.requestId, e.encodedDataLength));
    await page.goto(`${base}/`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('#model:not([disabled])');
    const firstLoad = [...wire.values()].reduce((a, b) => a + b, 0);
    const loaded = [...wire.keys()].map((id) => `${new URL(urls.get(id) ?? '').pathname} ${wire.get(id)} B`);
    t.comment(`first load: ${firstLoad} bytes over the wire in ${wire.size} responses (${loaded.join(', ')})`);
    t.ok(firstLoad < 30_000, `first load is small (${firstLoad} B < 30 kB)`);
    await cdp.send('Network.disable');

    const option = await page.$eval('#model', (s) => (s as HTMLSelectElement).selectedOptions[0]?.textContent ?? '');
    t.match(
      option,
      /^mixer-cifar10 v1 · 32×32 px · 10 labels$/,
      'the picker lists the model from GET /v1/models with size and labels count',
    );

    // Every control has a label, and Tab reaches each one.
    const unlabelled = await page.$$eval('input, select, button', (els) =>
      els
        .filter(
          (e) =>
            !(e as HTMLInputElement).hidden &&
            (e as HTMLInputElement).labels?.length === 0 &&
            !e.getAttribute('aria-label') &&
            !(e.textContent ?? '').trim(),
        )
        .map((e) => e.outerHTML),
    );
    t.same(unlabelled, [], 'every control is labelled');
    const reached = new Set<string>();
    for (let i = 0; i < 8; i++) {
      await page.keyboard.press('Tab');
      reached.add(await page.evaluate(() => document.activeElement?.id ?? document.activeElement?.tagName ?? ''));
    }
    for (const id of ['model', 'top', 'files']) t.ok(reached.has(id), `Tab reaches #${id}`);

    // Two images through the file input; what the page shows equals what POST /classify answers.
    const tUpload = performance.now();
    const input = (await page.$('input#files'))!;
    await input.uploadFile(files['boat.png']!, files['car.jpg']!);
    const shown = await settled(page, 2);
    t.comment(`two images classified and shown in ${(performance.now() - tUpload).toFixed(0)} ms`);
    // One request per image, as the page sends them (a request's images run as one batch, and float32 results depend
    // slightly on the batch size).
    const api: Classified = { model: { name: '' }, results: [] };
    for (const p of photos) {
      const r = await post(base, [p], '?top=5');
      t.equal(r.status, 200);
      api.results.push(...((await r.json()) as Classified).results);
    }
    t.same(
      shown.map((s) => s.name),
      ['boat.png', 'car.jpg'],
      'cards in upload order',
    );
    for (const [i, s] of shown.entries()) {
      const want = api.results[i]!.predictions;
      t.equal(s.state, 'done');
      t.same(
        s.preds.map((p) => [p.label, p.text, p.index, p.probability]),
        want.map((w) => [w.label, w.label, w.index, w.probability]),
        `${s.name}: labels and probabilities = POST /classify`,
      );
      t.same(
        s.preds.map((p) => p.pct),
        want.map((w) => percent(w.probability)),
        `${s.name}: percentages shown`,
      );
      t.match(
        s.meta,
        /^mixer-cifar10 v1 · server \d+\.\d ms · round trip \d+ ms$/,
        `${s.name}: model and latency shown`,
      );
    }
    const thumbs = await page.$$eval('#results img.thumb', (imgs) =>
      imgs.map((i) => (i as HTMLImageElement).naturalWidth),
    );
    t.same(thumbs, [160, 160], 'thumbnails of what was sent');

    // Bad input: each gets a readable message in its card, and the page stays usable.
    await input.uploadFile(files['drawing.svg']!, files['notes.txt']!, files['huge.png']!);
    const all = await settled(page, 5, 20_000);
    const [svgCard, txtCard, bigCard] = all.slice(2);
    t.equal(
      (await post(base, [{ name: 'drawing.svg', type: 'image/svg+xml', data: svg }], '')).status,
      415,
      'the server answers 415 for an SVG',
    );
    t.equal(svgCard!.state, 'error');
    t.match(
      svgCard!.error,
      /^Unsupported file type: "drawing\.svg" is svg; supported: JPEG, PNG/,
      '415 shown as a readable message',
    );
    t.match(
      txtCard!.error,
      /^The server could not use this file: "notes\.txt" is not an image/,
      '400 shown as a readable message',
    );
    t.match(
      bigCard!.error,
      /^(Too large for this server: .*BODY_LIMIT|The connection to the server failed)/,
      `a ${(big.length / 1e6).toFixed(0)} MB photo: ${bigCard!.error}`,
    );
    t.equal(all.filter((s) => s.state === 'done').length, 2, 'the good results stay');
    t.match(
      await page.$eval('#status', (e) => e.textContent),
      /2 images classified by mixer-cifar10; 3 could not be\./,
      'status sums up',
    );

    // Changing "answers per image" re-classifies with the keyboard alone.
    await page.focus('#top');
    await page.keyboard.press('ArrowDown');
    await page.waitForFunction(() =>
      [...document.querySelectorAll('#results > li.card[data-state="done"]')].every(
        (c) => c.querySelectorAll('li.pred').length === 10,
      ),
    );
    t.pass('top 10 chosen by keyboard: 10 answers per image');
    await page.focus('#top');
    await page.keyboard.press('ArrowUp');
    await page.waitForFunction(() =>
      [...document.querySelectorAll('#results > li.card')].every((c) => c.getAttribute('data-state') !== 'pending'),
    );
    t.same(
      (await cards(page)).map((c) => c.preds.length),
      [5, 5, 0, 0, 0],
      'back to 5 answers per image',
    );
    t.equal(
      await page.$$eval('#results .thumb.none', (e) => e.map((x) => x.textContent).join()),
      'TXT',
      'a file the browser cannot show gets a plain tile, not a broken image',
    );
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());

    const shot = process.env['UI_SCREENSHOT'] ?? path.join(t.testdir(), 'ui.png');
    mkdirSync(path.dirname(shot), { recursive: true });
    // A palette PNG: the README image stays small (the page has few colours).
    await sharp(await page.screenshot({ fullPage: true }))
      .png({ palette: true, quality: 90, compressionLevel: 9 })
      .toFile(shot);
    t.comment(`screenshot: ${shot}`);

    await page.setViewport({ width: 375, height: 800, isMobile: true });
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    t.equal(overflow, 0, 'no sideways scrolling at phone width (375 px)');
    t.same(problems, [], 'no script errors, no CSP violations');
    t.comment(`classify page checks: ${(performance.now() - tStart).toFixed(0)} ms`);
  });

  t.test('the model page: config, I/O, size, labels, training report with its plot', async (t) => {
    const tStart = performance.now();
    const page = await browser.newPage();
    t.teardown(() => page.close());
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push((e as Error).message));
    page.on('console', (m) => {
      if (/Content.Security.Policy|Refused to/i.test(m.text())) problems.push(m.text());
    });
    await page.goto(`${base}/ui/model`, { waitUntil: 'networkidle0' });
    await page.waitForFunction(
      () =>
        document.querySelector('#report img') !== null &&
        (document.querySelector('#report img') as HTMLImageElement).naturalWidth > 0,
    );
    const text = (sel: string): Promise<string> => page.$eval(sel, (e) => e.textContent ?? '');
    const info = (await (await fetch(`${base}/v1/model`)).json()) as {
      parameters: number;
      macsPerImage: number;
      sha256: string;
      labels: string[];
    };
    t.equal(await text('#title'), 'mixer-cifar10 v1');
    const summary = await text('#summary');
    t.match(summary, `Parameters${info.parameters.toLocaleString('en-US')}`);
    const mflop = ((2 * info.macsPerImage) / 1e6).toFixed(1);
    t.match(summary, `FLOPs per image${mflop} MFLOP (${(info.macsPerImage / 1e6).toFixed(1)} M multiply-adds)`);
    t.match(summary, info.sha256);
    t.match(await text('#io'), 'pixels: UINT8 [-1, 32, 32, 3]');
    t.match(await text('#io'), 'probabilities: FP32 [-1, 10]');
    t.match(await text('#config'), 'hidden_dim128');
    t.same(await page.$$eval('#labels li', (l) => l.map((x) => x.textContent)), info.labels, 'labels in index order');
    t.same(
      await page.$$eval('#report h3', (h) => h.map((x) => x.textContent)),
      ['Hyperparameters', 'Curves', 'Final evaluation', 'Per epoch'],
      "the report's sections, under the page's own heading",
    );
    t.match(await text('#report'), SHIPPED_ACCURACY);
    t.notMatch(await text('#report'), /<!--|figure:/, 'the figure markers (HTML comments) are not shown');
    t.ok((await page.$$('#report table tr')).length > 40, 'the per-epoch table is a table');
    t.same(problems, [], 'no script errors, no CSP violations');
    t.comment(`model page checks: ${(performance.now() - tStart).toFixed(0)} ms`);
  });

  t.test(
    'a model repository with API keys: key field, model switch, markup labels as text, 503, report beside the version',
    async (t) => {
      const tStart = performance.now();
      const key = KEY;
      const auth = { authorization: `Bearer ${key}` };
      const classify503 = async (): Promise<number> =>
        Number(
          /mixer_http_requests_total\{[^}]*route="\/classify"[^}]*status="503"[^}]*\} (\d+)/.exec(
            await (await fetch(`${front}/metrics`, { headers: auth })).text(),
          )?.[1] ?? 0,
        );
      t.equal((await fetch(`${front}/v1/models`)).status, 401, 'the API needs the key');
      t.equal(
        (await fetch(`${front}/ui/model/report/report.md?model=mixer-cifar10&version=1`)).status,
        401,
        'so does a training report',
      );
      for (const open of ['/', '/ui/model']) t.equal((await fetch(`${front}${open}`)).status, 200, `${open} is open`);

      const ctx = await browser.createBrowserContext();
      t.teardown(() => ctx.close());
      const page = await ctx.newPage();
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push((e as Error).message));
      await page.goto(`${front}/`, { waitUntil: 'networkidle0' });
      await page.waitForSelector('#key-form:not([hidden])');
      t.match(
        await page.$eval('#status', (e) => e.textContent),
        /^This server needs an API key: this route needs an API key/,
        '401 asks for a key',
      );
      t.equal(await page.evaluate(() => document.activeElement?.id), 'key', 'the key field has the focus');
      await page.keyboard.type(key);
      await page.keyboard.press('Enter');
      await page.waitForSelector('#model:not([disabled])');
      const options = await page.$$eval('#model option', (o) => o.map((x) => x.textContent));
      t.same(
        options.sort(),
        [
          'busy v1 · 32×32 px · 10 labels',
          'mixer-cifar10 v1 · 32×32 px · 10 labels',
          'tiny-markup v1 · 32×32 px · 10 labels',
        ],
        'every ready model and version, with size and labels',
      );
      const indexOf = async (name: string): Promise<string> =>
        page.$$eval('#model option', (o, n) => String(o.findIndex((x) => x.textContent!.startsWith(`${n} `))), name);
      await page.select('#model', await indexOf('mixer-cifar10'));

      await page.select('#top', '10');
      await (await page.$('input#files'))!.uploadFile(files['boat.png']!);
      const [before] = await settled(page, 1);
      t.match(before!.meta, /^mixer-cifar10 v1 · server/);

      // Switch the model: the image is classified again, by the other model.
      await page.select('#model', await indexOf('tiny-markup'));
      await page.waitForFunction(() =>
        /^tiny-markup/.test(document.querySelector('#results .meta')?.textContent ?? ''),
      );
      const [after] = await settled(page, 1);
      t.not(JSON.stringify(after!.preds), JSON.stringify(before!.preds), 'the answer changed with the model');
      const direct = (await (
        await post(front, [photos[0]!], '?model=tiny-markup&top=10', { authorization: `Bearer ${key}` })
      ).json()) as Classified;
      t.same(
        after!.preds.map((p) => [p.text, p.probability]),
        direct.results[0]!.predictions.map((p) => [p.label, p.probability]),
        'equals POST /classify?model=tiny-markup',
      );
      t.ok(
        after!.preds.some((p) => p.text === markup[0]) && after!.preds.some((p) => p.text === markup[1]),
        'labels holding markup are shown as text',
      );
      t.equal(
        await page.$$eval('#results .preds img, #results .preds b, #results .preds i', (e) => e.length),
        0,
        'no element was made from a label',
      );
      t.equal(
        await page.evaluate(() => (window as unknown as { __owned?: number }).__owned),
        undefined,
        'no label ran code',
      );
      t.equal(
        await page.$eval('#model-link', (a) => (a as HTMLAnchorElement).getAttribute('href')),
        '/ui/model?model=tiny-markup&version=1',
        'the model link follows the picker',
      );

      // A model that became unavailable after the page listed it (unloaded: 503 without Retry-After, not a passing
      // state): not retried, a readable message; the page stays usable.
      t.equal(
        (await fetch(`${front}/v2/repository/models/busy/unload`, { method: 'POST', headers: auth })).status,
        200,
        'model "busy" unloaded',
      );
      const before503 = await classify503();
      await page.select('#model', await indexOf('busy'));
      await page.waitForFunction(
        () => document.querySelector('#results li.card')?.getAttribute('data-state') === 'error',
        { timeout: 10_000 },
      );
      const [busy] = await cards(page);
      t.match(
        busy!.error,
        /^Not available: model "busy" version 1 is unavailable: unloaded\.$/,
        `503 shown: ${busy!.error}`,
      );
      t.equal((await classify503()) - before503, 1, 'one request: no Retry-After, no retry');
      await page.select('#model', await indexOf('mixer-cifar10'));
      const [back] = await settled(page, 1);
      t.same(back!.preds, before!.preds, 'back on the first model, the first answer again');

      // Drop and paste: the same image arrives as two more cards, classified like the first.
      await page.evaluate((b64: string) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const make = (name: string): DataTransfer => {
          const dt = new DataTransfer();
          dt.items.add(new File([bytes], name, { type: 'image/png' }));
          return dt;
        };
        document.body.dispatchEvent(
          new DragEvent('drop', { dataTransfer: make('dropped.png'), bubbles: true, cancelable: true }),
        );
        document.body.dispatchEvent(
          new ClipboardEvent('paste', { clipboardData: make('pasted.png'), bubbles: true, cancelable: true }),
        );
      }, photos[0]!.data.toString('base64'));
      const three = await settled(page, 3);
      t.same(
        three.map((c) => c.name),
        ['boat.png', 'dropped.png', 'pasted.png'],
        'a dropped and a pasted image get cards',
      );
      t.same(three[1]!.preds, three[0]!.preds, 'the dropped image: same answer');
      t.same(three[2]!.preds, three[0]!.preds, 'the pasted image: same answer');

      const stored = await page.evaluate(() => ({
        local: localStorage.length,
        session: sessionStorage.length,
        cookie: document.cookie,
        url: location.href,
      }));
      t.same(stored, { local: 0, session: 0, cookie: '', url: `${front}/` }, 'the key is kept in memory only');

      // The model page of the second model asks for the key again (memory only) and shows its markup labels as text.
      await page.goto(`${front}/ui/model?model=tiny-markup&version=1`, { waitUntil: 'networkidle0' });
      await page.waitForSelector('#key-form:not([hidden])');
      await page.keyboard.type(key);
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.querySelectorAll('#labels li').length === 10);
      t.equal(await page.$eval('#title', (e) => e.textContent), 'tiny-markup v1');
      t.same(
        await page.$$eval('#labels li', (l) => l.map((x) => x.textContent)),
        markup,
        'labels shown as text, in order',
      );
      t.equal(
        await page.$$eval('#labels img, #labels b, #labels i', (e) => e.length),
        0,
        'no element was made from a label',
      );
      await page.waitForFunction(() => /No training report/.test(document.querySelector('#report')?.textContent ?? ''));
      t.pass('a model without a report says so');
      t.match(
        await page.$eval('#config', (e) => e.textContent),
        /hidden_dim32.*config\.json: threads1/,
        "the graph's config and the config.json applied beside it",
      );
      const report = await fetch(`${front}/ui/model/report/report.md?model=mixer-cifar10&version=1`, { headers: auth });
      t.equal(report.status, 200, "the shipped model's report, found beside its version's model.onnx");
      t.match((await report.text()).replace(/<!--[\s\S]*?-->/g, ''), SHIPPED_ACCURACY);
      t.equal(
        (await fetch(`${front}/ui/model/report/report.md?model=tiny-markup&version=1`, { headers: auth })).status,
        404,
        'none beside the other model',
      );
      t.equal(
        await page.evaluate(() => (window as unknown as { __owned?: number }).__owned),
        undefined,
        'no label ran code',
      );
      t.same(problems, [], 'no script errors');
      t.comment(`front checks: ${(performance.now() - tStart).toFixed(0)} ms`);
    },
  );

  t.teardown(() => t.comment(`browser test total: ${(performance.now() - started).toFixed(0)} ms`));
}
