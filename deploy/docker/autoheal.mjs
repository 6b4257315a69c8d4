// Opt-in compose watcher (profile `autoheal`): through the Docker socket, starts again the replicas of its own project that exited with a non-zero code, e.g. after `docker kill`.
//
// No restart policy restarts a container stopped with `docker kill` (Docker counts it as a manual stop). This loop
// does, every AUTOHEAL_INTERVAL_MS (2000): it lists the containers of its compose project and service
// AUTOHEAL_SERVICE (mixer) that have exited, and starts those whose exit code is not 0. A clean stop
// (`docker compose stop`, `docker stop` that finished draining) exits 0 and is left alone. It needs the Docker socket,
// which is root on the host: that is why it is opt-in.
import http from 'node:http';
import { hostname } from 'node:os';

const SOCKET = process.env.DOCKER_SOCKET || '/var/run/docker.sock';
const SERVICE = process.env.AUTOHEAL_SERVICE || 'mixer';
const INTERVAL_MS = Number(process.env.AUTOHEAL_INTERVAL_MS || '2000');
const log = (msg, extra = {}) => console.log(JSON.stringify({ time: new Date().toISOString(), service: 'autoheal', msg, ...extra }));

/** One Docker Engine API call over the unix socket; resolves { status, body }. */
function api(method, path) {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: SOCKET, method, path, headers: { host: 'docker' }, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        let body = null;
        try {
          body = text ? JSON.parse(text) : null;
        } catch {
          body = text;
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

// Compose names this container's project in a label; the container's hostname is its short id.
const self = await api('GET', `/containers/${hostname()}/json`);
const project = self.body?.Config?.Labels?.['com.docker.compose.project'];
if (self.status !== 200 || !project) {
  console.error(`autoheal: cannot find this container's compose project through ${SOCKET} (HTTP ${self.status}); is the socket mounted?`);
  process.exit(2);
}
const filters = encodeURIComponent(JSON.stringify({ label: [`com.docker.compose.project=${project}`, `com.docker.compose.service=${SERVICE}`], status: ['exited'] }));
log('watching', { project, service: SERVICE, intervalMs: INTERVAL_MS });

let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT']) process.once(sig, () => (stopping = true));
while (!stopping) {
  try {
    const list = await api('GET', `/containers/json?all=1&filters=${filters}`);
    for (const c of Array.isArray(list.body) ? list.body : []) {
      const info = await api('GET', `/containers/${c.Id}/json`);
      const code = info.body?.State?.ExitCode;
      if (info.status !== 200 || code === 0 || info.body?.State?.Status !== 'exited') continue;
      const started = await api('POST', `/containers/${c.Id}/start`);
      log(started.status < 300 ? 'started an exited replica' : 'could not start an exited replica', { id: c.Id.slice(0, 12), exitCode: code, status: started.status });
    }
  } catch (e) {
    log('docker API error', { error: String(e) });
  }
  await new Promise((r) => setTimeout(r, INTERVAL_MS));
}
log('stopped');
