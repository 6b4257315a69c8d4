// The shipped models score what models/figures.json says: `mixer eval` on the CIFAR-10 test split (skipped, with the
// reason, where CIFAR-10 was never fetched).
import { existsSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { cifar10CacheDir, defaultDataDir } from '../../src/data/cifar10.js';
import { loadFigures } from '../../src/docs/figures.js';
import { mixerCli } from '../fixtures/cli.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const cached = existsSync(path.join(cifar10CacheDir(defaultDataDir()), 'meta.json'));
const skip = cached ? false : `no CIFAR-10 cache in ${cifar10CacheDir(defaultDataDir())}; run \`mixer data cifar10\``;
const mixer = mixerCli({});

for (const [key, f] of Object.entries(loadFigures(ROOT).figures)) {
  if (!f.model) continue;
  t.test(`${key}: mixer eval of ${f.model}`, { skip }, async (t) => {
    const r = await mixer('eval', '--model', path.join(ROOT, f.model!), '--json');
    t.equal(r.code, 0, r.stderr);
    const { accuracy, count } = JSON.parse(r.stdout) as { accuracy: number; count: number };
    t.equal(count, 10000, 'the whole test split');
    t.equal(`${(accuracy * 100).toFixed(2)}%`, f.text, `${f.what}: ${f.text}`);
  });
}
