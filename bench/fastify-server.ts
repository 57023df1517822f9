/**
 * A variant for the stage breakdown: Fastify 5 with default options (JSON body parsing, no logger)
 * answering GET and POST `/` with the same fixed 300-byte object as the bare baseline. The gap to the
 * bare server is the framework's own cost, before anything Coffer adds.
 */
import Fastify from 'fastify';
import { fixedJson } from './baseline-server.ts';

const answer = JSON.parse(fixedJson().toString()) as Record<string, unknown>;

if (import.meta.main) {
  const port = Number(process.env.BENCH_PORT ?? 0);
  const host = process.env.BENCH_HOST ?? '127.0.0.1';
  const server = Fastify({ logger: false, keepAliveTimeout: 75_000 });
  server.get('/', async () => answer);
  server.post('/', async () => answer);
  await server.listen({ port, host });
  process.on('SIGTERM', () => void server.close());
}
