import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { type Config, ConfigSchema } from './config-schema.ts';

/** A configuration that cannot be used; `field` names the bad field. The CLI exits 2 with one line. */
export class ConfigError extends Error {
  /** The dotted name of the offending field (or the file). */
  readonly field: string;
  constructor(field: string, message: string) {
    super(`invalid configuration: ${field}: ${message}`);
    this.name = 'ConfigError';
    this.field = field;
  }
}

/** Where configuration comes from: an optional file and the environment. */
export interface ConfigSources {
  /** Path of a YAML or JSON file (`--config` / `COFFER_CONFIG`). */
  file?: string | undefined;
  /** The environment (COFFER_* variables). */
  env: Record<string, string | undefined>;
  /** Overrides from command-line flags, applied last. */
  flags?: Partial<Config>;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      'config',
      `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  let parsed: unknown;
  try {
    parsed = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch {
    throw new ConfigError('config', `${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError('config', `${path} must hold a mapping of settings`);
  }
  return parsed as Record<string, unknown>;
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

function parseBooleanEnv(name: string, value: string): boolean {
  if (/^(1|true|yes)$/i.test(value)) return true;
  if (/^(0|false|no)$/i.test(value)) return false;
  throw new ConfigError(name, 'must be true or false');
}

function parseIntegerEnv(name: string, value: string): number {
  if (!/^\d+$/.test(value)) throw new ConfigError(name, 'must be a whole number');
  return Number(value);
}

function applyEnv(raw: Record<string, unknown>, env: Record<string, string | undefined>): void {
  const text: Array<[string, string]> = [
    ['COFFER_LISTEN', 'listen'],
    ['COFFER_DATA_DIR', 'dataDir'],
    ['COFFER_DATABASE_URL', 'databaseUrl'],
    ['COFFER_PUBLIC_URL', 'publicUrl'],
    ['COFFER_SEAL', 'seal'],
    ['COFFER_LOG_LEVEL', 'logLevel'],
    ['COFFER_METRICS_LISTEN', 'metricsListen'],
  ];
  for (const [name, field] of text) {
    const value = env[name];
    if (value !== undefined && value !== '') raw[field] = value;
  }
  const ints: Array<[string, string]> = [
    ['COFFER_STORAGE_WRITE_TIMEOUT_MS', 'storageWriteTimeoutMs'],
    ['COFFER_AUDIT_TIMEOUT_MS', 'auditTimeoutMs'],
    ['COFFER_AUDIT_RETENTION_DAYS', 'auditRetentionDays'],
    ['COFFER_AUDIT_CHECKPOINT_EVENTS', 'auditCheckpointEvents'],
    ['COFFER_AUDIT_CHECKPOINT_MS', 'auditCheckpointMs'],
    ['COFFER_BACKGROUND_INTERVAL_MS', 'backgroundIntervalMs'],
    ['COFFER_SHUTDOWN_GRACE_MS', 'shutdownGraceMs'],
    ['COFFER_BODY_LIMIT_BYTES', 'bodyLimitBytes'],
    ['COFFER_HEADERS_TIMEOUT_MS', 'headersTimeoutMs'],
    ['COFFER_REQUEST_TIMEOUT_MS', 'requestTimeoutMs'],
    ['COFFER_KEEP_ALIVE_TIMEOUT_MS', 'keepAliveTimeoutMs'],
    ['COFFER_IDLE_TIMEOUT_MS', 'idleTimeoutMs'],
    ['COFFER_MAX_CONNECTIONS', 'maxConnections'],
    ['COFFER_MAX_CONNECTIONS_PER_ADDRESS', 'maxConnectionsPerAddress'],
    ['COFFER_SERVICE_ACCOUNT_TOKEN_MAX_TTL_SECONDS', 'serviceAccountTokenMaxTtlSeconds'],
    ['COFFER_CHANGE_RETENTION_DAYS', 'changeRetentionDays'],
    ['COFFER_CHANGE_STREAM_HEARTBEAT_MS', 'changeStreamHeartbeatMs'],
    ['COFFER_CHANGE_STREAMS_PER_PRINCIPAL', 'changeStreamsPerPrincipal'],
    ['COFFER_CHANGE_STREAMS_PER_ADDRESS', 'changeStreamsPerAddress'],
  ];
  for (const [name, field] of ints) {
    const value = env[name];
    if (value !== undefined && value !== '') raw[field] = parseIntegerEnv(name, value);
  }
  const limits: Array<[string, string, boolean]> = [
    ['COFFER_RATE_LIMIT_PER_PRINCIPAL', 'perPrincipalPerSecond', false],
    ['COFFER_RATE_LIMIT_PER_PRINCIPAL_BURST', 'perPrincipalBurst', true],
    ['COFFER_RATE_LIMIT_PER_ADDRESS', 'perAddressPerSecond', false],
    ['COFFER_RATE_LIMIT_PER_ADDRESS_BURST', 'perAddressBurst', true],
    ['COFFER_RATE_LIMIT_LOGINS_PER_MINUTE', 'loginsPerMinute', false],
    ['COFFER_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS', 'failedAuthPerAddress', false],
    ['COFFER_RATE_LIMIT_FAILED_AUTH_PER_ADDRESS_BURST', 'failedAuthPerAddressBurst', true],
  ];
  for (const [name, field] of limits) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    if (!/^\d+(\.\d+)?$/.test(value)) throw new ConfigError(name, 'must be a number');
    const current = (raw.rateLimit ?? {}) as Record<string, unknown>;
    raw.rateLimit = { ...current, [field]: Number(value) };
  }
  for (const [name, field] of [
    ['COFFER_DATABASES_REVOKE_CONCURRENCY', 'revokeConcurrency'],
    ['COFFER_DATABASES_EXPIRY_POLL_MS', 'expiryPollMs'],
    ['COFFER_DATABASES_REVOKE_RATE_PER_SECOND', 'revokeRatePerSecond'],
  ] as const) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    if (!/^\d+(\.\d+)?$/.test(value)) throw new ConfigError(name, 'must be a number');
    const current = (raw.databases ?? {}) as Record<string, unknown>;
    raw.databases = {
      ...current,
      [field]: field === 'revokeRatePerSecond' ? Number(value) : parseIntegerEnv(name, value),
    };
  }
  if (env.COFFER_CHANGE_POLL_MS)
    raw.changePollMs = parseIntegerEnv('COFFER_CHANGE_POLL_MS', env.COFFER_CHANGE_POLL_MS);
  for (const [name, field] of [
    ['COFFER_METADATA_CACHE_MAX_ENTRIES', 'maxEntries'],
    ['COFFER_METADATA_CACHE_MAX_BYTES', 'maxBytes'],
  ] as const) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const current = (raw.metadataCache ?? {}) as Record<string, unknown>;
    raw.metadataCache = { ...current, [field]: parseIntegerEnv(name, value) };
  }
  for (const [name, field] of [
    ['COFFER_DATA_KEY_CACHE_MAX_ENTRIES', 'maxEntries'],
    ['COFFER_DATA_KEY_CACHE_TTL_SECONDS', 'ttlSeconds'],
  ] as const) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const current = (raw.dataKeyCache ?? {}) as Record<string, unknown>;
    raw.dataKeyCache = { ...current, [field]: parseIntegerEnv(name, value) };
  }
  if (env.COFFER_AUDIT_SINKS) {
    try {
      raw.auditSinks = JSON.parse(env.COFFER_AUDIT_SINKS);
    } catch {
      throw new ConfigError('COFFER_AUDIT_SINKS', 'must be a JSON array of sinks');
    }
  }
  if (env.COFFER_AUDIT_SINK_INTERVAL_MS) {
    raw.auditSinkIntervalMs = parseIntegerEnv(
      'COFFER_AUDIT_SINK_INTERVAL_MS',
      env.COFFER_AUDIT_SINK_INTERVAL_MS,
    );
  }
  if (env.COFFER_DEV_AUDIT_OFF)
    raw.devAuditOff = parseBooleanEnv('COFFER_DEV_AUDIT_OFF', env.COFFER_DEV_AUDIT_OFF);
  if (env.COFFER_METRICS_LISTEN_ALLOW_REMOTE)
    raw.metricsListenAllowRemote = parseBooleanEnv(
      'COFFER_METRICS_LISTEN_ALLOW_REMOTE',
      env.COFFER_METRICS_LISTEN_ALLOW_REMOTE,
    );
  if (env.COFFER_INSECURE_PLAINTEXT) {
    raw.insecurePlaintext = parseBooleanEnv('COFFER_INSECURE_PLAINTEXT', env.COFFER_INSECURE_PLAINTEXT);
  }
  const cert = env.COFFER_TLS_CERT;
  const key = env.COFFER_TLS_KEY;
  if (cert || key) {
    if (!cert) throw new ConfigError('COFFER_TLS_CERT', 'is required when COFFER_TLS_KEY is set');
    if (!key) throw new ConfigError('COFFER_TLS_KEY', 'is required when COFFER_TLS_CERT is set');
    raw.tls = { certFile: cert, keyFile: key };
  }
  if (env.COFFER_TRUST_PROXY !== undefined) raw.trustProxy = splitList(env.COFFER_TRUST_PROXY);
  applyRegionsEnv(raw, env);
  applyAwsEnv(raw, env);
}

function applyAwsEnv(raw: Record<string, unknown>, env: Record<string, string | undefined>): void {
  const aws = { ...((raw.aws ?? {}) as Record<string, unknown>) };
  const test = { ...((aws.test ?? {}) as Record<string, unknown>) };
  if (env.COFFER_AWS_REGIONS) aws.regions = env.COFFER_AWS_REGIONS;
  if (env.COFFER_AWS_TEST_MODE)
    test.enabled = parseBooleanEnv('COFFER_AWS_TEST_MODE', env.COFFER_AWS_TEST_MODE);
  for (const [name, field] of [
    ['COFFER_AWS_TEST_ACCESS_KEY_ID', 'accessKeyId'],
    ['COFFER_AWS_TEST_SECRET_ACCESS_KEY', 'secretAccessKey'],
    ['COFFER_AWS_TEST_ACCOUNT_ID', 'accountId'],
  ] as const)
    if (env[name]) test[field] = env[name];
  if (Object.keys(test).length > 0) aws.test = test;
  if (Object.keys(aws).length > 0) raw.aws = aws;
}

/** AWS test mode hands one static key administrator rights and a reset of all state: loopback only. */
function checkAwsTestMode(config: Config): void {
  if (!config.aws.test.enabled) return;
  const { host } = listenAddress(config);
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (!loopback)
    throw new ConfigError(
      'aws.test.enabled',
      `AWS test mode refuses to start on ${config.listen}: it listens on loopback addresses only (127.0.0.1, ::1)`,
    );
}

function applyRegionsEnv(raw: Record<string, unknown>, env: Record<string, string | undefined>): void {
  const regionsEnv = env.COFFER_REGIONS;
  const kmsEnv = env.COFFER_KMS_REGIONS;
  if (!regionsEnv && kmsEnv === undefined) return;
  let ids: string[];
  if (regionsEnv) {
    ids = splitList(regionsEnv);
    if (ids.length === 0) throw new ConfigError('COFFER_REGIONS', 'must name at least one region');
  } else if (Array.isArray(raw.regions)) {
    ids = raw.regions.map((region) => String((region as { id?: unknown }).id));
  } else {
    ids = ['local'];
  }
  let kmsIds: Set<string>;
  if (kmsEnv !== undefined) {
    kmsIds = new Set(splitList(kmsEnv));
    for (const id of kmsIds) {
      if (!ids.includes(id))
        throw new ConfigError('COFFER_KMS_REGIONS', `names ${id}, which is not a configured region`);
    }
  } else {
    kmsIds = new Set(ids);
  }
  raw.regions = ids.map((id) => ({ id, kms: kmsIds.has(id) }));
}

function fieldName(path: string): string {
  return path.replace(/^\//, '').replaceAll('/', '.') || 'config';
}

function firstSchemaError(candidate: unknown): ConfigError | undefined {
  const first = Value.Errors(ConfigSchema, candidate).First();
  if (!first) return undefined;
  const field = fieldName(first.path);
  const known = new Set(Object.keys(ConfigSchema.properties));
  if (first.path.split('/').length === 2 && !known.has(field))
    return new ConfigError(field, 'is not a known setting');
  return describeSchemaError(first.schema, first.value, first.path, first.message);
}

/**
 * Names the allowed values where TypeBox says only `expected union value`: a union of literals is
 * "must be one of a, b"; a union of objects told apart by their `type` is checked against the branch
 * the value's `type` selects, so the error names the field that is really wrong.
 */
function describeSchemaError(schema: TSchema, value: unknown, path: string, message: string): ConfigError {
  const choices: unknown = schema.anyOf;
  if (!Array.isArray(choices)) return new ConfigError(fieldName(path), message.toLowerCase());
  const branches = choices as TSchema[];
  const literals = branches.map((branch) => branch.const as unknown);
  if (literals.every((literal) => literal !== undefined))
    return new ConfigError(fieldName(path), `must be one of ${literals.join(', ')}`);
  const tags = branches.map(
    (branch) => (branch.properties as Record<string, TSchema> | undefined)?.type?.const,
  );
  if (tags.every((tag) => typeof tag === 'string')) {
    const tag = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
    const branch = branches.find((_, index) => tags[index] === tag);
    if (!branch) return new ConfigError(fieldName(`${path}/type`), `must be one of ${tags.join(', ')}`);
    const inner = Value.Errors(branch, value).First();
    if (inner) return describeSchemaError(inner.schema, inner.value, `${path}${inner.path}`, inner.message);
  }
  return new ConfigError(fieldName(path), message.toLowerCase());
}

function checkListen(config: Config): void {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(config.listen);
  const port = match ? Number(match[2]) : -1;
  if (!match || port > 65535) throw new ConfigError('listen', 'must be host:port, e.g. 127.0.0.1:8270');
  const host = match[1]!.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (!loopback && !config.tls && !config.insecurePlaintext) {
    throw new ConfigError(
      'listen',
      `${config.listen} is not a loopback address: configure TLS, or pass --insecure-plaintext to accept plain HTTP`,
    );
  }
  const seen = new Set<string>();
  for (const region of config.regions) {
    if (seen.has(region.id)) throw new ConfigError('regions', `region ${region.id} is listed twice`);
    seen.add(region.id);
  }
}

function checkListenerLimits(config: Config): void {
  // Node refuses a header timeout longer than the whole request's.
  if (config.headersTimeoutMs > config.requestTimeoutMs)
    throw new ConfigError('headersTimeoutMs', 'must not be longer than requestTimeoutMs');
  if (config.maxConnectionsPerAddress > config.maxConnections)
    throw new ConfigError('maxConnectionsPerAddress', 'must not be more than maxConnections');
}

/** Each trustProxy entry is an address, an address/prefix, or a name proxy-addr knows. */
function checkTrustProxy(config: Config): void {
  for (const entry of config.trustProxy) {
    if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) continue;
    const [address = '', prefix, extra] = entry.split('/');
    const family = isIP(address);
    const bits = family === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits);
    if (family === 0 || !prefixOk || extra !== undefined)
      throw new ConfigError('trustProxy', `${entry} is not an address or CIDR (e.g. 10.0.0.0/8)`);
  }
}

/**
 * The metrics listener answers without authentication: it must be host:port on a loopback address
 * unless `metricsListenAllowRemote` says otherwise (docs/metrics.md).
 */
function checkMetricsListen(config: Config): void {
  if (config.metricsListen === undefined) return;
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(config.metricsListen);
  if (!match || Number(match[2]) > 65535)
    throw new ConfigError('metricsListen', 'must be host:port, e.g. 127.0.0.1:9270');
  const host = match[1]!.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (!loopback && !config.metricsListenAllowRemote)
    throw new ConfigError(
      'metricsListen',
      `${config.metricsListen} is not a loopback address: metrics there are unauthenticated; set metricsListenAllowRemote: true to accept it`,
    );
}

/** Loads, merges and validates the configuration; throws ConfigError naming the first bad field. */
export function loadConfig(sources: ConfigSources): Config {
  const file = sources.file ?? sources.env.COFFER_CONFIG;
  const raw: Record<string, unknown> = file ? readConfigFile(file) : {};
  applyEnv(raw, sources.env);
  if (sources.flags) Object.assign(raw, sources.flags);
  const withDefaults = Value.Default(ConfigSchema, structuredClone(raw));
  const error = firstSchemaError(withDefaults);
  if (error) throw error;
  const config = withDefaults as Config;
  checkListen(config);
  checkListenerLimits(config);
  checkTrustProxy(config);
  checkMetricsListen(config);
  checkAwsTestMode(config);
  return config;
}

/** Splits `listen` into host and port. */
export function listenAddress(config: Config): { host: string; port: number } {
  const index = config.listen.lastIndexOf(':');
  return {
    host: config.listen.slice(0, index).replace(/^\[|\]$/g, ''),
    port: Number(config.listen.slice(index + 1)),
  };
}
