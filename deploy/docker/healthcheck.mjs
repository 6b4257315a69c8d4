// Container HEALTHCHECK: exits 0 when GET /readyz answers 2xx; after HEALTHCHECK_KILL_AFTER failures in a row it SIGKILLs the service so the restart policy replaces it.
//
// Docker only *marks* a container unhealthy; nothing replaces it (compose has no such feature). So this check counts
// consecutive failures in /tmp and, past the threshold, kills the server process: the container exits and its
// restart policy starts a fresh one. Not counted: a refused connection (starting, or draining after SIGTERM) and a
// 503 SHUTTING_DOWN. Counted: no answer within the timeout (a wedged event loop) and any other non-2xx answer.
// Needs the server not to be PID 1 (compose sets `init: true`; for `docker run` use `--init`): the kernel ignores
// SIGKILL sent to a namespace's init from inside it.
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';

const port = process.env.PORT || '3000';
const killAfter = Number(process.env.HEALTHCHECK_KILL_AFTER ?? '3');
const STATE = process.env.HEALTHCHECK_STATE || '/tmp/mixer-health-failures';
const timeoutMs = Number(process.env.HEALTHCHECK_TIMEOUT_MS || '4000');

/** 'ok', 'refused', 'draining' or 'failed' (timeout or a bad answer). */
async function probe() {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(timeoutMs) });
    if (res.ok) return 'ok';
    const body = await res.json().catch(() => ({}));
    return body.code === 'SHUTTING_DOWN' ? 'draining' : 'failed';
  } catch (e) {
    return e?.cause?.code === 'ECONNREFUSED' ? 'refused' : 'failed';
  }
}

const read = () => {
  try {
    return Number(readFileSync(STATE, 'utf8')) || 0;
  } catch {
    return 0;
  }
};
const write = (n) => {
  try {
    writeFileSync(STATE, String(n));
  } catch {
    // a read-only /tmp only disables the self-kill, never the check itself
  }
};

/** The pid of the process listening on PORT (found through its socket's inode), or null. */
function serverPid() {
  const hexPort = `:${Number(port).toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address, state 0A = LISTEN, inode
      if (cols.length > 9 && cols[1].endsWith(hexPort) && cols[3] === '0A') inodes.add(`socket:[${cols[9]}]`);
    }
  }
  if (!inodes.size) return null;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    let fds = [];
    try {
      fds = readdirSync(`/proc/${d}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (inodes.has(readlinkSync(`/proc/${d}/fd/${fd}`))) return Number(d);
      } catch {
        // closed meanwhile
      }
    }
  }
  return null;
}

const result = await probe();
if (result === 'ok') {
  write(0);
  process.exit(0);
}
if (result === 'failed' && killAfter > 0) {
  const n = read() + 1;
  write(n);
  if (n >= killAfter) {
    const pid = serverPid();
    if (pid && pid !== 1) {
      console.error(`healthcheck: ${n} failures in a row, killing the service (pid ${pid}) so that it is restarted`);
      write(0);
      process.kill(pid, 'SIGKILL');
    } else {
      console.error(`healthcheck: ${n} failures in a row, but the service is PID 1 and cannot be killed from inside; run with an init`);
    }
  }
}
process.exit(1);
