/**
 * The ceiling every ratio is measured against: a bare node:http server answering every request, once
 * its body has been read, with the same fixed 300-byte JSON. Started by bench/run.ts, pinned to the
 * server CPU; `BENCH_PORT` and `BENCH_HOST` say where to listen.
 */
import { createServer } from 'node:http';

/** The fixed answer: a JSON object of exactly 300 bytes. */
export function fixedJson(bytes = 300): Buffer {
  const head = '{"ciphertext":"';
  const tail = '","keyVersion":1}';
  const body = Buffer.from(`${head}${'A'.repeat(bytes - head.length - tail.length)}${tail}`);
  if (body.length !== bytes) throw new Error('fixed JSON has the wrong size');
  return body;
}

const payload = fixedJson();
const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': payload.length };

if (import.meta.main) {
  const port = Number(process.env.BENCH_PORT ?? 0);
  const host = process.env.BENCH_HOST ?? '127.0.0.1';
  const server = createServer((req, res) => {
    req.on('data', () => {});
    req.on('end', () => {
      res.writeHead(200, headers);
      res.end(payload);
    });
  });
  server.keepAliveTimeout = 75_000;
  server.listen(port, host);
  process.on('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
  });
}
