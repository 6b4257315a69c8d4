// The images /classify saw recently, by sha256, bounded in bytes (least recently used dropped first): a correction may name one by its hash instead of sending it again.
import { createHash } from 'node:crypto';

export const sha256Hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export class RecentImages {
  private readonly images = new Map<string, Uint8Array>();
  private bytes = 0;

  /** `maxBytes`: the most image bytes kept (0: none). */
  constructor(readonly maxBytes: number) {}

  /**
   * Keeps `image` (a copy when it is a view of a larger buffer, so that the bound holds). Hashing costs the event loop
   * about 1.6 ms per MB, so an image larger than the bound is not even hashed.
   */
  remember(image: Uint8Array): void {
    if (image.length > this.maxBytes) return;
    const hash = sha256Hex(image);
    const had = this.images.get(hash);
    if (had) {
      this.images.delete(hash);
      this.images.set(hash, had);
      return;
    }
    const own = image.byteLength === image.buffer.byteLength ? image : Uint8Array.prototype.slice.call(image);
    this.images.set(hash, own);
    this.bytes += own.length;
    for (const [k, v] of this.images) {
      if (this.bytes <= this.maxBytes) break;
      this.images.delete(k);
      this.bytes -= v.length;
    }
  }

  /** The image with this hash, if it is still kept (it becomes the most recently used). */
  get(hash: string): Uint8Array | undefined {
    const v = this.images.get(hash);
    if (v) {
      this.images.delete(hash);
      this.images.set(hash, v);
    }
    return v;
  }

  /** Images and bytes kept now. */
  get usage(): { images: number; bytes: number } {
    return { images: this.images.size, bytes: this.bytes };
  }
}
