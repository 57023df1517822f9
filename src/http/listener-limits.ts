import type { Server, Socket } from 'node:net';
import type { Config } from '../core/config-schema.ts';
import type { Logger } from '../core/logger.ts';

/** The configured bounds on how long and how many connections a client may hold. */
export type ListenerLimits = Pick<
  Config,
  | 'headersTimeoutMs'
  | 'requestTimeoutMs'
  | 'keepAliveTimeoutMs'
  | 'idleTimeoutMs'
  | 'maxConnections'
  | 'maxConnectionsPerAddress'
>;

/**
 * Options for `http.createServer` / `https.createServer` (Fastify's `http` option, or merged into its
 * `https` option). Node checks the header and request timeouts on a timer every
 * `connectionsCheckingInterval` (30 s by default), so the timer runs often enough for the timeouts to
 * mean what they say. `handshakeTimeout` bounds a TLS client that never finishes its handshake.
 */
export function serverTimeoutOptions(limits: ListenerLimits): {
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  connectionsCheckingInterval: number;
  handshakeTimeout: number;
} {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    handshakeTimeout: limits.headersTimeoutMs,
  };
}

/** A warning about refused connections is logged at most this often (an attack must not flood the log). */
const refusalLogIntervalMs = 60_000;

/**
 * Caps open connections: `maxConnections` in all (Node refuses the rest), and
 * `maxConnectionsPerAddress` from one remote address (the excess is closed at once), so that one
 * client cannot hold every socket. Behind a load balancer every connection comes from its address:
 * raise the per-address cap there.
 */
export function capConnections(server: Server, limits: ListenerLimits, logger: Logger): void {
  server.maxConnections = limits.maxConnections;
  const open = new Map<string, number>();
  let refused = 0;
  let lastWarningMs = 0;
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress;
    if (address === undefined) return;
    const count = (open.get(address) ?? 0) + 1;
    if (count > limits.maxConnectionsPerAddress) {
      socket.destroy();
      refused++;
      const now = Date.now();
      if (now - lastWarningMs >= refusalLogIntervalMs) {
        logger.warn(
          { remoteAddress: address, refused, maxConnectionsPerAddress: limits.maxConnectionsPerAddress },
          'connections refused: too many open connections from one address',
        );
        lastWarningMs = now;
        refused = 0;
      }
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
}
