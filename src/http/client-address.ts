import { isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { limiterAddress } from '../iam/limiter-address.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** `clientAddress(request)`, once computed (request.ip is a getter; behind a proxy a costly one). */
    sourceAddress?: string;
    /** `limiterKey(request)`, once computed. */
    limiterKey?: string;
  }
}

/**
 * The caller's address for limiter keys and audit `sourceIp`: `request.ip` (behind a configured
 * proxy, the address X-Forwarded-For names) when it is an IP address, else the socket's peer. A
 * trusted hop that passes the client's header on unchanged lets the client write any text there;
 * that text never becomes a key or an audit field (such callers share the proxy's budget).
 * Computed once per request (the limiters, the guard and the audit all ask).
 */
export function clientAddress(request: FastifyRequest): string {
  let address = request.sourceAddress;
  if (address === undefined) {
    const ip = request.ip;
    address = isIP(ip) !== 0 ? ip : (request.socket.remoteAddress ?? 'unknown');
    request.sourceAddress = address;
  }
  return address;
}

/** The key the per-address limiters count the caller under (`limiterAddress` of its address), once per request. */
export function limiterKey(request: FastifyRequest): string {
  return (request.limiterKey ??= limiterAddress(clientAddress(request)));
}
