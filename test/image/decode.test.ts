// Tests for decodeImage and sniffFormat: formats, EXIF orientation, alpha, grey and 16-bit inputs, resize + centre crop, limits and errors.
import sharp from 'sharp';
import t from 'tap';
import { decodeImage, ImageError } from '../../src/image/decode.js';
import { sniffFormat } from '../../src/image/sniff.js';
import { image, noise } from '../fixtures/server.js';

const px = (a: Uint8Array, x: number, y: number, w: number): number[] =>
  Array.from(a.subarray((y * w + x) * 3, (y * w + x) * 3 + 3));

t.test('a 32×32 PNG decodes to exactly its pixels', async (t) => {
  const raw = noise(32, 32);
  const out = await decodeImage(await image('png', 32, 32, raw), 32);
  t.equal(out.length, 32 * 32 * 3);
  t.same(Buffer.from(out), raw);
});

t.test('every accepted format decodes to size×size×3', async (t) => {
  for (const f of ['png', 'jpeg', 'webp', 'gif', 'avif', 'tiff'] as const) {
    const out = await decodeImage(await image(f, 40, 30), 16);
    t.equal(out.length, 16 * 16 * 3, f);
  }
});

t.test('signatures of the accepted formats are recognised', async (t) => {
  const want = { png: 'png', jpeg: 'jpeg', webp: 'webp', gif: 'gif', avif: 'heif', tiff: 'tiff' } as const;
  for (const [f, name] of Object.entries(want))
    t.equal(sniffFormat(await image(f as keyof typeof want, 16, 16)), name, f);
  t.equal(sniffFormat(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>')), null);
});

t.test('EXIF orientation is applied', async (t) => {
  // 20 wide × 10 high, left half red, right half blue; orientation 6 means "rotate 90° clockwise to display".
  const raw = Buffer.alloc(20 * 10 * 3);
  for (let y = 0; y < 10; y++)
    for (let x = 0; x < 20; x++) raw.set(x < 10 ? [255, 0, 0] : [0, 0, 255], (y * 20 + x) * 3);
  const jpeg = await sharp(raw, { raw: { width: 20, height: 10, channels: 3 } })
    .jpeg({ quality: 100 })
    .withMetadata({ orientation: 6 })
    .toBuffer();
  // Displayed: 10 wide × 20 high, red on top, blue at the bottom; the centre crop to 10×10 keeps both halves.
  const out = await decodeImage(jpeg, 10);
  const top = px(out, 5, 1, 10);
  const bottom = px(out, 5, 8, 10);
  t.ok(top[0]! > 200 && top[2]! < 60, `top is red: ${top}`);
  t.ok(bottom[2]! > 200 && bottom[0]! < 60, `bottom is blue: ${bottom}`);
});

t.test('alpha is flattened onto white', async (t) => {
  const png = await sharp({ create: { width: 8, height: 8, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .png()
    .toBuffer();
  const out = await decodeImage(png, 8);
  t.same(px(out, 3, 3, 8), [255, 255, 255]);
  const half = await sharp({
    create: { width: 8, height: 8, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0.5 } },
  })
    .png()
    .toBuffer();
  const h = px(await decodeImage(half, 8), 3, 3, 8);
  t.ok(
    h[0]! > 250 && Math.abs(h[1]! - 128) < 3 && Math.abs(h[2]! - 128) < 3,
    `half-transparent red on white is pink: ${h}`,
  );
});

t.test('grey and 16-bit images become 8-bit RGB', async (t) => {
  const grey = await sharp(Buffer.alloc(8 * 8, 100), { raw: { width: 8, height: 8, channels: 1 } })
    .png()
    .toBuffer();
  t.same(px(await decodeImage(grey, 8), 0, 0, 8), [100, 100, 100]);
  const deep = new Uint16Array(8 * 8 * 3).fill(0xc000);
  const png16 = await sharp(deep, { raw: { width: 8, height: 8, channels: 3 } })
    .toColourspace('rgb16')
    .png()
    .toBuffer();
  t.equal((await sharp(png16).metadata()).depth, 'ushort', 'the fixture really is 16-bit');
  const v = px(await decodeImage(png16, 8), 2, 2, 8);
  t.ok(
    v.every((c) => c === 191 || c === 192),
    `16-bit 0xc000 → 191 or 192: ${v}`,
  );
});

t.test('non-square: shorter side resized, centre cropped', async (t) => {
  // 30 wide × 10 high: red | green | blue thirds → the centre crop is all green.
  const raw = Buffer.alloc(30 * 10 * 3);
  for (let y = 0; y < 10; y++)
    for (let x = 0; x < 30; x++) raw.set(x < 10 ? [255, 0, 0] : x < 20 ? [0, 255, 0] : [0, 0, 255], (y * 30 + x) * 3);
  const out = await decodeImage(
    await sharp(raw, { raw: { width: 30, height: 10, channels: 3 } })
      .png()
      .toBuffer(),
    5,
  );
  for (const [x, y] of [
    [0, 0],
    [4, 4],
    [2, 2],
  ] as const) {
    const p = px(out, x, y, 5);
    t.ok(p[1]! > 200 && p[0]! < 40 && p[2]! < 40, `(${x},${y}) is green: ${p}`);
  }
});

t.test('errors carry codes', async (t) => {
  const png = await image('png', 64, 64);
  const code = async (bytes: Uint8Array, o = {}): Promise<string> => {
    try {
      await decodeImage(bytes, 32, o);
      return 'ok';
    } catch (e) {
      t.type(e, ImageError);
      return (e as ImageError).code;
    }
  };
  t.equal(await code(new Uint8Array(0)), 'EMPTY_IMAGE');
  t.equal(await code(Buffer.from('definitely not an image')), 'NOT_AN_IMAGE');
  t.equal(await code(png.subarray(0, 60)), 'CORRUPT_IMAGE');
  t.equal(await code((await image('jpeg', 64, 64)).subarray(0, 400)), 'CORRUPT_IMAGE', 'truncated JPEG');
  t.equal(
    await code(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>')),
    'UNSUPPORTED_FORMAT',
  );
  t.equal(await code(png, { maxPixels: 64 * 64 - 1 }), 'TOO_MANY_PIXELS');
  t.equal(await code(png, { maxPixels: 64 * 64 }), 'ok');
  await t.rejects(decodeImage(Buffer.from('x'), 32, { name: 'cat.txt' }), /"cat\.txt"/);
});
