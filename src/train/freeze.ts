// --freeze: which parameters stay fixed while fine-tuning (the stem and/or the first N mixer blocks).

import { type MixerConfig, paramTable } from '../model/index.js';
import { UsageError } from '../util/errors.js';

/** Parses "stem", "blocks:N" or both comma-separated into the frozen parameter names; throws a one-line UsageError when invalid. */
export function frozenParams(c: MixerConfig, spec: string | undefined): Set<string> {
  const frozen = new Set<string>();
  if (!spec) return frozen;
  let blocks = 0;
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^blocks:(\d+)$/.exec(part);
    if (part === 'stem') frozen.add('stem.proj.weight').add('stem.proj.bias');
    else if (m) blocks = Number(m[1]);
    else throw new UsageError(`--freeze: unknown part "${part}". Should be stem, blocks:N or both (comma-separated)`);
  }
  if (blocks > c.depth) throw new UsageError(`--freeze blocks:${blocks}: the model has only ${c.depth} blocks`);
  for (const p of paramTable(c)) {
    const b = /^blocks\.(\d+)\./.exec(p.name);
    if (b && Number(b[1]) < blocks) frozen.add(p.name);
  }
  return frozen;
}
