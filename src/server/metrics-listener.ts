// The optional second listener (--metrics-port): GET /metrics without a key, on an address of its own (default 127.0.0.1).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { clientErrorResponse } from './client-errors.js';
import { errorBody } from './errors.js';
import { SECURITY_HEADERS } from './security-headers.js';

/** Starts the metrics listener with the service's timeouts (`timeouts`: serverTimeouts(config)); resolves once it listens. */
export async function startMetricsListener(
  registry: Registry,
  port: number,
  host: string,
  timeouts: http.ServerOptions,
): Promise<{ address: AddressInfo; close: () => Promise<void> }> {
  const server = http.createServer(timeouts, (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const send = (status: number, type: string, text: string): void => {
      res
        .writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(text) })
        .end(text);
    };
    if ((req.method === 'GET' || req.method === 'HEAD') && path === '/metrics') {
      registry.metrics().then(
        (text) => send(200, registry.contentType, text),
        () => send(500, 'application/json; charset=utf-8', JSON.stringify(errorBody('INTERNAL', 'internal error'))),
      );
      return;
    }
    send(
      404,
      'application/json; charset=utf-8',
      JSON.stringify(errorBody('NOT_FOUND', 'this listener serves GET /metrics only')),
    );
  });
  // A timeout or a malformed request gets the service's JSON answer (408 REQUEST_TIMEOUT, 400, 431), then the close.
  server.on('clientError', (err: Error & { code?: string }, socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    if (socket.writable) socket.end(clientErrorResponse(err));
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
