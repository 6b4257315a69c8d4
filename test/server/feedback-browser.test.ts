// The page's "Wrong? Choose the right label" control in headless Chromium: labelled, reached by keyboard, sent by hash (falling back to the image), stored on disk, absent when feedback is off; and the docs screenshot.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import sharp from 'sharp';
import t from 'tap';
import { drawnPhotos, launchChromium } from '../fixtures/browser.js';
import { listenLocal } from '../fixtures/listen.js';
import { testApp } from '../fixtures/server.js';
import { until } from '../fixtures/until.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const chromium = await launchChromium();
if ('skip' in chromium) {
  console.log(`# browser test skipped: ${chromium.skip}`);
  t.test("the page's correction form in headless Chromium", { skip: chromium.skip }, () => {});
} else {
  t.teardown(chromium.close);
  await run(chromium.browser);
}

async function run(browser: Browser): Promise<void> {
  const dir = t.testdir();
  const store = path.join(dir, 'feedback');
  const modelPath = path.join(ROOT, 'models/mixer-cifar10.onnx');
  const app = await testApp(t, { modelPath, feedbackDir: store, maxBatch: 1 });
  const { url } = await listenLocal(app);
  const photos = await drawnPhotos();
  for (const p of photos) writeFileSync(path.join(dir, p.name), p.data);
  const recent = app.mixer.recent!;
  const hashHits: string[] = [];
  const get = recent.get.bind(recent);
  recent.get = (h: string) => {
    const v = get(h);
    if (v) hashHits.push(h);
    return v;
  };

  /** The page, and the errors it throws (checked at the end of each test). */
  const problems: string[] = [];
  const open = async (base: string): Promise<Page> => {
    const page = await browser.newPage();
    t.teardown(() => page.close());
    page.on('pageerror', (e) => problems.push((e as Error).message));
    await page.setViewport({ width: 900, height: 700 });
    await page.goto(`${base}/`, { waitUntil: 'networkidle0' });
    await page.waitForSelector('#model:not([disabled])');
    return page;
  };

  t.test('each answer offers the model labels; a correction is stored by hash, then relabelled', async (t) => {
    const page = await open(url);
    const input = await page.$('input#files');
    await input!.uploadFile(...photos.map((p) => path.join(dir, p.name)));
    await page.waitForFunction(() => document.querySelectorAll('#results .fix').length === 2, { timeout: 30_000 });
    const first = await page.$eval('#results .card .fix', (f) => {
      const select = f.querySelector('select')!;
      const label = f.querySelector('label')!;
      return {
        label: label.textContent,
        for: label.htmlFor === select.id,
        options: [...select.options].map((o) => o.value),
        live: f.querySelector('[role=status]')?.getAttribute('aria-live'),
      };
    });
    t.equal(first.label, 'Wrong? Choose the right label');
    t.ok(first.for, 'the select is labelled');
    t.same(first.options, ['', ...app.mixer.repo.instances()[0]!.labels], "every label of the model, after 'choose…'");
    t.equal(first.live, 'polite', 'the outcome is announced');

    // Keyboard only: focus the first select, pick "ship" by typing, Tab to the button and press Enter.
    await page.focus('#results .card .fix select');
    const sendEmpty = await page.$('#results .card .fix button');
    await sendEmpty!.press('Enter');
    await until(async () => /Choose the right label first/.test(await statusText(page)), 10_000, 'asks for a label');
    await page.focus('#results .card .fix select');
    await page.keyboard.type('ship');
    t.equal(await page.$eval('#results .card .fix select', (s) => (s as HTMLSelectElement).value), 'ship');
    await page.keyboard.press('Tab');
    t.equal(
      await page.evaluate(() => document.activeElement?.textContent),
      'Send correction',
      'Tab reaches the button',
    );
    await page.keyboard.press('Enter');
    await until(async () => /Saved: “ship”/.test(await statusText(page)), 10_000, 'saved');
    const name = photos[0]!.name;
    const bytes = readFileSync(path.join(dir, name));
    const shipFiles = readdirSync(path.join(store, 'mixer-cifar10', 'ship'));
    t.equal(shipFiles.length, 1, 'stored under ship');
    t.same(readFileSync(path.join(store, 'mixer-cifar10', 'ship', shipFiles[0]!)), bytes, 'the bytes of the file');
    t.equal(hashHits.length, 1, 'sent as a hash of a recently classified image');

    // The same image with another label: moved, the history kept.
    await page.select('#results .card .fix select', 'airplane');
    await page.click('#results .card .fix button');
    await until(async () => /Saved: “airplane”/.test(await statusText(page)), 10_000, 'relabelled');
    t.notOk(existsSync(path.join(store, 'mixer-cifar10', 'ship')), 'moved out of ship');
    const lines = readFileSync(path.join(store, 'mixer-cifar10', 'feedback.jsonl'), 'utf8')
      .trim()
      .split('\n');
    t.same(
      lines.map((l) => JSON.parse(l).previous),
      [null, 'ship'],
    );

    // The second image: the server no longer keeps it, so the page sends the image itself.
    recent.get = () => undefined;
    await page.select('#results .card:nth-child(2) .fix select', 'automobile');
    await page.click('#results .card:nth-child(2) .fix button');
    const second = () => page.$eval('#results .card:nth-child(2) .fix-status', (e) => e.textContent ?? '');
    await until(async () => /Saved: “automobile”/.test(await second()), 10_000, 'saved with the image');
    t.equal(readdirSync(path.join(store, 'mixer-cifar10', 'automobile')).length, 1);

    const shot = process.env['FEEDBACK_SCREENSHOT'] ?? path.join(t.testdir(), 'feedback.png');
    mkdirSync(path.dirname(shot), { recursive: true });
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    const card = await page.$('#results .card');
    await sharp(await card!.screenshot())
      .png({ palette: true, quality: 90, compressionLevel: 9 })
      .toFile(shot);
    t.comment(`screenshot: ${shot}`);
    t.same(problems, [], 'no page errors');
  });

  t.test('without --feedback-dir the page offers no correction', async (t) => {
    const off = await testApp(t, { modelPath, maxBatch: 1 });
    const page = await open((await listenLocal(off)).url);
    await (await page.$('input#files'))!.uploadFile(path.join(dir, photos[0]!.name));
    await page.waitForSelector('#results .card[data-state="done"]', { timeout: 30_000 });
    // Absence: the form would be added right after the answer; give it a moment.
    await new Promise((r) => setTimeout(r, 300));
    t.equal(await page.$$eval('#results .fix', (f) => f.length), 0);
    t.same(problems, [], 'no page errors');
  });
}

function statusText(page: Page): Promise<string> {
  return page.$eval('#results .card .fix-status', (e) => e.textContent ?? '');
}
