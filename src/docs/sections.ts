// The docs' generated regions and the check that the markdown files hold what the code says.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliSynopsis } from './cli-synopsis.js';
import { type Figure, fillFigures, loadFigures } from './figures.js';
import { docFiles, fillRegions } from './regions.js';
import { settingsTable } from './settings-table.js';

/** The repository root (this file is src/docs/ or dist/docs/). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Each region's generated body, by the name its markers carry. */
export async function sections(): Promise<Record<string, string>> {
  return { settings: settingsTable(), cli: await cliSynopsis() };
}

/** Every markdown file that may hold regions or figures: its text now and as generated from `bodies` and `figures`. */
export function renderDocs(
  bodies: Readonly<Record<string, string>>,
  root = ROOT,
  figures: Readonly<Record<string, Figure>> = loadFigures(root).figures,
): { file: string; text: string; generated: string }[] {
  return docFiles(root).map((file) => {
    const text = readFileSync(path.join(root, file), 'utf8');
    return { file, text, generated: fillFigures(fillRegions(text, bodies, file), figures, file) };
  });
}
