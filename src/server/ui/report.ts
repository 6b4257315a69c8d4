// A model's training report, when one is shipped beside it: <model>-report/ or report/ next to the .onnx file, or a training run's report.md and plot beside its model.onnx.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { type Asset, asset } from './assets.js';

const REPORT_TYPES: Record<string, string> = {
  '.md': 'text/markdown; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * The report folder of the model at `modelPath` (`x.onnx` → `x-report/`, else `report/` beside it, else the model's
 * own folder when a report.md lies there, as in a `mixer train` run folder), or null.
 */
export async function findReport(modelPath: string): Promise<string | null> {
  const dir = path.dirname(modelPath);
  for (const candidate of [
    path.join(dir, `${path.basename(modelPath).replace(/\.onnx$/i, '')}-report`),
    path.join(dir, 'report'),
  ]) {
    try {
      if ((await stat(candidate)).isDirectory()) return candidate;
    } catch {
      // absent: try the next name
    }
  }
  try {
    if ((await stat(path.join(dir, 'report.md'))).isFile()) return dir;
  } catch {
    // no report.md beside the model either
  }
  return null;
}

/** One file of a report folder, only if it is listed there under a plain name with a report type; null otherwise. */
export async function reportFile(dir: string, name: string): Promise<Asset | null> {
  const type = REPORT_TYPES[path.extname(name).toLowerCase()];
  if (!type || !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name)) return null;
  if (!(await readdir(dir)).includes(name)) return null;
  return asset(type, await readFile(path.join(dir, name)));
}
