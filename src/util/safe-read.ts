// Reads a model or repository file without trusting it: symlinks stay inside the repository, only regular files, a byte cap that does not trust stat, and a stall timeout.
import { constants } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from './errors.js';

/** A problem with a model's files: the message names the file and the fix. */
export class ModelFileError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MODEL_FILE', message, options);
  }
}

/** Longest wait for one chunk of a read before the file counts as stalled (a hung network mount, say). */
export const READ_STALL_MS = 30_000;
const CHUNK = 16 * 1024 * 1024;

/** Where links may point: inside `root` unless `allowExternalLinks` (null root: anywhere, as for --model FILE). */
export interface LinkPolicy {
  root: string | null;
  allowExternalLinks: boolean;
}

const KINDS: [keyof import('node:fs').Stats, string][] = [
  ['isFIFO', 'a FIFO'],
  ['isCharacterDevice', 'a character device'],
  ['isBlockDevice', 'a block device'],
  ['isSocket', 'a socket'],
  ['isDirectory', 'a folder'],
];
const kind = (s: import('node:fs').Stats): string =>
  KINDS.find(([k]) => (s[k] as () => boolean).call(s))?.[1] ?? 'not a regular file';

const code = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/**
 * The real path of `p` (symlinks resolved), refused when it leaves the repository and the policy does not allow it.
 * `what` names the thing in errors.
 */
export async function resolveInside(p: string, policy: LinkPolicy, what = p): Promise<string> {
  let real: string;
  try {
    real = await realpath(p);
  } catch (e) {
    throw new ModelFileError(`${what}: cannot read it (${code(e)})`, { cause: e });
  }
  if (policy.root === null || policy.allowExternalLinks) return real;
  const root = await realpath(policy.root);
  if (real !== root && !real.startsWith(root + path.sep))
    throw new ModelFileError(
      `${what} links to ${real}, outside the model repository; copy it in, or start with --allow-external-links on (ALLOW_EXTERNAL_LINKS=on)`,
    );
  return real;
}

/**
 * A regular file's bytes, at most `max` of them. Links are resolved under `policy`; FIFOs, devices and sockets are
 * refused before any read (opened non-blocking, checked with fstat); a file over `max` fails before its read, and one
 * longer than `stat` said fails one byte past that size; a read that stalls for READ_STALL_MS fails.
 */
export async function readCapped(
  file: string,
  max: number,
  policy: LinkPolicy,
  limitHint = '',
  stallMs = READ_STALL_MS,
): Promise<Buffer> {
  const real = await resolveInside(file, policy, file);
  const notRegular = (s: import('node:fs').Stats) =>
    new ModelFileError(`${file} is ${kind(s)}, not a regular file; put the file itself there`);
  try {
    const s = await stat(real);
    if (!s.isFile()) throw notRegular(s);
  } catch (e) {
    if (e instanceof ModelFileError) throw e;
    throw new ModelFileError(`${file}: cannot read it (${code(e)})`, { cause: e });
  }
  let fh: import('node:fs/promises').FileHandle;
  try {
    fh = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (e) {
    throw new ModelFileError(`${file}: cannot read it (${code(e)})`, { cause: e });
  }
  let pending: Promise<unknown> | null = null;
  try {
    const s = await fh.stat();
    if (!s.isFile()) throw notRegular(s);
    if (s.size > max) throw new ModelFileError(`${file} is ${s.size} bytes, over the ${max}-byte limit${limitHint}`);
    const buf = Buffer.allocUnsafeSlow(s.size);
    const probe = Buffer.alloc(1);
    let n = 0;
    // Reads the stated size, then one byte more: a file longer than stat says (procfs, a file being written) fails
    // there, so no read goes past the stated size, itself within the cap.
    for (;;) {
      const into = n < buf.length ? buf : probe;
      const read = into === buf ? fh.read(buf, n, Math.min(CHUNK, buf.length - n), n) : fh.read(probe, 0, 1, n);
      pending = read;
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new ModelFileError(
                `${file}: a read made no progress for ${stallMs} ms; check the disk or mount it is on`,
              ),
            ),
          stallMs,
        );
      });
      const { bytesRead } = await Promise.race([read, stalled]).finally(() => clearTimeout(timer));
      pending = null;
      if (bytesRead === 0) break;
      if (into === probe)
        throw new ModelFileError(
          `${file} is longer than the ${s.size} bytes its size says (a file still being written, or a special file); put a finished regular file there`,
        );
      n += bytesRead;
    }
    return n === buf.length ? buf : buf.subarray(0, n);
  } catch (e) {
    if (e instanceof ModelFileError) throw e;
    throw new ModelFileError(`${file}: cannot read it (${code(e)})`, { cause: e });
  } finally {
    // A stalled read still holds the handle: close it once that read returns, without waiting for it here.
    if (pending)
      void pending.then(
        () => fh.close(),
        () => fh.close(),
      );
    else await fh.close().catch(() => {});
  }
}
