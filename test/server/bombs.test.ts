// Decompression bombs over a real port: a PNG whose IDAT inflates far past its header is refused in milliseconds, without RSS growth.
import sharp from 'sharp';
import t from 'tap';
import { decodePlainPng, PngBombError } from '../../src/image/png.js';
import { listenLocal } from '../fixtures/listen.js';
import { deflatedZeros, pngChunk, zlibBombPng } from '../fixtures/png-bombs.js';
import { testApp, writeModel } from '../fixtures/server.js';

const modelPath = writeModel(t.testdir(), 'cifar10-s4');
const app = await testApp(t, { modelPath });
const { url } = await listenLocal(app);

const MB = 1024 * 1024;
const post = async (body: Buffer) => {
  const t0 = performance.now();
  const r = await fetch(`${url}/classify`, { method: 'POST', headers: { 'content-type': 'image/png' }, body });
  return {
    status: r.status,
    json: (await r.json()) as { code?: string; message?: string },
    ms: performance.now() - t0,
  };
};

t.test('a 32×32 PNG whose IDAT inflates to 256 MiB: 400 CORRUPT_IMAGE at once, RSS flat', async (t) => {
  const bomb = await zlibBombPng(32, 32, 256);
  t.ok(bomb.length < 300_000, `the bomb is ${bomb.length} bytes`);
  // The fast path stops inflating one byte past the header's promise, 32·(96+1) bytes.
  t.throws(() => decodePlainPng(bomb, 32), PngBombError);
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  const r = await post(bomb);
  const grew = (process.memoryUsage().rss - rss0) / MB;
  t.equal(r.status, 400);
  t.equal(r.json.code, 'CORRUPT_IMAGE');
  t.match(r.json.message, /inflates to more than the 3104 bytes its header allows/);
  // Inflating the whole 256 MiB takes seconds and allocates hundreds of MB; stopping at 3 kB takes neither.
  t.ok(r.ms < 1500, `answered in ${r.ms.toFixed(0)} ms`);
  t.ok(grew < 64, `RSS grew ${grew.toFixed(1)} MB`);
  t.comment(`zlib bomb: ${bomb.length} B → 400 in ${r.ms.toFixed(0)} ms, RSS +${grew.toFixed(1)} MB`);
  const ok = await fetch(`${url}/healthz`);
  t.equal(ok.status, 200, 'the service still answers');
});

t.test('bombs that reach sharp (other sizes, compressed ancillary chunks) stay bounded too', async (t) => {
  const z = await deflatedZeros(128);
  const base = await sharp(Buffer.alloc(64 * 64 * 3, 9), { raw: { width: 64, height: 64, channels: 3 } })
    .png()
    .toBuffer();
  const cases: [string, Buffer][] = [
    ['64×64 IDAT bomb', await zlibBombPng(64, 64, 128)],
    [
      'iCCP bomb',
      Buffer.concat([
        base.subarray(0, 33),
        pngChunk('iCCP', Buffer.concat([Buffer.from('icc\0\0'), z])),
        base.subarray(33),
      ]),
    ],
    [
      'zTXt bomb',
      Buffer.concat([
        base.subarray(0, 33),
        pngChunk('zTXt', Buffer.concat([Buffer.from('Comment\0\0'), z])),
        base.subarray(33),
      ]),
    ],
  ];
  for (const [name, png] of cases) {
    const rss0 = process.memoryUsage().rss;
    const r = await post(png);
    const grew = (process.memoryUsage().rss - rss0) / MB;
    t.ok(r.status === 200 || r.status === 400, `${name}: ${r.status} ${r.json.code ?? ''}`);
    t.ok(r.ms < 3000, `${name}: answered in ${r.ms.toFixed(0)} ms`);
    t.ok(grew < 64, `${name}: RSS grew ${grew.toFixed(1)} MB`);
  }
});
