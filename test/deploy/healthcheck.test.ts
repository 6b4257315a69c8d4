// Runs the container health check (deploy/docker/healthcheck.mjs) against real loopback servers: pass, fail, drain, refuse, hang, and the self-kill.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ROOT } from './fixtures/deploy-files.js';

const SCRIPT = join(ROOT, 'deploy/docker/healthcheck.mjs');
const dir = mkdtempSync(join(tmpdir(), 'mixer-health-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const state = join(dir, 'failures');

/** A stand-in service on a loopback port whose /readyz answers per `mode`. */
const SERVER = `
import http from 'node:http';
const mode = process.argv.at(-1);
const s = http.createServer((req, res) => {
  if (mode === 'hang') return;
  if (mode === 'ok') return res.end('{"status":"ready"}');
  res.statusCode = 503;
  res.end(JSON.stringify({ statusCode: 503, code: mode === 'draining' ? 'SHUTTING_DOWN' : 'NOT_READY', error: 'Service Unavailable', message: mode }));
});
s.listen(0, '127.0.0.1', () => console.log(s.address().port));
`;

async function server(
  mode: string,
): Promise<{ port: number; child: ChildProcess; exited: Promise<NodeJS.Signals | null> }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', SERVER, '--', mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, sig) => resolve(sig)));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d) => resolve(Number(String(d).trim())));
    child.once('exit', () => reject(new Error('stand-in server exited')));
  });
  return { port, child, exited };
}

function check(port: number, env: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [SCRIPT], {
      env: {
        ...process.env,
        PORT: String(port),
        HEALTHCHECK_STATE: state,
        HEALTHCHECK_KILL_AFTER: '2',
        HEALTHCHECK_TIMEOUT_MS: '500',
        ...env,
      },
      stdio: 'ignore',
    });
    p.on('exit', (code) => resolve(code ?? -1));
  });
}
const failures = () => {
  try {
    return Number(readFileSync(state, 'utf8'));
  } catch {
    return 0;
  }
};

t.test('a ready service passes and resets the failure count', async (t) => {
  const s = await server('ok');
  t.teardown(() => void s.child.kill());
  writeFileSync(state, '1');
  t.equal(await check(s.port), 0);
  t.equal(failures(), 0);
});

t.test('draining (503 SHUTTING_DOWN) and a refused connection fail the check but are not counted', async (t) => {
  const s = await server('draining');
  t.teardown(() => void s.child.kill());
  writeFileSync(state, '0');
  t.equal(await check(s.port), 1);
  t.equal(await check(s.port), 1);
  t.equal(failures(), 0, 'a drain never leads to a kill');
  s.child.kill();
  await s.exited;
  t.equal(await check(s.port), 1, 'nothing listens');
  t.equal(failures(), 0, 'refused is not counted (starting or draining)');
});

t.test('a service that keeps failing is SIGKILLed after HEALTHCHECK_KILL_AFTER checks in a row', async (t) => {
  const s = await server('failing');
  t.teardown(() => void s.child.kill());
  writeFileSync(state, '0');
  t.equal(await check(s.port), 1);
  t.equal(failures(), 1);
  t.equal(s.child.exitCode, null, 'still running after one failure');
  t.equal(await check(s.port), 1);
  t.equal(await s.exited, 'SIGKILL', 'killed at the second failure in a row');
  t.equal(failures(), 0, 'the count starts again for the restarted service');
});

t.test('a hung service (no answer within the timeout) counts, and HEALTHCHECK_KILL_AFTER=0 never kills', async (t) => {
  const s = await server('hang');
  t.teardown(() => void s.child.kill());
  writeFileSync(state, '0');
  t.equal(await check(s.port, { HEALTHCHECK_KILL_AFTER: '0' }), 1);
  t.equal(await check(s.port, { HEALTHCHECK_KILL_AFTER: '0' }), 1);
  t.equal(s.child.exitCode, null, 'not killed when disabled');
  t.equal(await check(s.port), 1);
  t.equal(await check(s.port), 1);
  t.equal(await s.exited, 'SIGKILL', 'a hung service is killed too');
});
