// scripts/setup-test-deps.sh, the README's and CI's system-package step: as root it never calls sudo, as another user it
// calls sudo for apt-get; promtool lands where the metrics test looks. apt-get, sudo and dpkg-deb are stand-ins on PATH.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

const root = path.resolve(import.meta.dirname, '../..');
const SCRIPT = path.join(root, 'scripts/setup-test-deps.sh');

/** Stand-ins that log each call (argv and uid) to $LOG; apt-get "fails" to install chromium, so that branch runs too. */
const FAKES: Record<string, string> = {
  sudo: '#!/bin/sh\necho "sudo uid=$(id -u) $*" >> "$LOG"\nexec "$@"\n',
  'apt-get': `#!/bin/sh
echo "apt-get uid=$(id -u) $*" >> "$LOG"
case "$*" in
  *"install"*chromium*) exit 100 ;;
  "download prometheus") : > prometheus_2.42.0+ds-5_amd64.deb ;;
esac
`,
  'dpkg-deb': `#!/bin/sh
echo "dpkg-deb uid=$(id -u) $*" >> "$LOG"
mkdir -p "$3/usr/bin" && printf '#!/bin/sh\\necho "promtool, version 2.42.0"\\n' > "$3/usr/bin/promtool" && chmod +x "$3/usr/bin/promtool"
`,
};

/** A scratch checkout (the script and its folder) plus a bin/ of stand-ins, writable by any user. */
function scratch(): { dir: string; bin: string; log: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'setup-deps-'));
  chmodSync(dir, 0o777);
  mkdirSync(path.join(dir, 'scripts'));
  copyFileSync(SCRIPT, path.join(dir, 'scripts/setup-test-deps.sh'));
  const bin = path.join(dir, 'bin');
  mkdirSync(bin);
  for (const [name, body] of Object.entries(FAKES)) writeFileSync(path.join(bin, name), body, { mode: 0o755 });
  const log = path.join(dir, 'calls.log');
  writeFileSync(log, '');
  chmodSync(log, 0o666);
  return { dir, bin, log };
}

function run(asUser: 'self' | 'nobody', s: { dir: string; bin: string; log: string }, pathDirs: string[]) {
  const cmd = ['bash', path.join(s.dir, 'scripts/setup-test-deps.sh')];
  const argv = asUser === 'nobody' ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', ...cmd] : cmd;
  return spawnSync(argv[0]!, argv.slice(1), {
    encoding: 'utf8',
    env: { PATH: [...pathDirs, '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':'), LOG: s.log, HOME: s.dir },
    timeout: 120_000,
  });
}

const oracle = spawnSync('/usr/bin/python3', ['-c', 'import torch, onnx, grpc, grpc_tools'], { timeout: 120_000 });
const skip =
  oracle.status === 0 ? false : 'needs /usr/bin/python3 with torch, onnx, grpc and grpc_tools (the script checks them)';
const isRoot = process.getuid?.() === 0;
const systemSudo =
  spawnSync('sh', ['-c', 'command -v sudo'], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }).status === 0;

t.test('the README runs the script, not sudo', async (t) => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const block = /## Fresh machine: two commands\n+```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  t.match(block, /^bash scripts\/setup-test-deps\.sh && npm ci && npm run check && npm test$/m);
  const commands = block.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  t.notMatch(commands.join('\n'), /\bsudo\b/, 'no sudo in the fresh-machine commands');
  t.match(readFileSync(path.join(root, '.ci/run'), 'utf8'), /bash scripts\/setup-test-deps\.sh/, '.ci/run uses it');
});

t.test(
  'as root: apt-get runs directly, sudo is never called (a root container has none)',
  { skip: skip || (!isRoot && 'not root') },
  async (t) => {
    const s = scratch();
    t.teardown(() => rmSync(s.dir, { recursive: true, force: true }));
    const r = run('self', s, [s.bin]);
    t.equal(r.status, 0, `exit 0 (stderr: ${r.stderr})`);
    const calls = readFileSync(s.log, 'utf8');
    t.notMatch(calls, /^sudo/m, 'no sudo');
    t.match(calls, /^apt-get uid=0 update -qq$/m);
    t.match(
      calls,
      /^apt-get uid=0 install -y -qq python3-torch python3-onnx python3-pil python3-grpcio python3-grpc-tools strace$/m,
    );
    t.match(calls, /^apt-get uid=0 install -y -qq chromium$/m);
    t.match(r.stdout, /chromium could not be installed/, 'a failed chromium install is reported, not fatal');
    t.ok(existsSync(path.join(s.dir, '.tools/prometheus/usr/bin/promtool')), 'promtool in .tools/');
    t.match(r.stdout, /promtool, version/);
    // Idempotent: a second run replaces .tools/prometheus.
    t.equal(run('self', s, [s.bin]).status, 0, 'a second run succeeds');
  },
);

t.test(
  'as root with no sudo anywhere on PATH the script still runs',
  { skip: skip || (!isRoot && 'not root') },
  async (t) => {
    const s = scratch();
    t.teardown(() => rmSync(s.dir, { recursive: true, force: true }));
    rmSync(path.join(s.bin, 'sudo'));
    t.equal(run('self', s, [s.bin]).status, 0, `exit 0${systemSudo ? '' : ' (this machine has no sudo)'}`);
  },
);

t.test(
  'as a normal user: apt-get update/install go through sudo, the promtool download does not',
  { skip: skip || (isRoot && spawnSync('setpriv', ['--version']).status !== 0 && 'setpriv is missing') },
  async (t) => {
    const s = scratch();
    t.teardown(() => rmSync(s.dir, { recursive: true, force: true }));
    const r = run(isRoot ? 'nobody' : 'self', s, [s.bin]);
    t.equal(r.status, 0, `exit 0 (stderr: ${r.stderr})`);
    const calls = readFileSync(s.log, 'utf8').trim().split('\n');
    const uid = isRoot ? '65534' : String(process.getuid?.());
    t.same(
      calls.filter((c) => c.startsWith('sudo')),
      [
        `sudo uid=${uid} env DEBIAN_FRONTEND=noninteractive apt-get update -qq`,
        `sudo uid=${uid} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch python3-onnx python3-pil python3-grpcio python3-grpc-tools strace`,
        `sudo uid=${uid} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium`,
      ],
      'every apt-get that needs root goes through sudo',
    );
    t.ok(calls.includes(`apt-get uid=${uid} download prometheus`), 'apt-get download runs as the user');
    t.ok(existsSync(path.join(s.dir, '.tools/prometheus/usr/bin/promtool')), 'promtool in .tools/');
  },
);

t.test(
  'as a normal user without sudo: a clear message and a non-zero exit',
  {
    skip:
      skip ||
      (isRoot && spawnSync('setpriv', ['--version']).status !== 0 && 'setpriv is missing') ||
      (systemSudo && 'this machine has a real sudo on PATH'),
  },
  async (t) => {
    const s = scratch();
    t.teardown(() => rmSync(s.dir, { recursive: true, force: true }));
    rmSync(path.join(s.bin, 'sudo'));
    const r = run(isRoot ? 'nobody' : 'self', s, [s.bin]);
    t.equal(r.status, 1);
    t.match(r.stderr, /not root and no sudo/);
    t.equal(readFileSync(s.log, 'utf8'), '', 'nothing ran');
  },
);
