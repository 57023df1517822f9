// The container's HEALTHCHECK (Dockerfile): GET /v2/health on this node, exit 0 when it answers 200
// (unsealed, storage reachable), 1 otherwise (sealed or uninitialized: 503; not listening; no
// answer within 4 s). No curl in the image: Node does it.
//
// Where: COFFER_HEALTHCHECK_URL when set; else http(s)://127.0.0.1:<port of COFFER_LISTEN>/v2/health,
// https when COFFER_TLS_CERT is set. The certificate is not verified: the check talks to its own
// process over loopback (the certificate's name is not 127.0.0.1 in general).
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';

const listen = process.env.COFFER_LISTEN || '127.0.0.1:8270';
const port = listen.slice(listen.lastIndexOf(':') + 1) || '8270';
const scheme = process.env.COFFER_TLS_CERT ? 'https' : 'http';
const url = new URL(process.env.COFFER_HEALTHCHECK_URL || `${scheme}://127.0.0.1:${port}/v2/health`);
const get = url.protocol === 'https:' ? httpsGet : httpGet;

const request = get(url, { rejectUnauthorized: false, timeout: 4000 }, (response) => {
  response.resume();
  process.stdout.write(`${url.pathname}: ${response.statusCode}\n`);
  process.exit(response.statusCode === 200 ? 0 : 1);
});
request.on('timeout', () => request.destroy(new Error('no answer within 4 s')));
request.on('error', (err) => {
  process.stdout.write(`${url.pathname}: ${err.message}\n`);
  process.exit(1);
});
