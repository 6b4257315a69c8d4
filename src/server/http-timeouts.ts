// The Node HTTP server timeouts (headers, whole request, keep-alive) shared by the service's listener and the metrics listener.
import type http from 'node:http';
import type { ServerConfig } from './config.js';

/** Idle keep-alive connections close after this long (above the 60 s idle timeouts of common load balancers). */
export const KEEP_ALIVE_TIMEOUT_MS = 72_000;

/**
 * Server options for HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS and keep-alive. Node checks its request and header
 * timeouts only every connectionsCheckingInterval (30 s by default), which let a 5 s timeout fire after up to 35 s;
 * checking every second (or a fifth of the shortest timeout) keeps them exact.
 */
export function serverTimeouts(
  config: Pick<ServerConfig, 'headersTimeoutMs' | 'requestTimeoutMs'>,
): Pick<http.ServerOptions, 'headersTimeout' | 'requestTimeout' | 'keepAliveTimeout' | 'connectionsCheckingInterval'> {
  const shortest = Math.min(config.headersTimeoutMs, config.requestTimeoutMs || Infinity);
  return {
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(shortest / 5))),
  };
}
