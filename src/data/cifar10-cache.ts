// The decoded CIFAR-10 cache: raw uint8 {train,test}_{images,labels}.u8 files plus meta.json with counts and sha256s.

import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { DataError, type ImageDataset } from './dataset.js';
import { fileSize, sha256 } from './files.js';

export const CACHE_FORMAT = 'onnx-mixer-cifar10-cache';
const IMAGE_BYTES = 32 * 32 * 3;
const SPLITS = ['train', 'test'] as const;
type SplitName = (typeof SPLITS)[number];

export interface CacheMeta {
  format: string;
  version: number;
  source: string;
  height: number;
  width: number;
  classes: string[];
  counts: Record<SplitName, number>;
  files: Record<string, { bytes: number; sha256: string }>;
}

interface SplitData {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

function corrupt(cacheDir: string, what: string): DataError {
  return new DataError(
    'DATA_CORRUPT',
    `the CIFAR-10 cache in ${cacheDir} is damaged (${what}); delete that directory and re-run \`mixer data cifar10\``,
  );
}

/** Writes the four raw files (each atomically), then meta.json last: a cache with meta.json is complete. */
export async function writeCache(
  cacheDir: string,
  splits: Record<SplitName, SplitData>,
  source: string,
  classes: string[],
): Promise<CacheMeta> {
  await mkdir(cacheDir, { recursive: true });
  const meta: CacheMeta = {
    format: CACHE_FORMAT,
    version: 1,
    source,
    height: 32,
    width: 32,
    classes,
    counts: { train: splits.train.count, test: splits.test.count },
    files: {},
  };
  for (const split of SPLITS) {
    for (const kind of ['images', 'labels'] as const) {
      const name = `${split}_${kind}.u8`;
      const data = splits[split][kind];
      await writeFileAtomic(join(cacheDir, name), data);
      meta.files[name] = { bytes: data.length, sha256: sha256(data) };
    }
  }
  await writeFileAtomic(join(cacheDir, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
  return meta;
}

/** The parsed meta.json, or null if there is none (cache absent). Throws DATA_CORRUPT on a malformed one. */
export async function readMeta(cacheDir: string): Promise<CacheMeta | null> {
  let text: string;
  try {
    text = await readFile(join(cacheDir, 'meta.json'), 'utf8');
  } catch {
    return null;
  }
  let meta: CacheMeta;
  try {
    meta = JSON.parse(text) as CacheMeta;
  } catch {
    throw corrupt(cacheDir, 'meta.json is not valid JSON');
  }
  if (
    meta.format !== CACHE_FORMAT ||
    meta.version !== 1 ||
    !meta.counts ||
    !meta.files ||
    !Array.isArray(meta.classes)
  ) {
    throw corrupt(cacheDir, 'meta.json has an unexpected layout');
  }
  return meta;
}

/** Checks every cached file has the size meta.json promises (and that matches the counts). */
export async function checkCacheFiles(cacheDir: string, meta: CacheMeta): Promise<void> {
  for (const split of SPLITS) {
    const count = meta.counts[split];
    for (const [kind, per] of [
      ['images', IMAGE_BYTES],
      ['labels', 1],
    ] as const) {
      const name = `${split}_${kind}.u8`;
      const want = count * per;
      const size = await fileSize(join(cacheDir, name));
      if (size === null) throw corrupt(cacheDir, `${name} is missing`);
      if (size !== want || meta.files[name]?.bytes !== want) {
        throw corrupt(cacheDir, `${name} has ${size} bytes, expected ${want}`);
      }
    }
  }
}

/** Loads both splits; `verify` also re-hashes every file against meta.json. */
export async function readCache(
  cacheDir: string,
  meta: CacheMeta,
  verify: boolean,
): Promise<Record<SplitName, ImageDataset>> {
  await checkCacheFiles(cacheDir, meta);
  const load = async (name: string): Promise<Uint8Array> => {
    const buf = await readFile(join(cacheDir, name));
    if (verify && sha256(buf) !== meta.files[name]?.sha256) throw corrupt(cacheDir, `${name} fails its sha256 check`);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  };
  const out = {} as Record<SplitName, ImageDataset>;
  for (const split of SPLITS) {
    const labels = await load(`${split}_labels.u8`);
    for (let i = 0; i < labels.length; i++) {
      if (labels[i]! >= meta.classes.length) throw corrupt(cacheDir, `${split} label ${i} is ${labels[i]}`);
    }
    out[split] = {
      images: await load(`${split}_images.u8`),
      labels,
      count: meta.counts[split],
      height: meta.height,
      width: meta.width,
      classes: meta.classes.slice(),
    };
  }
  return out;
}
