// `npm run docs`: rewrites the generated regions (settings table, CLI synopsis) of README.md, docs/**/*.md and
// models/**/*.md from the code, and the figures they quote from models/figures.json; with --check it changes nothing
// and exits 1 when a file is out of date.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, renderDocs, sections } from './sections.js';

const check = process.argv.includes('--check');
let stale = 0;
for (const d of renderDocs(await sections())) {
  if (d.generated === d.text) continue;
  stale++;
  if (check) console.error(`${d.file} is out of date with the code: run npm run docs`);
  else {
    writeFileSync(path.join(ROOT, d.file), d.generated);
    console.log(`updated ${d.file}`);
  }
}
if (stale === 0) console.log('docs up to date');
process.exitCode = check && stale > 0 ? 1 : 0;
