// The inputs of a batch command: PATH arguments (files, folders walked recursively for images, globs with *, ?, [..]
// and **) expanded to a list of files in argument order, each folder's and glob's matches sorted.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

/** Extensions of the image files a folder or a glob contributes (files named directly are taken whatever their name). */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.avif', '.heic', '.heif', '.tif', '.tiff'];

/** One input: a file to process, or an argument that named nothing (`missing` says why). */
export type Input =
  | { path: string; missing?: undefined }
  | { path: string; missing: { code: string; message: string } };

const GLOB_CHARS = /[*?[]/;

const isImage = (f: string): boolean => IMAGE_EXTENSIONS.includes(path.extname(f).toLowerCase());

/** Files under `dir` (hidden entries skipped), as paths joined onto `dir`, sorted. */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) await visit(p);
      else if (e.isFile() || e.isSymbolicLink()) out.push(p);
    }
  };
  await visit(dir);
  return out.sort();
}

/** A glob (`/`-separated) as a regular expression over paths: `**` any folders, `*` and `?` within one name, `[..]` a class. */
export function globRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*' && glob[i + 1] === '*') {
      // `**/` matches zero or more folders; a trailing `**` anything.
      const slash = glob[i + 2] === '/';
      re += slash ? '(?:[^/]*/)*' : '.*';
      i += slash ? 2 : 1;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let cls = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        if (cls.startsWith('!')) cls = `^${cls.slice(1)}`;
        re += `[${cls}]`;
        i = end;
      }
    } else re += ch.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The files a glob matches: the walk starts at its longest folder prefix without glob characters. */
async function expandGlob(glob: string): Promise<string[]> {
  const parts = glob.split(/[\\/]/);
  const fixed: string[] = [];
  while (parts.length > 1 && !GLOB_CHARS.test(parts[0]!)) fixed.push(parts.shift()!);
  const base = fixed.length === 0 ? '.' : fixed.join('/') || '/';
  const re = globRegExp(parts.join('/'));
  let files: string[];
  try {
    files = await walk(base);
  } catch {
    return [];
  }
  return files.filter((f) => re.test(path.relative(base, f).split(path.sep).join('/')) && isImage(f));
}

/**
 * Expands PATH arguments, in order: an existing file is itself, a folder its image files (recursively, sorted), a
 * glob its matching image files (sorted). A path listed twice is kept once. An argument that names nothing becomes
 * an input with `missing` set, so that it is reported in its place.
 */
export async function expandInputs(args: readonly string[]): Promise<Input[]> {
  const out: Input[] = [];
  const seen = new Set<string>();
  const add = (p: string): void => {
    if (seen.has(p)) return;
    seen.add(p);
    out.push({ path: p });
  };
  for (const a of args) {
    let st: Awaited<ReturnType<typeof stat>> | null = null;
    try {
      st = await stat(a);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (!GLOB_CHARS.test(a) || code !== 'ENOENT') {
        out.push({
          path: a,
          missing: { code: 'UNREADABLE', message: `cannot read ${a}: ${code ?? (e as Error).message}` },
        });
        continue;
      }
    }
    if (st?.isDirectory()) {
      let files: string[];
      try {
        files = await walk(a);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        out.push({ path: a, missing: { code: 'UNREADABLE', message: `cannot list ${a}: ${code}` } });
        continue;
      }
      for (const f of files.filter(isImage)) add(f);
    } else if (st) add(a);
    else {
      const files = await expandGlob(a);
      if (files.length === 0)
        out.push({ path: a, missing: { code: 'NO_MATCH', message: `no image file matches ${a}` } });
      for (const f of files) add(f);
    }
  }
  return out;
}
