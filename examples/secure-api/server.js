// The secure API of the recipe (seeds/secure-api-configuration-recipe.md), on Coffer: it reads its
// database settings, API keys and configuration from Coffer at runtime — never from its image or its
// environment — through a CachedSecretReader, so a rotated secret is picked up within the cache TTL
// without a redeploy, and a short Coffer outage does not take the API down.
//
//   COFFER_ADDR, COFFER_TOKEN              where Coffer is, and the service account's token
//   COFFER_PROJECT, COFFER_REGION, COFFER_INSTANCE   ids of the instance holding the secrets
//   DB_SECRET_NAME, KEYS_SECRET_NAME, CONFIG_SECRET_NAME   secret paths
//   PORT (default 8080), HOST (default 127.0.0.1; 0.0.0.0 in a container)
//   SECRET_CACHE_TTL_MS (default 30000)
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { CachedSecretReader, CofferClient } from 'coffer';

const env = process.env;
for (const name of ['COFFER_ADDR', 'COFFER_TOKEN', 'COFFER_PROJECT', 'COFFER_INSTANCE']) {
  if (!env[name]) {
    console.error(`secure-api: ${name} is not set`);
    process.exit(2);
  }
}

const client = new CofferClient({
  address: env.COFFER_ADDR,
  token: env.COFFER_TOKEN,
  timeoutMs: 5_000,
  userAgent: 'secure-api-example',
});
const secrets = new CachedSecretReader({
  client,
  instance: {
    projectId: env.COFFER_PROJECT,
    regionId: env.COFFER_REGION || 'local',
    instanceId: env.COFFER_INSTANCE,
  },
  ttlMs: Number(env.SECRET_CACHE_TTL_MS ?? 30_000),
  staleWhileRevalidateMs: 0,
  staleIfErrorMs: 5 * 60_000,
});
const secretNames = {
  db: env.DB_SECRET_NAME ?? 'secure-api/db',
  keys: env.KEYS_SECRET_NAME ?? 'secure-api/keys',
  config: env.CONFIG_SECRET_NAME ?? 'secure-api/config',
};

/** The secret parsed as JSON, or null (logged without its value) when it cannot be read. */
async function getSecret(name) {
  try {
    return await secrets.getJson(name);
  } catch (err) {
    console.error(`secure-api: failed to retrieve secret ${name}: ${err.message}`);
    return null;
  }
}

/** Compares two strings in constant time (hashes first, so lengths do not leak either). */
function sameSecret(given, expected) {
  const digest = (text) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

const routes = {
  '/health': async () => [200, { status: 'healthy', service: 'secure-api' }],

  '/config': async () => {
    const config = await getSecret(secretNames.config);
    if (!config) return [500, { error: 'Configuration unavailable' }];
    // Only the non-sensitive settings leave the service.
    const { debug_mode, rate_limit, cache_ttl, log_level } = config;
    return [200, { debug_mode, rate_limit, cache_ttl, log_level }];
  },

  '/database/status': async () => {
    const db = await getSecret(secretNames.db);
    if (!db) return [500, { error: 'Database configuration unavailable' }];
    return [200, { database: 'connected', host: db.host, port: db.port }];
  },

  '/api/data': async (request) => {
    const keys = await getSecret(secretNames.keys);
    if (!keys) return [500, { error: 'API keys unavailable' }];
    const header = request.headers.authorization ?? '';
    if (!sameSecret(header, `Bearer ${keys.external_api_key}`)) return [401, { error: 'Unauthorized' }];
    return [200, { data: 'sensitive_api_data', timestamp: new Date().toISOString(), source: 'secure-api' }];
  },

  // Cache counters (no values): hits, misses, coalesced reads, stale answers during outages.
  '/cache/stats': async () => [200, secrets.stats()],
};

const server = createServer(async (request, response) => {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  const route = request.method === 'GET' ? routes[path] : undefined;
  const [status, body] = route ? await route(request) : [404, { error: 'Not found' }];
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  response.end(JSON.stringify(body));
});

server.listen(Number(env.PORT ?? 8080), env.HOST ?? '127.0.0.1', () => {
  const { address, port } = server.address();
  console.log(`secure-api listening on http://${address}:${port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
