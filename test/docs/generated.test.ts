// The docs' generated regions (settings table, CLI synopsis) match the code, and their quoted figures match
// models/figures.json: `npm run docs` rewrites them.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { flags as buildFlags } from '../../src/cli/commands/build.js';
import type { Command } from '../../src/cli/registry.js';
import { cliSynopsis } from '../../src/docs/cli-synopsis.js';
import { fillFigures, loadFigures } from '../../src/docs/figures.js';
import { fillRegions } from '../../src/docs/regions.js';
import { renderDocs, sections } from '../../src/docs/sections.js';
import { settingsTable } from '../../src/docs/settings-table.js';
import { SETTINGS } from '../../src/server/config.js';

/** The files whose regions differ from what `bodies` generates. */
const stale = (
  bodies: Record<string, string>,
  root?: string,
  figures?: ReturnType<typeof loadFigures>['figures'],
): string[] =>
  renderDocs(bodies, root, figures)
    .filter((d) => d.generated !== d.text)
    .map((d) => d.file);

t.test('README.md and docs/ hold what the code generates', async (t) => {
  const bodies = await sections();
  const docs = renderDocs(bodies);
  for (const d of docs) t.equal(d.text, d.generated, `${d.file} is out of date with the code: run npm run docs`);
  for (const name of Object.keys(bodies))
    t.ok(
      docs.some((d) => d.text.includes(`<!-- generated:${name} -->`)),
      `some markdown file holds the ${name} region`,
    );
});

t.test('a changed default or flag makes the check fail', async (t) => {
  const bodies = await sections();
  const moved = SETTINGS.map((s) => (s.key === 'port' ? { ...s, dflt: 3001 } : s));
  t.same(stale({ ...bodies, settings: settingsTable(moved) }), ['docs/serving.md'], 'a new PORT default');
  t.match(settingsTable(moved), '| `--port` | `PORT` | `3001` |');
  const build = (await import('../../src/cli/commands/build.js')) as Command;
  const extra = { ...build, flags: [...buildFlags, { flag: 'dry-run', kind: 'boolean', help: 'x' } as const] };
  const cli = await cliSynopsis({ build: extra });
  t.match(cli, /^mixer build +\[--preset <name>\] \[--seed N\] --out <model\.onnx> \[--dry-run\]/m);
  t.same(stale({ ...bodies, cli }), ['docs/cli.md'], 'a new build flag');
});

t.test('regions: any markdown file under docs/, text around them kept, bad markers named', async (t) => {
  const root = t.testdir({ 'README.md': 'no regions\n' });
  mkdirSync(path.join(root, 'docs', 'ops'), { recursive: true });
  const page = 'Intro\n<!-- generated:settings -->\nold rows\n<!-- /generated:settings -->\nOutro\n';
  writeFileSync(path.join(root, 'docs', 'ops', 'config.md'), page);
  const bodies = { settings: 'NEW' };
  t.same(stale(bodies, root), [path.join('docs', 'ops', 'config.md')]);
  const filled = fillRegions(page, bodies, 'p.md');
  t.equal(filled, 'Intro\n<!-- generated:settings -->\nNEW\n<!-- /generated:settings -->\nOutro\n');
  t.equal(fillRegions(filled, bodies, 'p.md'), filled, 'a second run changes nothing');
  t.throws(() => fillRegions('<!-- generated:setings -->\n<!-- /generated:setings -->', bodies, 'p.md'), {
    message: 'p.md:1: unknown generated region "setings". Should be one of: settings',
  });
  t.throws(() => fillRegions('x\n<!-- generated:settings -->\n', bodies, 'p.md'), {
    message: 'p.md:2: generated:settings is never closed',
  });
  t.throws(() => fillRegions('<!-- /generated:settings -->', bodies, 'p.md'), {
    message: 'p.md:1: /generated:settings closes no open region',
  });
  t.throws(() => settingsTable([{ ...SETTINGS[0]!, dflt: null }].map(({ docDefault: _d, ...s }) => s)), {
    message: /MODEL_PATH has no default to document/,
  });
});

t.test('a figure changed in models/figures.json makes every file that quotes it stale', async (t) => {
  const bodies = await sections();
  const { figures } = loadFigures(path.resolve(import.meta.dirname, '../..'));
  const changed = { ...figures, int8: { ...figures['int8']!, text: '99.99%' } };
  const files = stale(bodies, undefined, changed);
  t.ok(files.includes('docs/quantization.md'), 'the int8 table');
  t.ok(files.includes('models/mixer-cifar10-report/report.md'), "the float model's report");
  const line = 'int8: **<!-- figure:int8 -->86.23%<!-- /figure -->**, float <!-- figure:f -->1%<!-- /figure -->';
  const f = { int8: { text: '99.99%', what: 'w', source: 's' }, f: { text: '2%', what: 'w', source: 's' } };
  t.equal(
    fillFigures(line, f, 'p.md'),
    'int8: **<!-- figure:int8 -->99.99%<!-- /figure -->**, float <!-- figure:f -->2%<!-- /figure -->',
  );
  t.throws(() => fillFigures('a\n<!-- figure:nope -->1%<!-- /figure -->', f, 'p.md'), {
    message: 'p.md:2: unknown figure "nope" (not in models/figures.json)',
  });
});
