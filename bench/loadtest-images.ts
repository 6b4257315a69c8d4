// Request bodies for the load test: given image files, CIFAR-10 test images from the data cache, or synthetic photos.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';

export interface Image {
  filename: string;
  type: string;
  bytes: Buffer;
}

export interface Body {
  contentType: string;
  body: Buffer;
}

const MIME: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.avif': 'image/avif',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
};

const mimeOf = (f: string): string | undefined => MIME[path.extname(f).toLowerCase()];

/** Real image files: `images` (comma-separated files and folders), else the first `count` CIFAR-10 test images from the data cache as PNG, else synthetic PNG/JPEG photos-alikes. */
export async function loadImages(images: string | undefined, count: number, root: string): Promise<Image[]> {
  if (images) {
    const files = images
      .split(',')
      .flatMap((p) =>
        statSync(p).isDirectory()
          ? readdirSync(p)
              .sort()
              .map((f) => path.join(p, f))
          : [p],
      )
      .filter((f) => mimeOf(f));
    if (!files.length) throw new Error(`--images ${images}: no image files (${Object.keys(MIME).join(' ')})`);
    return files.map((f) => ({ filename: path.basename(f), type: mimeOf(f) ?? '', bytes: readFileSync(f) }));
  }
  const cache = path.join(process.env.MIXER_DATA_DIR ?? path.join(root, 'data'), 'cifar10');
  if (existsSync(path.join(cache, 'test_images.u8')) && existsSync(path.join(cache, 'meta.json'))) {
    const meta = JSON.parse(readFileSync(path.join(cache, 'meta.json'), 'utf8')) as {
      height: number;
      width: number;
      classes: string[];
    };
    const px = meta.height * meta.width * 3;
    const all = readFileSync(path.join(cache, 'test_images.u8'));
    const labels = readFileSync(path.join(cache, 'test_labels.u8'));
    const out: Image[] = [];
    for (let i = 0; i < count; i++) {
      const raw = all.subarray(i * px, (i + 1) * px);
      const bytes = await sharp(raw, { raw: { width: meta.width, height: meta.height, channels: 3 } })
        .png()
        .toBuffer();
      out.push({ filename: `cifar10-test-${i}-${meta.classes[labels[i] ?? 0]}.png`, type: 'image/png', bytes });
    }
    return out;
  }
  // Synthetic: smooth colour fields with a few shapes, 32x32 to 256x192, PNG and JPEG, so decoding and resizing do real work.
  const out: Image[] = [];
  for (let i = 0; i < count; i++) {
    const w = [32, 64, 256][i % 3] ?? 32;
    const h = [32, 48, 192][i % 3] ?? 32;
    const raw = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const o = (y * w + x) * 3;
        const inDisc = (x - w / 2) ** 2 + (y - h / 2) ** 2 < (Math.min(w, h) / (3 + (i % 3))) ** 2;
        raw[o] = inDisc ? 230 - i * 7 : (x * 255) / w;
        raw[o + 1] = inDisc ? 40 + i * 11 : (y * 255) / h;
        raw[o + 2] = (i * 37 + x + y) & 255;
      }
    }
    const img = sharp(raw, { raw: { width: w, height: h, channels: 3 } });
    const jpeg = i % 2 === 1;
    out.push({
      filename: `synthetic-${i}.${jpeg ? 'jpg' : 'png'}`,
      type: jpeg ? 'image/jpeg' : 'image/png',
      bytes: await (jpeg ? img.jpeg({ quality: 90 }) : img.png()).toBuffer(),
    });
  }
  return out;
}

export function multipart(img: Image): Body {
  const boundary = `----mixerload${Math.random().toString(16).slice(2)}`;
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="${img.filename}"\r\nContent-Type: ${img.type}\r\n\r\n`;
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    body: Buffer.concat([Buffer.from(head), img.bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]),
  };
}
