import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, listenAddress, loadConfig } from './config.ts';
import { ConfigSchema } from './config-schema.ts';

function fieldOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.field;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration', () => {
  test('defaults: loopback 8270, ./coffer-data, file seal, one region local with kms', () => {
    const config = loadConfig({ env: {} });
    assert.equal(config.listen, '127.0.0.1:8270');
    assert.deepEqual(listenAddress(config), { host: '127.0.0.1', port: 8270 });
    assert.equal(config.dataDir, './coffer-data');
    assert.equal(config.seal, 'file');
    assert.deepEqual(config.regions, [{ id: 'local', kms: true }]);
    assert.equal(config.databaseUrl, undefined);
  });

  test('environment variables override the file, field by field', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'coffer-config-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'coffer.yaml');
    writeFileSync(file, 'listen: 127.0.0.1:9000\nlogLevel: debug\nseal: shamir\n');
    const config = loadConfig({ file, env: { COFFER_LISTEN: '127.0.0.1:9100', COFFER_DATA_DIR: '/tmp/x' } });
    assert.equal(config.listen, '127.0.0.1:9100');
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.seal, 'shamir');
    assert.equal(config.dataDir, '/tmp/x');
  });

  test('COFFER_REGIONS and COFFER_KMS_REGIONS say which regions exist and which have KMS', () => {
    const config = loadConfig({
      env: { COFFER_REGIONS: 'eu01, us01,ap01', COFFER_KMS_REGIONS: 'eu01,us01' },
    });
    assert.deepEqual(config.regions, [
      { id: 'eu01', kms: true },
      { id: 'us01', kms: true },
      { id: 'ap01', kms: false },
    ]);
  });

  test('a JSON config file is read as JSON', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'coffer-config-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'coffer.json');
    writeFileSync(file, JSON.stringify({ regions: [{ id: 'eu01', kms: false }] }));
    assert.deepEqual(loadConfig({ file, env: {} }).regions, [{ id: 'eu01', kms: false }]);
  });

  test('each bad input names its field', () => {
    assert.equal(
      fieldOf(() => loadConfig({ env: { COFFER_SEAL: 'hsm' } })),
      'seal',
    );
    assert.equal(
      fieldOf(() => loadConfig({ env: { COFFER_LOG_LEVEL: 'loud' } })),
      'logLevel',
    );
    assert.equal(
      fieldOf(() => loadConfig({ env: { COFFER_LISTEN: 'nonsense' } })),
      'listen',
    );
    assert.equal(
      fieldOf(() => loadConfig({ env: { COFFER_LISTEN: '127.0.0.1:99999' } })),
      'listen',
    );
    assert.equal(
      fieldOf(() => loadConfig({ env: { COFFER_KMS_REGIONS: 'mars' } })),
      'COFFER_KMS_REGIONS',
    );
    assert.equal(
      fieldOf(() => loadConfig({ env: { COFFER_REGIONS: 'Bad_Region' } })),
      'regions.0.id',
    );
    assert.equal(
      fieldOf(() => loadConfig({ env: { COFFER_STORAGE_WRITE_TIMEOUT_MS: 'soon' } })),
      'COFFER_STORAGE_WRITE_TIMEOUT_MS',
    );
    assert.equal(
      fieldOf(() => loadConfig({ env: { COFFER_TLS_CERT: '/c.pem' } })),
      'COFFER_TLS_KEY',
    );
    assert.equal(
      fieldOf(() => loadConfig({ env: { COFFER_CONFIG: '/nonexistent/coffer.yaml' } })),
      'config',
    );
  });

  test('an unknown setting in the file is refused, by name', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'coffer-config-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'coffer.yaml');
    writeFileSync(file, 'listn: 127.0.0.1:9000\n');
    assert.equal(
      fieldOf(() => loadConfig({ file, env: {} })),
      'listn',
    );
    writeFileSync(file, '- just\n- a list\n');
    assert.equal(
      fieldOf(() => loadConfig({ file, env: {} })),
      'config',
    );
    writeFileSync(file, 'listen: [unclosed\n');
    assert.equal(
      fieldOf(() => loadConfig({ file, env: {} })),
      'config',
    );
  });

  test('plain HTTP on a non-loopback address needs insecurePlaintext or TLS', () => {
    assert.equal(
      fieldOf(() => loadConfig({ env: { COFFER_LISTEN: '0.0.0.0:8270' } })),
      'listen',
    );
    assert.equal(
      loadConfig({ env: { COFFER_LISTEN: '0.0.0.0:8270', COFFER_INSECURE_PLAINTEXT: 'true' } })
        .insecurePlaintext,
      true,
    );
    const withTls = loadConfig({
      env: { COFFER_LISTEN: '0.0.0.0:8270', COFFER_TLS_CERT: '/c.pem', COFFER_TLS_KEY: '/k.pem' },
    });
    assert.deepEqual(withTls.tls, { certFile: '/c.pem', keyFile: '/k.pem' });
    assert.equal(loadConfig({ env: { COFFER_LISTEN: '[::1]:8270' } }).listen, '[::1]:8270');
  });
  test('a value outside an enum names the allowed values, never "expected union value"', () => {
    const messageOf = (fn: () => unknown): string => {
      try {
        fn();
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.message;
      }
      assert.fail('expected a ConfigError');
    };
    assert.equal(
      messageOf(() => loadConfig({ env: { COFFER_SEAL: 'hsm' } })),
      'invalid configuration: seal: must be one of file, shamir',
    );
    assert.match(
      messageOf(() => loadConfig({ env: { COFFER_LOG_LEVEL: 'loud' } })),
      /logLevel: must be one of fatal, error, warn, info, debug, trace, silent$/,
    );
    const sinks = (value: unknown) =>
      messageOf(() => loadConfig({ env: { COFFER_AUDIT_SINKS: JSON.stringify(value) } }));
    assert.match(
      sinks([{ name: 'a', type: 'kafka' }]),
      /auditSinks\.0\.type: must be one of stdout, file, webhook$/,
    );
    assert.match(sinks([{ name: 'a', type: 'file' }]), /auditSinks\.0\.path: /);
    assert.match(sinks([{ name: 'a', type: 'webhook', url: 'ftp://x' }]), /auditSinks\.0\.url: /);
    // Every enum of the schema, present and future: a bad value is answered with the choices.
    const dir = mkdtempSync(join(tmpdir(), 'coffer-config-'));
    try {
      const file = join(dir, 'coffer.json');
      for (const [name, schema] of Object.entries(ConfigSchema.properties)) {
        const choices: unknown = (schema as { anyOf?: unknown }).anyOf;
        if (!Array.isArray(choices) || !choices.every((choice) => 'const' in choice)) continue;
        writeFileSync(file, JSON.stringify({ [name]: 'not-a-choice' }));
        const message = messageOf(() => loadConfig({ file, env: {} }));
        assert.doesNotMatch(message, /union/, name);
        for (const choice of choices)
          assert.ok(message.includes(String(choice.const)), `${name}: ${message}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test('listener limits: bounded defaults, COFFER_* overrides, and a header timeout within the request timeout', () => {
    const defaults = loadConfig({ env: {} });
    assert.equal(defaults.headersTimeoutMs, 10000);
    assert.equal(defaults.requestTimeoutMs, 30000);
    assert.equal(defaults.keepAliveTimeoutMs, 5000);
    assert.equal(defaults.idleTimeoutMs, 120000);
    assert.equal(defaults.maxConnections, 10000);
    assert.equal(defaults.maxConnectionsPerAddress, 256);
    const set = loadConfig({
      env: {
        COFFER_HEADERS_TIMEOUT_MS: '2000',
        COFFER_REQUEST_TIMEOUT_MS: '4000',
        COFFER_KEEP_ALIVE_TIMEOUT_MS: '1000',
        COFFER_IDLE_TIMEOUT_MS: '9000',
        COFFER_MAX_CONNECTIONS: '50',
        COFFER_MAX_CONNECTIONS_PER_ADDRESS: '5',
      },
    });
    assert.deepEqual(
      [set.headersTimeoutMs, set.requestTimeoutMs, set.keepAliveTimeoutMs, set.idleTimeoutMs],
      [2000, 4000, 1000, 9000],
    );
    assert.deepEqual([set.maxConnections, set.maxConnectionsPerAddress], [50, 5]);
    assert.equal(
      fieldOf(() => loadConfig({ env: { COFFER_HEADERS_TIMEOUT_MS: '40000' } })),
      'headersTimeoutMs',
    );
    assert.equal(
      fieldOf(() => loadConfig({ env: { COFFER_MAX_CONNECTIONS: '10' } })),
      'maxConnectionsPerAddress',
    );
    assert.equal(
      fieldOf(() => loadConfig({ env: { COFFER_REQUEST_TIMEOUT_MS: '0' } })),
      'requestTimeoutMs',
    );
  });
  test('trustProxy: off by default, COFFER_TRUST_PROXY as a comma list of addresses and CIDRs', () => {
    assert.deepEqual(loadConfig({ env: {} }).trustProxy, []);
    assert.deepEqual(
      loadConfig({ env: { COFFER_TRUST_PROXY: '10.0.0.0/8, 192.0.2.7,2001:db8::/32,loopback' } }).trustProxy,
      ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', 'loopback'],
    );
    for (const bad of ['10.0.0.0/33', 'proxy.example.com', '10.0.0.1/8/8', '*'])
      assert.equal(
        fieldOf(() => loadConfig({ env: { COFFER_TRUST_PROXY: bad } })),
        'trustProxy',
        bad,
      );
  });
  test('metadataCache: 20,000 entries and 16 MiB by default, overridable by environment, whole numbers only', () => {
    assert.deepEqual(loadConfig({ env: {} }).metadataCache, {
      maxEntries: 20000,
      maxBytes: 16 * 1024 * 1024,
    });
    assert.deepEqual(
      loadConfig({ env: { COFFER_METADATA_CACHE_MAX_ENTRIES: '0', COFFER_METADATA_CACHE_MAX_BYTES: '1024' } })
        .metadataCache,
      { maxEntries: 0, maxBytes: 1024 },
    );
    assert.equal(
      fieldOf(() => loadConfig({ env: { COFFER_METADATA_CACHE_MAX_ENTRIES: 'lots' } })),
      'COFFER_METADATA_CACHE_MAX_ENTRIES',
    );
  });
  test('dataKeyCache: 10,000 keys for 300 s by default, overridable by environment, bounds validated', () => {
    assert.deepEqual(loadConfig({ env: {} }).dataKeyCache, { maxEntries: 10000, ttlSeconds: 300 });
    assert.deepEqual(
      loadConfig({ env: { COFFER_DATA_KEY_CACHE_MAX_ENTRIES: '0', COFFER_DATA_KEY_CACHE_TTL_SECONDS: '5' } })
        .dataKeyCache,
      { maxEntries: 0, ttlSeconds: 5 },
    );
    for (const ttl of ['0', '3601'])
      assert.equal(
        fieldOf(() => loadConfig({ env: { COFFER_DATA_KEY_CACHE_TTL_SECONDS: ttl } })),
        'dataKeyCache.ttlSeconds',
      );
    assert.equal(
      fieldOf(() => loadConfig({ env: { COFFER_DATA_KEY_CACHE_MAX_ENTRIES: 'lots' } })),
      'COFFER_DATA_KEY_CACHE_MAX_ENTRIES',
    );
  });
});
