import { isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';

/**
 * The caller's address for limiter keys and audit `sourceIp`: `request.ip` (behind a configured
 * proxy, the address X-Forwarded-For names) when it is an IP address, else the socket's peer. A
 * trusted hop that passes the client's header on unchanged lets the client write any text there;
 * that text never becomes a key or an audit field (such callers share the proxy's budget).
 */
export function clientAddress(request: FastifyRequest): string {
  if (isIP(request.ip) !== 0) return request.ip;
  return request.socket.remoteAddress ?? 'unknown';
}
