import type { FastifyRequest } from 'fastify';

/**
 * The etag an update is conditional on (SPEC §4): the body's `etag` field, else the `If-Match`
 * header (quotes and a weak `W/` prefix removed), else none.
 */
export function etagOf(request: FastifyRequest, bodyEtag: string | undefined): string | undefined {
  if (bodyEtag !== undefined) return bodyEtag;
  const header = request.headers['if-match'];
  return typeof header === 'string' ? header.replace(/^W\//, '').replace(/^"|"$/g, '') : undefined;
}
