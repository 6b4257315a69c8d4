// `mixer train` on an image folder as a user runs it: SIGINT writes a checkpoint and exits 130, --resume finishes the run.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import t from 'tap';

const BIN = path.resolve('dist/cli/main.js');

async function makeFolder(root: string): Promise<void> {
  const colours: Record<string, string> = { red: '#d02020', green: '#20b040', blue: '#2040d0' };
  for (const [cls, bg] of Object.entries(colours)) {
    for (let i = 0; i < 12; i++) {
      const file = path.join(root, cls, `${i}.${['png', 'jpg', 'webp'][i % 3]}`);
      await sharp({ create: { width: 36 + i, height: 30, channels: 3, background: bg } }).toFile(file);
    }
  }
}

function runTrain(
  args: string[],
  onLine?: (line: string, kill: () => void) => void,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, 'train', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const feed = (d: Buffer) => {
      out += d.toString();
      for (const line of d.toString().split('\n')) onLine?.(line, () => p.kill('SIGINT'));
    };
    p.stdout.on('data', feed);
    p.stderr.on('data', feed);
    p.on('close', (code) => resolve({ code, out }));
  });
}

t.test('SIGINT checkpoints and exits 130; --resume completes and exports', async (t) => {
  const dir = t.testdir({ data: { red: {}, green: {}, blue: {} } });
  await makeFolder(path.join(dir, 'data'));
  const run = path.join(dir, 'run');
  const common = [
    '--preset',
    'tiny',
    '--data',
    path.join(dir, 'data'),
    '--out-dir',
    run,
    '--batch-size',
    '4',
    '--threads',
    '1',
  ];
  let sent = false;
  const first = await runTrain([...common, '--epochs', '400'], (line, kill) => {
    if (!sent && /^epoch 2: /.test(line)) {
      sent = true;
      kill();
    }
  });
  t.equal(first.code, 130, 'exit code 130 after SIGINT');
  t.match(first.out, /checkpoint written/);
  t.ok(existsSync(path.join(run, 'checkpoint.safetensors')));
  const curve = readFileSync(path.join(run, 'training.svg'), 'utf8');
  t.match(curve, /^<svg/, 'the curve so far is written after every epoch, before the run ends');
  const second = await runTrain([...common, '--resume', '--epochs', '4']);
  t.equal(second.code, 0, second.out);
  t.match(second.out, /resuming .* at epoch [2-4]/);
  t.match(second.out, /done: validation accuracy/, "an image folder's held-out split is reported as validation");
  const report = readFileSync(path.join(run, 'report.md'), 'utf8');
  t.match(report, /red/);
  t.ok(existsSync(path.join(run, 'model.onnx')));
});
