// Every relative link and anchor in README.md, docs/ and the shipped model's reports leads somewhere: the file exists
// and, for `#anchor`, one of its headings makes that anchor.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { anchors, links, slug } from '../../src/docs/markdown.js';
import { docFiles } from '../../src/docs/regions.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const files = [...docFiles(ROOT), 'packages/client/README.md', 'models/mixer-cifar10-report/report.md'];

t.test('every relative link and anchor resolves', async (t) => {
  const anchorsOf = new Map<string, Set<string>>();
  const anchorsIn = (file: string): Set<string> => {
    const known = anchorsOf.get(file);
    if (known) return known;
    const a = anchors(readFileSync(path.join(ROOT, file), 'utf8'));
    anchorsOf.set(file, a);
    return a;
  };
  let checked = 0;
  for (const file of files) {
    for (const { target, line } of links(readFileSync(path.join(ROOT, file), 'utf8'))) {
      if (/^[a-z]+:/i.test(target)) continue;
      checked++;
      const [p = '', hash] = target.split('#');
      const to = p === '' ? file : path.normalize(path.join(path.dirname(file), decodeURI(p)));
      const where = `${file}:${line} → ${target}`;
      if (!existsSync(path.join(ROOT, to))) {
        t.fail(`${where}: no file ${to}`);
        continue;
      }
      if (hash !== undefined && to.endsWith('.md') && !anchorsIn(to).has(hash))
        t.fail(`${where}: ${to} has no heading with anchor #${hash}`);
    }
  }
  t.ok(checked > 40, `${checked} relative links checked`);
});

t.test("anchors follow GitHub's rule", async (t) => {
  t.equal(
    slug('HTTP service (`npm run bench:http`, `npm run loadtest`)'),
    'http-service-npm-run-benchhttp-npm-run-loadtest',
  );
  t.equal(slug("Typed client (`import { Client } from 'onnx-mixer'`)"), 'typed-client-import--client--from-onnx-mixer');
  t.same([...anchors('# A\n```\n# not a heading\n```\n## A\n')], ['a', 'a-1']);
});
