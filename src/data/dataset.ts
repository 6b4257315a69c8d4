// In-memory uint8 image datasets (HWC, RGB), the data layer's error type, and small dataset helpers.

export interface ImageDataset {
  /** count*height*width*3 bytes: RGB, HWC, row-major, one image after another. */
  images: Uint8Array;
  /** count class indices. */
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
  /** Class names, index = label. */
  classes: string[];
}

/** A user-facing data problem; `code` is 'DATA_MISSING', 'DATA_CORRUPT' or 'DATA_FORMAT'. */
export class DataError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DataError';
    this.code = code;
  }
}

/** Bytes of one image. */
export function imageBytes(ds: Pick<ImageDataset, 'height' | 'width'>): number {
  return ds.height * ds.width * 3;
}

/** A view (no copy) of image i. */
export function imageAt(ds: ImageDataset, i: number): Uint8Array {
  if (!Number.isInteger(i) || i < 0 || i >= ds.count) {
    throw new RangeError(`image index ${i} out of range [0, ${ds.count})`);
  }
  const n = imageBytes(ds);
  return ds.images.subarray(i * n, (i + 1) * n);
}

/** A new dataset holding copies of the given images, in the given order. */
export function subset(ds: ImageDataset, indices: ArrayLike<number>): ImageDataset {
  const n = imageBytes(ds);
  const count = indices.length;
  const images = new Uint8Array(count * n);
  const labels = new Uint8Array(count);
  for (let k = 0; k < count; k++) {
    const i = indices[k]!;
    images.set(imageAt(ds, i), k * n);
    labels[k] = ds.labels[i]!;
  }
  return { images, labels, count, height: ds.height, width: ds.width, classes: ds.classes.slice() };
}

/** Throws DataError('DATA_FORMAT') unless the arrays match the declared shape and labels name classes. */
export function checkDataset(ds: ImageDataset, what: string): void {
  if (ds.images.length !== ds.count * imageBytes(ds)) {
    throw new DataError('DATA_FORMAT', `${what}: ${ds.images.length} image bytes, expected ${ds.count}×${ds.height}×${ds.width}×3`);
  }
  if (ds.labels.length !== ds.count) {
    throw new DataError('DATA_FORMAT', `${what}: ${ds.labels.length} labels for ${ds.count} images`);
  }
  for (let i = 0; i < ds.count; i++) {
    if (ds.labels[i]! >= ds.classes.length) {
      throw new DataError('DATA_FORMAT', `${what}: label ${ds.labels[i]} of image ${i} is not below the ${ds.classes.length} classes`);
    }
  }
}
