// The decoder's interpolations against Pillow: bilinear, bicubic, area and nearest reproduce Image.resize on a
// photo-like 1000x750 PNG and JPEG at strong downscales (32 and 224 px, stretched and centre-cropped); antialias false
// matches bilinear without antialias; the default (lanczos, sharp's lanczos3) is unchanged; config.json checks the keys.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { decodeImage } from '../../src/image/decode.js';
import { type ImageTarget, squareTarget } from '../../src/image/pipeline.js';
import type { Interpolation } from '../../src/image/resample.js';
import { validateConfigFile } from '../../src/server/repository/config-file.js';
import { python, requirePython } from '../fixtures/oracle/torch.js';

const ORACLE = new URL('../fixtures/oracle/pil_resize.py', import.meta.url).pathname;

interface Case {
  src: 'photo.png' | 'photo.jpg';
  w: number;
  h: number;
  filter: Interpolation;
  /** The size resized to before the centre crop (what the decoder computes), or null: stretched. */
  crop: [number, number] | null;
  antialias: boolean;
  resizeShorter?: number;
}

const cases: Case[] = [];
for (const src of ['photo.png', 'photo.jpg'] as const)
  for (const filter of ['bilinear', 'bicubic', 'area', 'nearest'] as const) {
    cases.push({ src, w: 32, h: 32, filter, crop: null, antialias: true });
    cases.push({ src, w: 224, h: 224, filter, crop: null, antialias: true });
    // 1000x750 → shorter side 224 (299x224), centre crop; and torchvision's Resize(256) + CenterCrop(224).
    cases.push({ src, w: 224, h: 224, filter, crop: [299, 224], antialias: true });
    cases.push({ src, w: 224, h: 224, filter, crop: [341, 256], antialias: true, resizeShorter: 256 });
  }
cases.push({ src: 'photo.png', w: 32, h: 32, filter: 'bilinear', crop: null, antialias: false });
cases.push({ src: 'photo.png', w: 224, h: 168, filter: 'bilinear', crop: null, antialias: false });

const target = (c: Case): ImageTarget => ({
  height: c.h,
  width: c.w,
  channels: 3,
  resize: c.crop ? 'crop' : 'stretch',
  resizeShorter: c.resizeShorter ?? null,
  interpolation: c.filter,
  antialias: c.antialias,
});

function diff(a: Uint8Array, b: Uint8Array): { mean: number; max: number } {
  let s = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    s += d;
    if (d > max) max = d;
  }
  return { mean: s / a.length, max };
}

t.test('pixels match Pillow for every interpolation', async (t) => {
  if (!requirePython(t, ['PIL', 'numpy'])) return;
  const dir = t.testdir();
  writeFileSync(path.join(dir, 'cases.json'), JSON.stringify(cases));
  await python([ORACLE, dir]);
  const bytes = {
    'photo.png': readFileSync(path.join(dir, 'photo.png')),
    'photo.jpg': readFileSync(path.join(dir, 'photo.jpg')),
  };
  for (const [i, c] of cases.entries()) {
    const ref = readFileSync(path.join(dir, `case-${i}.raw`));
    const px = await decodeImage(bytes[c.src], target(c));
    t.equal(px.length, ref.length, `case ${i}: size`);
    const d = diff(px, ref);
    const what = `${c.src} → ${c.w}x${c.h} ${c.crop ? `crop from ${c.crop.join('x')}` : 'stretch'} ${c.filter}${c.antialias ? '' : ' (no antialias)'}: mean ${d.mean.toFixed(3)}, max ${d.max}`;
    // Antialiased: Pillow's own arithmetic; without antialias the reference is float bilinear (one rounding).
    if (c.antialias) t.ok(d.mean <= 1 && d.max <= 3, what);
    else t.ok(d.mean <= 0.5 && d.max <= 1, what);
  }
});

t.test('the default stays sharp lanczos3; antialias false samples differently', async (t) => {
  if (!requirePython(t, ['PIL', 'numpy'])) return;
  const dir = t.testdir();
  writeFileSync(path.join(dir, 'cases.json'), '[]');
  await python([ORACLE, dir]);
  const png = readFileSync(path.join(dir, 'photo.png'));
  const dflt = await decodeImage(png, 32);
  const lanczos = await decodeImage(png, { ...squareTarget(32), interpolation: 'lanczos' });
  t.same(lanczos, dflt, 'interpolation "lanczos" is the default decode');
  const bilinear = await decodeImage(png, { ...squareTarget(32), interpolation: 'bilinear' });
  t.ok(diff(bilinear, dflt).max > 0, 'bilinear is another kernel');
  const aliased = await decodeImage(png, { ...squareTarget(32), interpolation: 'bilinear', antialias: false });
  t.ok(diff(aliased, bilinear).mean > 2, 'antialias false differs on a 23x downscale');
});

t.test('config.json: interpolation and antialias are checked', async (t) => {
  t.same(validateConfigFile({ interpolation: 'bicubic', antialias: false }, 'config.json'), {
    interpolation: 'bicubic',
    antialias: false,
  });
  t.throws(() => validateConfigFile({ interpolation: 'cubic' }, 'config.json'), {
    message: 'config.json: "interpolation" is "cubic"; it must be one of bilinear, bicubic, lanczos, nearest, area',
  });
  t.throws(() => validateConfigFile({ antialias: 'yes' }, 'config.json'), {
    message: 'config.json: "antialias" must be true or false, got "yes"',
  });
});
