import { type Static, Type } from '@sinclair/typebox';

const regionIdPattern = '^[a-z][a-z0-9-]{0,62}$';

/** The server configuration schema: a YAML/JSON file, overridden field by field by COFFER_* env vars. */
export const ConfigSchema = Type.Object(
  {
    listen: Type.String({ default: '127.0.0.1:8270', description: 'host:port to listen on' }),
    dataDir: Type.String({ default: './coffer-data', minLength: 1 }),
    databaseUrl: Type.Optional(Type.String({ minLength: 1 })),
    publicUrl: Type.Optional(
      Type.String({
        pattern: '^https?://[^/?#\\s]+(/[^?#\\s]*)?$',
        description:
          'the base URL clients reach this server at (e.g. https://coffer.example.com); key files name {publicUrl}/v2/auth/token',
      }),
    ),
    serviceAccountTokenMaxTtlSeconds: Type.Integer({
      default: 3600,
      minimum: 60,
      maximum: 86400,
      description: 'longest token POST /v2/auth/token yields (the default is 1 h or this, if shorter)',
    }),
    seal: Type.Union([Type.Literal('file'), Type.Literal('shamir')], { default: 'file' }),
    regions: Type.Array(
      Type.Object(
        { id: Type.String({ pattern: regionIdPattern }), kms: Type.Boolean() },
        { additionalProperties: false },
      ),
      { minItems: 1, default: [{ id: 'local', kms: true }] },
    ),
    logLevel: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
      { default: 'info' },
    ),
    tls: Type.Optional(
      Type.Object(
        { certFile: Type.String({ minLength: 1 }), keyFile: Type.String({ minLength: 1 }) },
        { additionalProperties: false },
      ),
    ),
    insecurePlaintext: Type.Boolean({
      default: false,
      description: 'allow plain HTTP on a non-loopback address',
    }),
    storageWriteTimeoutMs: Type.Integer({ default: 5000, minimum: 50, maximum: 600000 }),
    auditTimeoutMs: Type.Integer({ default: 2000, minimum: 50, maximum: 600000 }),
    devAuditOff: Type.Boolean({
      default: false,
      description: 'development and benchmarks only: skip writing audit events (never in production)',
    }),
    auditSinks: Type.Array(
      Type.Union([
        Type.Object(
          { name: Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$' }), type: Type.Literal('stdout') },
          { additionalProperties: false },
        ),
        Type.Object(
          {
            name: Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$' }),
            type: Type.Literal('file'),
            path: Type.String({ minLength: 1 }),
            maxBytes: Type.Optional(Type.Integer({ minimum: 1024 })),
            maxFiles: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
          },
          { additionalProperties: false },
        ),
        Type.Object(
          {
            name: Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$' }),
            type: Type.Literal('webhook'),
            url: Type.String({ pattern: '^https?://' }),
            timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600000 })),
            batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
          },
          { additionalProperties: false },
        ),
      ]),
      { default: [] },
    ),
    auditRetentionDays: Type.Integer({
      default: 0,
      minimum: 0,
      maximum: 36500,
      description: '0 keeps events forever',
    }),
    auditSinkIntervalMs: Type.Integer({ default: 1000, minimum: 10, maximum: 60000 }),
    auditCheckpointEvents: Type.Integer({ default: 1000, minimum: 1, maximum: 1000000 }),
    auditCheckpointMs: Type.Integer({ default: 1000, minimum: 10, maximum: 3600000 }),
    backgroundIntervalMs: Type.Integer({ default: 10000, minimum: 100, maximum: 3600000 }),
    shutdownGraceMs: Type.Integer({ default: 10000, minimum: 0, maximum: 600000 }),
    bodyLimitBytes: Type.Integer({ default: 1048576, minimum: 1024, maximum: 16777216 }),
    headersTimeoutMs: Type.Integer({
      default: 10000,
      minimum: 100,
      maximum: 600000,
      description: 'a request whose headers are not all in within this time is answered 408 and closed',
    }),
    requestTimeoutMs: Type.Integer({
      default: 30000,
      minimum: 100,
      maximum: 3600000,
      description: 'a request (headers and body) not all in within this time is answered 408 and closed',
    }),
    keepAliveTimeoutMs: Type.Integer({
      default: 5000,
      minimum: 100,
      maximum: 600000,
      description: 'an idle keep-alive connection is closed after this time',
    }),
    idleTimeoutMs: Type.Integer({
      default: 120000,
      minimum: 100,
      maximum: 3600000,
      description:
        'a connection on which no byte moves either way for this long is closed (a client that stops reading); keep it above the longest request, e.g. an audit verify of a large chain',
    }),
    maxConnections: Type.Integer({ default: 10000, minimum: 1, maximum: 1000000 }),
    maxConnectionsPerAddress: Type.Integer({ default: 256, minimum: 1, maximum: 1000000 }),
    rateLimit: Type.Object(
      {
        perPrincipalPerSecond: Type.Number({ default: 2000, exclusiveMinimum: 0 }),
        perPrincipalBurst: Type.Integer({ default: 4000, minimum: 1 }),
        perAddressPerSecond: Type.Number({ default: 5000, exclusiveMinimum: 0 }),
        perAddressBurst: Type.Integer({ default: 10000, minimum: 1 }),
        loginsPerMinute: Type.Number({ default: 10, exclusiveMinimum: 0 }),
        failedAuthPerAddress: Type.Number({
          default: 20,
          exclusiveMinimum: 0,
          description: 'failed authentications (401) per second per source address before 429',
        }),
        failedAuthPerAddressBurst: Type.Integer({ default: 20, minimum: 1 }),
      },
      { additionalProperties: false, default: {} },
    ),
    changePollMs: Type.Integer({
      default: 100,
      minimum: 10,
      maximum: 60000,
      description: 'how often each node sequences and reads the change feed',
    }),
    metadataCache: Type.Object(
      {
        maxEntries: Type.Integer({
          default: 20000,
          minimum: 0,
          maximum: 10000000,
          description:
            'entries each metadata cache (secrets, instances, keys) holds at most; 0 turns caching off',
        }),
        maxBytes: Type.Integer({
          default: 16 * 1024 * 1024,
          minimum: 0,
          description: 'bytes of ciphertexts and metadata each metadata cache holds at most',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    dataKeyCache: Type.Object(
      {
        maxEntries: Type.Integer({
          default: 10000,
          minimum: 0,
          maximum: 1000000,
          description:
            'unwrapped secret data keys each node holds at most (as KeyObjects, never a value); 0 turns the cache off',
        }),
        ttlSeconds: Type.Integer({
          default: 300,
          minimum: 1,
          maximum: 3600,
          description: 'seconds a data key is kept after its unwrap, used or not',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    changeRetentionDays: Type.Integer({
      default: 7,
      minimum: 1,
      maximum: 36500,
      description: 'days of the change feed kept; older cursors answer 410 gone',
    }),
    changeStreamHeartbeatMs: Type.Integer({ default: 15000, minimum: 10, maximum: 3600000 }),
    changeStreamsPerPrincipal: Type.Integer({
      default: 16,
      minimum: 1,
      maximum: 100000,
      description: 'change streams one principal may hold open on a node at once (more: 429)',
    }),
    changeStreamsPerAddress: Type.Integer({
      default: 64,
      minimum: 1,
      maximum: 100000,
      description: 'change streams one source address may hold open on a node at once (more: 429)',
    }),
    aws: Type.Object(
      {
        regions: Type.Union([Type.Literal('configured'), Type.Literal('auto')], {
          default: 'configured',
          description:
            'AWS face: configured — a credential scope must name a configured region with KMS; auto — any well-formed AWS region name is a region with KMS (docs/aws.md)',
        }),
        test: Type.Object(
          {
            enabled: Type.Boolean({
              default: false,
              description:
                'AWS test mode (docs/aws.md): one static key pair administers a test project and POST /moto-api/reset wipes all state; loopback listen only',
            }),
            accessKeyId: Type.String({ default: 'testing', pattern: '^[A-Za-z0-9]{1,128}$' }),
            secretAccessKey: Type.String({ default: 'testing', minLength: 1, maxLength: 128 }),
            accountId: Type.String({ default: '123456789012', pattern: '^[0-9]{12}$' }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    metricsListen: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'host:port of a separate listener serving GET /metrics without authentication (e.g. 127.0.0.1:9270); off when unset',
      }),
    ),
    metricsListenAllowRemote: Type.Boolean({
      default: false,
      description: 'allow metricsListen on a non-loopback address (its answers are unauthenticated)',
    }),
    trustProxy: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description:
        'addresses or CIDRs of proxies (load balancers) whose X-Forwarded-For names the client; empty: the socket address is the client',
    }),
    databases: Type.Object(
      {
        revokeConcurrency: Type.Integer({
          default: 4,
          minimum: 1,
          maximum: 100,
          description:
            'revocations of dynamic-credential leases this node runs at once (expiry, revoke-prefix)',
        }),
        expiryPollMs: Type.Integer({
          default: 1000,
          minimum: 10,
          maximum: 3600000,
          description: 'how often this node looks for expired leases and due revocation retries',
        }),
        revokeRatePerSecond: Type.Number({
          default: 30,
          exclusiveMinimum: 0,
          maximum: 100000,
          description:
            'revocations the expiry job starts per second on this node at most (paces a mass expiry so reads keep their rate; 1,000 leases take about 33 s at 30)',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

/** The validated server configuration. */
export type Config = Static<typeof ConfigSchema>;
