// Tests for the plain-PNG fast path: pixel-identical to sharp for every filter type, and null for anything it must leave to sharp.
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import t from 'tap';
import { decodeImage } from '../../src/image/decode.js';
import { decodePlainPng } from '../../src/image/png.js';
import { noise } from '../fixtures/server.js';

const CRC = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc = (b: Buffer): number => {
  let c = 0xffffffff;
  for (const x of b) c = CRC[(c ^ x) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length);
  head.write(type, 4, 'latin1');
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(crc(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, tail]);
}

/**
 * A PNG whose row y uses filter (y + shift) % 5, so every filter type is exercised (and, over shifts 0–4, each one on
 * the first row, which has no row above); `extra` chunks go before IDAT.
 */
function encode(px: Buffer, w: number, h: number, channels: 1 | 3, extra: Buffer[] = [], shift = 0): Buffer {
  const stride = w * channels;
  const raw = Buffer.alloc(h * (stride + 1));
  for (let y = 0; y < h; y++) {
    const f = (y + shift) % 5;
    raw[y * (stride + 1)] = f;
    for (let x = 0; x < stride; x++) {
      const cur = px[y * stride + x]!;
      const a = x >= channels ? px[y * stride + x - channels]! : 0;
      const u = y > 0 ? px[(y - 1) * stride + x]! : 0;
      const c = x >= channels && y > 0 ? px[(y - 1) * stride + x - channels]! : 0;
      const p = a + u - c;
      const pred = [
        0,
        a,
        u,
        (a + u) >> 1,
        Math.abs(p - a) <= Math.abs(p - u) && Math.abs(p - a) <= Math.abs(p - c)
          ? a
          : Math.abs(p - u) <= Math.abs(p - c)
            ? u
            : c,
      ][f]!;
      raw[y * (stride + 1) + 1 + x] = (cur - pred) & 0xff;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = channels === 3 ? 2 : 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...extra,
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const viaSharp = (png: Buffer, size = 32): Promise<Uint8Array> => decodeImage(png, size, { fastPng: false });

t.test('every filter type, RGB and grey, matches sharp exactly', async (t) => {
  const rgb = noise(32, 32, 5);
  const png = encode(rgb, 32, 32, 3, [chunk('pHYs', Buffer.alloc(9)), chunk('tEXt', Buffer.from('Comment\0hi'))]);
  const fast = decodePlainPng(png, 32);
  t.ok(fast, 'taken');
  t.same(Buffer.from(fast!), rgb);
  t.same(Buffer.from(fast!), Buffer.from(await viaSharp(png)));
  const grey = noise(32, 32, 9).subarray(0, 32 * 32);
  const gpng = encode(Buffer.from(grey), 32, 32, 1);
  const gfast = decodePlainPng(gpng, 32);
  t.ok(gfast);
  t.same(Buffer.from(gfast!), Buffer.from(await viaSharp(gpng)));
  for (let shift = 1; shift < 5; shift++) {
    for (const [px, ch] of [
      [rgb, 3],
      [Buffer.from(grey), 1],
    ] as const) {
      const shifted = encode(px, 32, 32, ch, [], shift);
      const got = decodePlainPng(shifted, 32);
      if (ch === 3) t.same(Buffer.from(got!), px, `first row filter ${shift}: the pixels exactly`);
      t.same(
        Buffer.from(got!),
        Buffer.from(await viaSharp(shifted)),
        `first row filter ${shift}, ${ch} channel(s): same as sharp`,
      );
    }
  }
});

t.test('PNGs written by sharp at several settings match sharp', async (t) => {
  for (const o of [
    {},
    { compressionLevel: 0 },
    { compressionLevel: 9, adaptiveFiltering: true },
    { adaptiveFiltering: false },
  ]) {
    const png = await sharp(noise(32, 32, 3), { raw: { width: 32, height: 32, channels: 3 } })
      .png(o)
      .toBuffer();
    const fast = decodePlainPng(png, 32);
    t.ok(fast, JSON.stringify(o));
    t.same(Buffer.from(fast!), Buffer.from(await viaSharp(png)), JSON.stringify(o));
  }
});

t.test('anything else is left to sharp', async (t) => {
  const px = noise(32, 32, 1);
  const make = (o: object, channels: 3 | 4 = 3, w = 32): Promise<Buffer> =>
    sharp(channels === 4 ? Buffer.alloc(w * 32 * 4, 128) : noise(w, 32, 1), { raw: { width: w, height: 32, channels } })
      .png(o)
      .toBuffer();
  t.equal(decodePlainPng(await make({}, 3, 40), 32), null, 'other size');
  t.equal(decodePlainPng(await make({}, 4), 32), null, 'alpha');
  t.equal(decodePlainPng(await make({ progressive: true }), 32), null, 'interlaced');
  t.equal(decodePlainPng(await make({ palette: true }), 32), null, 'palette');
  const deep = await sharp(new Uint16Array(32 * 32 * 3).fill(4000), { raw: { width: 32, height: 32, channels: 3 } })
    .toColourspace('rgb16')
    .png()
    .toBuffer();
  t.equal(decodePlainPng(deep, 32), null, '16-bit');
  t.equal(
    decodePlainPng(encode(px, 32, 32, 3, [chunk('gAMA', Buffer.from([0, 0, 0xb1, 0x8f]))]), 32),
    null,
    'gamma chunk',
  );
  t.equal(decodePlainPng(encode(px, 32, 32, 3, [chunk('iCCP', Buffer.from('p\0\0x'))]), 32), null, 'colour profile');
  const good = encode(px, 32, 32, 3);
  t.equal(decodePlainPng(good.subarray(0, good.length - 20), 32), null, 'truncated');
  const badCrc = Buffer.from(good);
  badCrc[45] = badCrc[45]! ^ 0xff; // IDAT data
  t.equal(decodePlainPng(badCrc, 32), null, 'bad CRC');
  await t.rejects(decodeImage(badCrc, 32), { code: 'CORRUPT_IMAGE' }, 'which sharp then rejects');
  t.equal(decodePlainPng(Buffer.from('not a png at all, not at all, no, not at all, not even close'), 32), null);
});
