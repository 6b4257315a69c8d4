// The installed onnxruntime-node version, read from its package.json (for benchmark labels).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** onnxruntime-node's version, e.g. "1.30.0"; "unknown" when its package.json cannot be read. */
export function ortVersion(): string {
  try {
    const file = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
    const v = (JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown }).version;
    return typeof v === 'string' ? v : 'unknown';
  } catch {
    return 'unknown';
  }
}
