// CLI flag tables: the parser's defaults and limits and the --help lines come from one declaration per flag.
import t from 'tap';
import { UsageError } from '../../src/cli/args.js';
import { help, TRAIN_FLAGS } from '../../src/cli/commands/train.js';
import { type Flag, flagOptions, flagsHelp, numFlag, optionalNumFlag, strFlag } from '../../src/cli/flags.js';
import { MODEL_FLAGS } from '../../src/cli/model-flags.js';

const epochs: Flag = { flag: 'epochs', kind: 'int', arg: 'N', dflt: 40, min: 1, help: 'training epochs' };
const ratio: Flag = {
  flag: 'mix-prob',
  kind: 'number',
  dflt: 1,
  range: { text: '[0, 1]', ok: (x) => x >= 0 && x <= 1 },
  help: 'p',
};
const step: Flag = { flag: 'step', kind: 'choice', dflt: 'fused', choices: ['fused', 'separate'], help: 'graph' };

t.test('values: the default when absent, checked when given, one-line UsageErrors', async (t) => {
  t.equal(numFlag({}, epochs), 40);
  t.equal(numFlag({ epochs: '7' }, epochs), 7);
  t.throws(() => numFlag({ epochs: '0' }, epochs), new UsageError('--epochs must be at least 1, got 0'));
  t.throws(() => numFlag({ epochs: '2.5' }, epochs), new UsageError('--epochs must be an integer, got "2.5"'));
  t.throws(() => numFlag({ epochs: ' ' }, epochs), new UsageError('--epochs must be an integer, got " "'));
  t.equal(numFlag({}, ratio), 1);
  t.throws(
    () => numFlag({ 'mix-prob': '1.5' }, ratio),
    new UsageError('--mix-prob must be a number in [0, 1], got "1.5"'),
  );
  const { dflt: _unset, ...required }: Flag = epochs;
  t.equal(optionalNumFlag({}, required), undefined);
  t.throws(() => numFlag({}, required), new UsageError('--epochs is required'));
  t.equal(strFlag({}, step), 'fused');
  t.throws(
    () => strFlag({ step: 'warp' }, step),
    new UsageError('--step "warp" is not valid. Should be one of: fused, separate'),
  );
  t.same(flagOptions([epochs, { flag: 'resume', kind: 'boolean', help: 'r' }]), {
    epochs: { type: 'string' },
    resume: { type: 'boolean' },
  });
});

t.test('help lines: flag, argument, help, the default in place or at the end of the first line', async (t) => {
  t.equal(flagsHelp([epochs]), '  --epochs N             training epochs (default 40)');
  t.equal(flagsHelp([step]), '  --step fused|separate  graph (default fused)');
  t.equal(
    flagsHelp([
      { flag: 'warmup-epochs', kind: 'number', arg: 'X', dflt: 3, help: 'warmup {default} epochs\nthen decay' },
    ]),
    `  --warmup-epochs X      warmup 3 epochs\n${' '.repeat(25)}then decay`,
  );
  t.equal(
    flagsHelp([{ flag: 'threads', kind: 'int', arg: 'N', dfltText: 'all cores', help: 'threads' }]),
    '  --threads N            threads (default all cores)',
  );
});

t.test('mixer train --help documents every flag of the table with its default', async (t) => {
  for (const f of TRAIN_FLAGS) {
    const entry = help
      .split(/\n(?= {2}--)/)
      .find((e) => e.startsWith(`  --${f.flag} `) || e.startsWith(`  --${f.flag}\n`) || e === `  --${f.flag}`);
    t.ok(entry, `--${f.flag} is documented`);
    const d = f.dflt ?? f.dfltText;
    if (d !== undefined) t.match(entry ?? '', `default ${d}`, `--${f.flag} shows its default ${d}`);
  }
  for (const k of Object.keys(MODEL_FLAGS)) t.match(help, `--${k} `, `--${k} is documented`);
});
