// The feedback store: corrected images as DIR/<model>/<label>/<sha256>.<ext> (the layout `mixer train --data DIR/<model>` reads) and every correction as a line of DIR/<model>/feedback.jsonl; atomic, serialised per model, bounded in bytes.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { ServiceError } from '../errors.js';
import { labelFolder, modelFolder } from './names.js';

/** The history file of a model's folder (the folder loader reads class folders only, so it is not mistaken for data). */
export const HISTORY_FILE = 'feedback.jsonl';

/** The extensions images are stored under (what the folder loader reads). */
export const STORED_EXTENSIONS = ['png', 'jpg', 'webp'] as const;
export type StoredExt = (typeof STORED_EXTENSIONS)[number];

const IMAGE_FILE = /^([0-9a-f]{64})\.(png|jpg|webp)$/;
/** Temporary files: hidden (the folder loader skips dot files), removed at the next start if a crash left one. */
const TEMP_FILE = /^\.tmp-/;

/** One correction as the service has checked it: the image (in its stored form) and what its caller said. */
export interface Correction {
  model: string;
  label: string;
  /** The sha256 (hex) of the image bytes the caller sent: the image's identity in the store. */
  sha256: string;
  /** The bytes written to the label folder, and their extension. */
  bytes: Uint8Array;
  ext: StoredExt;
  version: string | null;
  predicted: string | null;
  /** The caller's API key id (never the key), or null when keys are off. */
  key: string | null;
}

/** What a correction did: its id, whether the image file was written, moved or already in place. */
export interface Stored {
  id: string;
  sha256: string;
  label: string;
  previous: string | null;
  action: 'stored' | 'relabelled' | 'unchanged';
}

/** A model's feedback: images per label, their total and bytes (images and history). */
export interface Counts {
  model: string;
  total: number;
  bytes: number;
  labels: Record<string, number>;
}

interface Entry {
  label: string;
  file: string;
  size: number;
}

interface ModelFolder {
  images: Map<string, Entry>;
  historyBytes: number;
}

/**
 * The store under `root`. The first use scans the folder (the images of every model, the history sizes) and removes
 * temporary files a crash left; afterwards an in-memory index answers, and every change to a model runs after the
 * previous one (one queue per model), so concurrent corrections of one image never interleave. Images are written to
 * a hidden temporary file in their folder, flushed and renamed into place; a relabel is one rename. The latest label
 * of an image wins; its history stays in feedback.jsonl. Images and history together stay within `maxBytes`.
 */
export class FeedbackStore {
  private scanned: Promise<void> | null = null;
  private readonly models = new Map<string, ModelFolder>();
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Bytes of images and history files, plus those reserved by writes in progress. */
  private used = 0;

  constructor(
    readonly root: string,
    readonly maxBytes: number,
  ) {}

  /** Bytes the store holds now (images and history files). */
  async size(): Promise<number> {
    await this.scan();
    return this.used;
  }

  /** Stores a correction: 507 FEEDBACK_FULL (nothing written) when it would pass `maxBytes`. */
  async add(c: Correction): Promise<Stored> {
    const model = modelFolder(c.model);
    const label = labelFolder(c.label);
    await this.scan();
    return this.serially(model, () => this.apply(model, label, c));
  }

  /** A model's counts, or null when the store has nothing for it. */
  async counts(model: string): Promise<Counts | null> {
    modelFolder(model);
    await this.scan();
    const m = this.models.get(model);
    if (!m) return null;
    const labels: Record<string, number> = {};
    let bytes = m.historyBytes;
    for (const e of m.images.values()) {
      labels[e.label] = (labels[e.label] ?? 0) + 1;
      bytes += e.size;
    }
    return { model, total: m.images.size, bytes, labels };
  }

  private serially<T>(model: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(model) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => {});
    this.queues.set(model, tail);
    void tail.then(() => {
      if (this.queues.get(model) === tail) this.queues.delete(model);
    });
    return run;
  }

  private async apply(model: string, label: string, c: Correction): Promise<Stored> {
    const folder = this.folderOf(model);
    let before = folder.images.get(c.sha256);
    // An image deleted by hand since the scan is stored again (and no longer counted).
    if (before && !(await stat(before.file).catch(() => null))) {
      folder.images.delete(c.sha256);
      this.used -= before.size;
      await rmdir(path.dirname(before.file)).catch(() => {});
      before = undefined;
    }
    const id = randomUUID();
    const previous = before && before.label !== label ? before.label : null;
    const line = `${JSON.stringify({
      time: new Date().toISOString(),
      id,
      sha256: c.sha256,
      model,
      version: c.version,
      predicted: c.predicted,
      label,
      previous,
      key: c.key,
    })}\n`;
    const lineBytes = Buffer.byteLength(line, 'utf8');
    const need = lineBytes + (before ? 0 : c.bytes.length);
    this.reserve(need);
    let wrote = 0;
    try {
      const dir = path.join(this.root, model, label);
      const file = path.join(dir, `${c.sha256}.${c.ext}`);
      if (!before) {
        await mkdir(dir, { recursive: true });
        await writeAtomically(dir, file, c.bytes);
        folder.images.set(c.sha256, { label, file, size: c.bytes.length });
        wrote += c.bytes.length;
      } else if (previous !== null) {
        await mkdir(dir, { recursive: true });
        const target = path.join(dir, path.basename(before.file));
        await rename(before.file, target);
        folder.images.set(c.sha256, { label, file: target, size: before.size });
        // A label folder left empty goes (mixer train refuses an empty class folder); not empty: it stays.
        await rmdir(path.dirname(before.file)).catch(() => {});
      }
      await appendLine(path.join(this.root, model, HISTORY_FILE), line);
      folder.historyBytes += lineBytes;
      wrote += lineBytes;
    } finally {
      // Whatever did not land is released (a failed write leaves no image and no line behind).
      this.used -= need - wrote;
    }
    return {
      id,
      sha256: c.sha256,
      label,
      previous,
      action: before ? (previous !== null ? 'relabelled' : 'unchanged') : 'stored',
    };
  }

  private reserve(bytes: number): void {
    if (this.used + bytes > this.maxBytes)
      throw new ServiceError(
        'FEEDBACK_FULL',
        `the feedback store is full: it holds ${this.used} bytes, this correction needs ${bytes} more and the limit is ${this.maxBytes} (see FEEDBACK_MAX_BYTES)`,
      );
    this.used += bytes;
  }

  private folderOf(model: string): ModelFolder {
    let m = this.models.get(model);
    if (!m) {
      m = { images: new Map(), historyBytes: 0 };
      this.models.set(model, m);
    }
    return m;
  }

  private scan(): Promise<void> {
    this.scanned ??= this.scanAll().catch((e) => {
      this.scanned = null;
      throw e;
    });
    return this.scanned;
  }

  private async scanAll(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    for (const m of await dirents(this.root)) {
      if (!m.isDirectory() || m.name.startsWith('.')) continue;
      const modelDir = path.join(this.root, m.name);
      const folder: ModelFolder = { images: new Map(), historyBytes: 0 };
      for (const l of await dirents(modelDir)) {
        const p = path.join(modelDir, l.name);
        if (l.isFile() && l.name === HISTORY_FILE) folder.historyBytes = (await stat(p)).size;
        if (!l.isDirectory() || l.name.startsWith('.')) continue;
        for (const f of await dirents(p)) {
          const file = path.join(p, f.name);
          if (f.isFile() && TEMP_FILE.test(f.name)) {
            await rm(file, { force: true });
            continue;
          }
          const hit = IMAGE_FILE.exec(f.name);
          if (!f.isFile() || !hit) continue;
          const size = (await stat(file)).size;
          const had = folder.images.get(hit[1]!);
          // The same image in two label folders (edited by hand): the newer file's label wins, both count.
          if (!had || (await stat(file)).mtimeMs > (await stat(had.file)).mtimeMs)
            folder.images.set(hit[1]!, { label: l.name, file, size });
          this.used += size;
        }
      }
      this.used += folder.historyBytes;
      if (folder.images.size > 0 || folder.historyBytes > 0) this.models.set(m.name, folder);
    }
  }
}

async function dirents(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Writes `bytes` to a hidden temporary file in `dir`, flushes it, and renames it to `file` (all or nothing). */
async function writeAtomically(dir: string, file: string, bytes: Uint8Array): Promise<void> {
  const tmp = path.join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Appends one line with a single write (O_APPEND) and flushes it. */
async function appendLine(file: string, line: string): Promise<void> {
  const fh = await open(file, 'a', 0o644);
  try {
    await fh.write(line);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
