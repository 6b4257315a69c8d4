// The CLI's exit codes as a user sees them: a mistake in the input is one line and exit 2; a bug is exit 1 with its stack.
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EXIT_BUG, EXIT_USER, reportFailure } from '../../src/cli/failure.js';
import { buildInferenceModel, defaultSpec, initParams, preset } from '../../src/model/index.js';
import { Builder, Graph, serializeModel } from '../../src/onnx/index.js';
import { RuntimeError } from '../../src/runtime/session.js';
import { ServiceError } from '../../src/server/errors.js';
import { ConfigError, UsageError } from '../../src/util/errors.js';
import { BIN, mixerCli } from '../fixtures/cli.js';

const mixer = mixerCli({ MODEL_PATH: '', MIXER_DEBUG: '' });
const FAULT = path.resolve('test/fixtures/fault-write-file.mjs');

/** `mixer ...args` with a test-only --import fault before the entry point. */
const mixerWithFault = mixerCli({ MIXER_DEBUG: '' }, { nodeArgs: ['--import', FAULT] });

t.before(() => {
  if (!existsSync(BIN)) throw new Error('dist/ is missing: run npm run build (npm test does it first)');
});

t.test('user mistakes of every kind: exit 2, one line, no stack trace', async (t) => {
  const dir = t.testdir({ 'garbage.onnx': 'not a model', empty: {} });
  const tiny = preset('tiny');
  const badTraining = path.join(dir, 'bad-training.onnx');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(
    badTraining,
    buildInferenceModel(defaultSpec(tiny), initParams(tiny, 0), { 'mixer.training': '{"epochs": 3' }),
  );
  const tinyModel = path.join(dir, 'tiny.onnx');
  writeFileSync(tinyModel, buildInferenceModel(defaultSpec(tiny), initParams(tiny, 0)));
  const cases: [string, string[], RegExp][] = [
    ['bad flag value', ['build', '--preset', 'tiny', '--seed', 'x', '--out', 'a.onnx'], /--seed must be an integer/],
    ['missing output folder', ['build', '--preset', 'tiny', '--out', path.join(dir, 'no', 'a.onnx')], /ENOENT/],
    ['invalid model file', ['info', path.join(dir, 'garbage.onnx')], /is not a valid ONNX model/],
    ['bad model metadata', ['info', badTraining], /metadata 'mixer\.training' is not valid JSON/],
    ['missing checkpoint', ['export', '--checkpoint', path.join(dir, 'none.safetensors'), '--out', 'x'], /ENOENT/],
    ['bench list flag', ['bench', '--threads', '0'], /--threads: "0" is not a positive integer/],
    [
      'bench missing int8 model',
      ['bench', '--preset', 'tiny', '--int8', path.join(dir, 'q.onnx')],
      /--int8: .* not found/,
    ],
    [
      'bench --int8 list with a missing second model',
      ['bench', '--preset', 'tiny', '--int8', `${tinyModel},${path.join(dir, 'missing.onnx')}`],
      /--int8: .*missing\.onnx not found/,
    ],
    [
      'train --freeze',
      ['train', '--preset', 'tiny', '--out-dir', dir, '--freeze', 'head'],
      /--freeze: unknown part "head"/,
    ],
    [
      'empty data folder',
      ['train', '--preset', 'tiny', '--out-dir', path.join(dir, 'run'), '--data', path.join(dir, 'empty')],
      /empty/,
    ],
    ['eval on missing model', ['eval', '--model', path.join(dir, 'none.onnx')], /model file not found/],
    ['service setting', ['serve', '--max-batch', '0'], /--max-batch must be at least 1/],
  ];
  for (const [what, args, re] of cases) {
    const r = await mixer(...args);
    t.equal(r.code, EXIT_USER, `${what}: exit 2 (${r.stderr.trim()})`);
    t.match(r.stderr, re, what);
    t.match(r.stderr, /^mixer: /, `${what}: prefixed`);
    t.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line`);
    t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
  }
});

t.test('messages that say what to do: negative values, misspelt flags, one class folder, foreign models', async (t) => {
  const dir = t.testdir({ photos: { cats: { 'a.png': 'x', 'b.png': 'y' }, dogs: { 'c.png': 'z' } } });
  const foreign = path.join(dir, 'foreign.onnx');
  const g = new Graph('foreign');
  g.output(new Builder(g).identity(g.input('x', 'float32', [1, 4]), 'y'));
  writeFileSync(foreign, serializeModel(g));
  const run = path.join(dir, 'run');
  const cases: [string, string[], RegExp][] = [
    [
      'a negative number is a value',
      ['train', '--out-dir', run, '--lr', '-1'],
      /^mixer: --lr must be at least 0, got -1$/,
    ],
    [
      'a value starting with a dash',
      ['train', '--out-dir', '-x'],
      /^mixer: --out-dir needs a value, but the next argument starts with a dash: write --out-dir=VALUE/,
    ],
    [
      'a misspelt flag',
      ['train', '--out-dir', run, '--epoch', '3'],
      /^mixer: unknown option --epoch; did you mean --epochs\? \(--help lists the options\)$/,
    ],
    ['swapped letters', ['eval', '--modle', 'x.onnx'], /did you mean --model\?/],
    ['a shortened flag', ['train', '--warmup', '2'], /did you mean --warmup-epochs\?/],
    ['nothing near', ['train', '--zzz', '1'], /^mixer: unknown option --zzz \(--help lists the options\)$/],
    [
      'one class folder',
      ['train', '--preset', 'tiny', '--out-dir', run, '--data', path.join(dir, 'photos', 'cats')],
      /cats holds 2 images but no class folders: it looks like the folder of one class .*; pass its parent instead: --data .*photos(\/\.\.)? \(class folders cats, dogs\)/,
    ],
    [
      'quantize a model of another tool',
      ['quantize', '--model', foreign, '--out', path.join(dir, 'q.onnx')],
      /foreign\.onnx was not written by onnx-mixer, and mixer quantize only rewrites its own MLP-Mixer graphs: it needs their metadata \(mixer\.config, .*mixer export .*python -m onnxruntime\.quantization/,
    ],
  ];
  for (const [what, args, re] of cases) {
    const r = await mixer(...args);
    t.equal(r.code, EXIT_USER, `${what}: exit 2 (${r.stderr.trim()})`);
    t.match(r.stderr.trim(), re, what);
    t.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line`);
  }
});

t.test('a bug inside a command: exit 1 with the error and its stack', async (t) => {
  const dir = t.testdir();
  const r = await mixerWithFault('build', '--preset', 'tiny', '--out', path.join(dir, 'a.onnx'));
  t.equal(r.code, EXIT_BUG, 'exit 1');
  t.match(r.stderr, /^mixer: internal error \(a bug; please report it with the command line\): Cannot read properties/);
  t.match(r.stderr, /TypeError: Cannot read properties of undefined/);
  t.match(r.stderr, /\n\s+at .*commands[\\/]build\.[jt]s/, 'the stack names the command module');
  t.notOk(existsSync(path.join(dir, 'a.onnx')));
  const same = await mixer('build', '--preset', 'tiny', '--out', path.join(dir, 'a.onnx'));
  t.equal(same.code, 0, 'the same command without the fault succeeds');
});

t.test('reportFailure: the exit code and text for each kind of error', async (t) => {
  const report = (e: unknown, debug = false) => {
    let text = '';
    const code = reportFailure(e, (s) => (text += s), debug);
    return { code, text };
  };
  const enoent = Object.assign(new Error("ENOENT: no such file or directory, open 'x'"), {
    code: 'ENOENT',
    syscall: 'open',
  });
  const user: [string, unknown][] = [
    ['UsageError', new UsageError('--x must be a number\nsecond line')],
    ['ConfigError', new ConfigError('config.depth must be a positive integer')],
    ['a missing file', enoent],
    ['RuntimeError BAD_MODEL', new RuntimeError('cannot load model: x', 'BAD_MODEL')],
    ['ServiceError 4xx', new ServiceError('NOT_AN_IMAGE', 'x is not an image')],
  ];
  for (const [what, e] of user) {
    const r = report(e);
    t.equal(r.code, 2, what);
    t.equal(r.text.split('\n').length, 2, `${what}: one line`);
    t.match(r.text, /^mixer: /);
  }
  t.equal(report(new UsageError('a\nb')).text, 'mixer: a\n', 'first line only');
  t.match(report(new UsageError('bad'), true).text, /^mixer: bad\nUsageError: bad\n\s+at /, 'debug adds the stack');

  const bugs: [string, unknown][] = [
    ['TypeError', new TypeError("Cannot read properties of undefined (reading 'x')")],
    ['plain Error', new Error('invariant broken')],
    ['RuntimeError WORKER_CRASHED', new RuntimeError('inference worker crashed', 'WORKER_CRASHED')],
    ['ServiceError 500', new ServiceError('INTERNAL', 'internal error')],
    ['an error code without a syscall', Object.assign(new Error('x'), { code: 'ENOENT' })],
  ];
  for (const [what, e] of bugs) {
    const r = report(e);
    t.equal(r.code, 1, what);
    t.match(r.text, /^mixer: internal error/, what);
    t.match(r.text, /\n\s+at /, `${what}: stack`);
  }
  const wrapped = report(new Error('outer', { cause: new RangeError('the inner cause') }));
  t.match(wrapped.text, /\[cause\]: RangeError: the inner cause/, 'the cause is printed');
  const thrown = report('a string');
  t.equal(thrown.code, 1);
  t.match(thrown.text, /internal error.*a string/);
});
