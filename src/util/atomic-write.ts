// Writes a file atomically: a unique temporary sibling, then a rename, so readers and concurrent writers never see half a file.
import { rename, rm, writeFile } from 'node:fs/promises';

/** Writes `data` to `path` via `<path>.tmp-<pid>-<random>` and a rename; the temporary file is removed on failure. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
