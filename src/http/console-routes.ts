import { lstat, readdir, readFile, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The web console (issue #17): the single-page app built by Vite into dist/ui, served at /ui/.
 *
 * The built files are read into memory (a few hundred KB) and served by exact name from that table:
 * a URL never becomes a filesystem path, so no traversal (`/ui/../`, `%2e%2e`, `..%2f`) can reach
 * anything but the build's own files. Unknown paths below /ui/ get index.html (the app routes them),
 * except under assets/ where a missing file is a 404. The table is re-read when index.html changes
 * (a rebuild while the server runs); a server without a build answers a plain 404 saying so.
 */

/** Where `npm run build:ui` writes the console: <package root>/dist/ui (from src/http or dist/http). */
export const defaultConsoleDir = fileURLToPath(new URL('../../dist/ui/', import.meta.url));

/** The strict policy of every /ui answer: only the console's own files, no inline script, no eval. */
export const consoleCsp = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const securityHeaders: Readonly<Record<string, string>> = {
  'content-security-policy': consoleCsp,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cross-origin-opener-policy': 'same-origin',
};

const notBuilt = 'console not built: run npm run build:ui\n';

const contentTypes: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};
const compressible = new Set(['.html', '.js', '.css', '.json', '.svg', '.txt']);

interface Asset {
  readonly body: Buffer;
  readonly gzip: Buffer | undefined;
  readonly type: string;
  /** Vite's content-hashed output (assets/…): cached for a year, never revalidated. */
  readonly hashed: boolean;
}

interface Build {
  readonly indexMtimeMs: number;
  readonly files: ReadonlyMap<string, Asset>;
}

const maxFiles = 500;

async function readBuild(dir: string, indexMtimeMs: number): Promise<Build> {
  const files = new Map<string, Asset>();
  const walk = async (relative: string): Promise<void> => {
    for (const entry of await readdir(join(dir, relative), { withFileTypes: true })) {
      const name = relative ? `${relative}/${entry.name}` : entry.name;
      // Regular files and folders only: a symlink in the build is not followed out of it.
      if (entry.isDirectory()) await walk(name);
      else if (entry.isFile() && files.size < maxFiles) {
        const body = await readFile(join(dir, name));
        const ext = posix.extname(name).toLowerCase();
        files.set(name, {
          body,
          gzip: compressible.has(ext) && body.length > 1024 ? gzipSync(body, { level: 9 }) : undefined,
          type: contentTypes[ext] ?? 'application/octet-stream',
          hashed: name.startsWith('assets/'),
        });
      }
    }
  };
  await walk('');
  return { indexMtimeMs, files };
}

/** The built console, loaded on first use and re-read when its index.html changes. */
class ConsoleBuild {
  readonly #dir: string;
  #build: Build | undefined;
  #loading: Promise<Build | undefined> | undefined;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** The current build, or undefined when there is none (no index.html). */
  async current(): Promise<Build | undefined> {
    let indexMtimeMs: number;
    try {
      const index = await stat(join(this.#dir, 'index.html'));
      if (!index.isFile() || !(await lstat(this.#dir)).isDirectory()) return undefined;
      indexMtimeMs = index.mtimeMs;
    } catch {
      return undefined;
    }
    if (this.#build?.indexMtimeMs === indexMtimeMs) return this.#build;
    this.#loading ??= readBuild(this.#dir, indexMtimeMs).then(
      (build) => {
        this.#build = build;
        this.#loading = undefined;
        return build;
      },
      () => {
        this.#loading = undefined;
        return undefined;
      },
    );
    return this.#loading;
  }
}

function withSecurityHeaders(reply: FastifyReply): FastifyReply {
  return reply.headers(securityHeaders);
}

function send(request: FastifyRequest, reply: FastifyReply, asset: Asset): FastifyReply {
  withSecurityHeaders(reply)
    .header('content-type', asset.type)
    .header('cache-control', asset.hashed ? 'public, max-age=31536000, immutable' : 'no-store');
  if (asset.gzip) {
    reply.header('vary', 'accept-encoding');
    const accepts = request.headers['accept-encoding'];
    if (typeof accepts === 'string' && /\bgzip\b/.test(accepts))
      return reply.header('content-encoding', 'gzip').send(asset.gzip);
  }
  return reply.send(asset.body);
}

/** Options of `registerConsoleRoutes`. */
export interface ConsoleRoutesOptions {
  /** The built console's folder (tests point this at their own); default dist/ui. */
  readonly dir?: string;
}

/**
 * `GET /` → /ui/, `GET /ui` → /ui/, `GET /ui/` and `GET /ui/*`: the console's files with its
 * security headers (CSP, X-Frame-Options, Referrer-Policy, nosniff), hashed assets cached for a
 * year, index.html never cached. These routes are outside /v2: public, unaudited, no token.
 */
export function registerConsoleRoutes(server: FastifyInstance, options: ConsoleRoutesOptions = {}): void {
  const build = new ConsoleBuild(options.dir ?? defaultConsoleDir);

  const serve = async (request: FastifyRequest, reply: FastifyReply, name: string) => {
    const current = await build.current();
    if (!current)
      return withSecurityHeaders(reply)
        .code(404)
        .header('cache-control', 'no-store')
        .type('text/plain; charset=utf-8')
        .send(notBuilt);
    const asset = name === '' ? undefined : current.files.get(name);
    if (asset) return send(request, reply, asset);
    // A missing hashed asset (an old page after a rebuild) is a 404, not the index as JavaScript;
    // also when spelt `//assets/…`, `./assets/…` or `x/../assets/…` (a browser resolves those).
    const index = current.files.get('index.html');
    if (posix.normalize(`/${name}`).startsWith('/assets/') || !index)
      return withSecurityHeaders(reply)
        .code(404)
        .header('cache-control', 'no-store')
        .type('text/plain; charset=utf-8')
        .send('not found\n');
    return send(request, reply, index);
  };

  const redirect = (_request: FastifyRequest, reply: FastifyReply) =>
    withSecurityHeaders(reply).header('cache-control', 'no-store').redirect('/ui/', 302);
  server.get('/', redirect);
  server.get('/ui', redirect);
  server.get('/ui/', (request, reply) => serve(request, reply, ''));
  server.get<{ Params: { '*': string } }>('/ui/*', (request, reply) =>
    serve(request, reply, request.params['*']),
  );
}
