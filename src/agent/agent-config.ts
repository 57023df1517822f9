import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../core/config.ts';
import { isDeniedVariable } from '../core/env-deny.ts';
import { parseSecretReference } from './secret-reference.ts';

export { ConfigError } from '../core/config.ts';

const durationSchema = (defaultValue?: string) =>
  Type.Union([Type.String({ pattern: '^\\d{1,9}(ms|s|m|h|d)$' }), Type.Integer({ minimum: 0 })], {
    description: 'a duration such as "24h", "90s", "500ms", or whole seconds',
    ...(defaultValue === undefined ? {} : { default: defaultValue }),
  });
const Duration = durationSchema();
const Command = Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String(), { minItems: 1 })]);

const TemplateSchema = Type.Object(
  {
    source: Type.Optional(Type.String({ minLength: 1 })),
    contents: Type.Optional(Type.String()),
    destination: Type.String({ minLength: 1 }),
    mode: Type.Optional(Type.Union([Type.String({ pattern: '^0?[0-7]{3}$' }), Type.Integer({ minimum: 0 })])),
    command: Type.Optional(Command),
    commandTimeout: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

/** The agent's configuration file (YAML), field by field; every field is checked before anything starts. */
export const AgentConfigSchema = Type.Object(
  {
    server: Type.String({ pattern: '^https?://[^\\s]+$', description: 'an http:// or https:// URL' }),
    project: Type.String({ minLength: 1 }),
    region: Type.String({ minLength: 1, default: 'local' }),
    instance: Type.String({ minLength: 1 }),
    auth: Type.Object(
      {
        keyFile: Type.Optional(Type.String({ minLength: 1 })),
        tokenFile: Type.Optional(Type.String({ minLength: 1 })),
      },
      { additionalProperties: false },
    ),
    cache: Type.Object(
      { maxStale: durationSchema('24h'), revalidate: Type.Optional(Duration) },
      { additionalProperties: false, default: { maxStale: '24h' } },
    ),
    listen: Type.Optional(Type.String({ minLength: 1 })),
    listenerTokenFile: Type.Optional(Type.String({ minLength: 1 })),
    templates: Type.Array(TemplateSchema, { default: [] }),
    exec: Type.Optional(
      Type.Object(
        {
          command: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
          env: Type.Record(Type.String(), Type.String({ minLength: 1 }), { default: {} }),
          onChange: Type.String({ pattern: '^(restart|none|signal:SIG[A-Z0-9]+)$', default: 'restart' }),
          grace: Type.Optional(Duration),
        },
        { additionalProperties: false },
      ),
    ),
    logLevel: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)),
      { default: 'info' },
    ),
  },
  { additionalProperties: false },
);

type RawAgentConfig = Static<typeof AgentConfigSchema>;

/** One template, with its defaults applied. */
export interface TemplateConfig {
  /** Where it is named in errors: the source file, or `templates[i].contents`. */
  readonly name: string;
  /** The template text. */
  readonly text: string;
  readonly destination: string;
  readonly mode: number;
  /** argv, or a string run by /bin/sh -c. */
  readonly command: readonly string[] | string | undefined;
  readonly commandTimeoutMs: number;
}

/** Where the local listener listens. */
export type ListenConfig =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number; readonly token: string }
  | { readonly kind: 'unix'; readonly path: string; readonly token: string | undefined };

/** Exec mode. */
export interface ExecConfig {
  readonly command: readonly string[] | undefined;
  /** Variable name → secret reference. */
  readonly env: Readonly<Record<string, string>>;
  readonly onChange: 'restart' | 'none' | { readonly signal: NodeJS.Signals };
  readonly graceMs: number;
}

/** The validated agent configuration. */
export interface AgentConfig {
  readonly server: string;
  readonly project: string;
  readonly region: string;
  readonly instance: string;
  readonly auth: { readonly keyFile: string } | { readonly tokenFile: string };
  readonly maxStaleMs: number;
  /** `cache.revalidate`: every cached value is fetched again at least this often (default 5 min). */
  readonly revalidateMs: number;
  readonly listen: ListenConfig | undefined;
  readonly templates: readonly TemplateConfig[];
  readonly exec: ExecConfig | undefined;
  readonly logLevel: string;
}

const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration as the config writes it ("24h", "3600s", "500ms", or whole seconds) in ms. */
export function durationMs(input: string | number): number {
  if (typeof input === 'number') return input * 1000;
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(input)!;
  return Number(match[1]) * unitMs[match[2]!]!;
}

function fieldName(path: string): string {
  return (
    path
      .replace(/^\//, '')
      .split('/')
      .map((part, i) => (/^\d+$/.test(part) && i > 0 ? `[${part}]` : part))
      .join('.')
      .replaceAll('.[', '[') || 'config'
  );
}

function schemaError(candidate: unknown): ConfigError | undefined {
  const first = Value.Errors(AgentConfigSchema, candidate).First();
  if (!first) return undefined;
  const field = fieldName(first.path);
  const value: unknown = first.value;
  if (value === undefined) return new ConfigError(field, 'is required');
  const choices = (first.schema as TSchema).anyOf as TSchema[] | undefined;
  if (Array.isArray(choices) && choices.every((c) => c.const !== undefined))
    return new ConfigError(field, `must be one of ${choices.map((c) => String(c.const)).join(', ')}`);
  if ((first.schema as TSchema).description)
    return new ConfigError(field, `must be ${(first.schema as TSchema).description as string}`);
  return new ConfigError(field, first.message.toLowerCase());
}

/** The first property that the schema does not know, anywhere (TypeBox reports these last). */
function unknownField(schema: TSchema, value: unknown, path: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (Array.isArray(value)) {
    if (!schema.items) return undefined;
    for (const [i, item] of value.entries()) {
      const found = unknownField(schema.items as TSchema, item, `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  const properties = schema.properties as Record<string, TSchema> | undefined;
  if (!properties || schema.additionalProperties !== false) return undefined;
  for (const [key, item] of Object.entries(value)) {
    const name = path ? `${path}.${key}` : key;
    const inner = properties[key];
    if (!inner) return name;
    const target = inner.anyOf ? (inner.anyOf as TSchema[]).find((s) => s.type === 'object') : inner;
    const found = target ? unknownField(target, item, name) : undefined;
    if (found) return found;
  }
  return undefined;
}

function modeOf(mode: string | number | undefined, field: string): number {
  if (mode === undefined) return 0o600;
  // `mode: 0600` and `mode: 600` (YAML reads both as the number 600) and `mode: "0600"` all mean 0600.
  const digits = typeof mode === 'number' ? String(mode) : mode;
  if (!/^0?[0-7]{3}$/.test(digits)) throw new ConfigError(field, 'must be an octal file mode such as "0600"');
  return Number.parseInt(digits, 8);
}

function listenOf(raw: RawAgentConfig, readFile: (path: string) => string): ListenConfig | undefined {
  const tokenFile = raw.listenerTokenFile;
  const token = tokenFile === undefined ? undefined : readToken(tokenFile, 'listenerTokenFile', readFile);
  if (raw.listen === undefined) {
    if (tokenFile !== undefined) throw new ConfigError('listenerTokenFile', 'is set but listen is not');
    return undefined;
  }
  if (raw.listen.startsWith('unix:')) {
    const path = raw.listen.slice('unix:'.length);
    if (!path.startsWith('/')) throw new ConfigError('listen', 'unix: needs an absolute socket path');
    return { kind: 'unix', path, token };
  }
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(raw.listen);
  const port = match ? Number(match[2]) : -1;
  if (!match || port > 65535)
    throw new ConfigError('listen', 'must be 127.0.0.1:PORT (or another loopback address) or unix:/path');
  const host = match[1]!.replace(/^\[|\]$/g, '');
  if (!(host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'))))
    throw new ConfigError('listen', `${host} is not a loopback address: the agent listens on loopback only`);
  if (token === undefined)
    throw new ConfigError('listenerTokenFile', 'is required when listen is a TCP address');
  return { kind: 'tcp', host, port, token };
}

function readToken(path: string, field: string, readFile: (path: string) => string): string {
  let text: string;
  try {
    text = readFile(path);
  } catch (err) {
    throw new ConfigError(field, `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const token = text.trim();
  if (token.length < 16) throw new ConfigError(field, `${path} must hold a token of at least 16 characters`);
  return token;
}

function templatesOf(raw: RawAgentConfig, readFile: (path: string) => string): TemplateConfig[] {
  return raw.templates.map((t, i) => {
    const field = `templates[${i}]`;
    if ((t.source === undefined) === (t.contents === undefined))
      throw new ConfigError(field, 'needs exactly one of source or contents');
    let text = t.contents ?? '';
    if (t.source !== undefined) {
      try {
        text = readFile(t.source);
      } catch (err) {
        throw new ConfigError(
          `${field}.source`,
          `cannot read ${t.source} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        );
      }
    }
    return {
      name: t.source ?? `${field}.contents`,
      text,
      destination: t.destination,
      mode: modeOf(t.mode, `${field}.mode`),
      command: t.command,
      commandTimeoutMs: t.commandTimeout === undefined ? 30_000 : durationMs(t.commandTimeout),
    };
  });
}

function revalidateOf(revalidate: string | number | undefined): number {
  if (revalidate === undefined) return 300_000;
  const ms = durationMs(revalidate);
  // Below a second every agent would keep fetching its whole cache: a load on the server, not a guard.
  if (ms < 1_000) throw new ConfigError('cache.revalidate', 'must be at least 1s');
  return ms;
}

function execOf(raw: RawAgentConfig): ExecConfig | undefined {
  if (!raw.exec) return undefined;
  for (const [name, reference] of Object.entries(raw.exec.env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw new ConfigError(`exec.env.${name}`, 'is not a variable name');
    if (isDeniedVariable(name))
      throw new ConfigError(
        `exec.env.${name}`,
        'is on the deny-list of variables that make a program load or run other code (see coffer run in docs/cli.md); the agent never sets it',
      );
    try {
      parseSecretReference(reference);
    } catch (err) {
      throw new ConfigError(`exec.env.${name}`, (err as Error).message);
    }
  }
  const onChange = raw.exec.onChange;
  return {
    command: raw.exec.command,
    env: raw.exec.env,
    onChange:
      onChange === 'restart' || onChange === 'none'
        ? onChange
        : { signal: onChange.slice('signal:'.length) as NodeJS.Signals },
    graceMs: raw.exec.grace === undefined ? 10_000 : durationMs(raw.exec.grace),
  };
}

/** Reads, validates and resolves the agent's configuration; throws ConfigError naming the first bad field. */
export function loadAgentConfig(
  file: string,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): AgentConfig {
  let text: string;
  try {
    text = readFile(file);
  } catch (err) {
    throw new ConfigError(
      'config',
      `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    const line = (err as { linePos?: Array<{ line: number }> }).linePos?.[0]?.line;
    throw new ConfigError('config', `${file}${line ? `:${line}` : ''} is not valid YAML`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new ConfigError('config', `${file} must hold a mapping of settings`);
  const unknown = unknownField(AgentConfigSchema, parsed, '');
  if (unknown) throw new ConfigError(unknown, 'is not a known setting');
  const candidate = Value.Default(AgentConfigSchema, structuredClone(parsed));
  const error = schemaError(candidate);
  if (error) throw error;
  const raw = candidate as RawAgentConfig;
  if ((raw.auth.keyFile === undefined) === (raw.auth.tokenFile === undefined))
    throw new ConfigError('auth', 'needs exactly one of keyFile or tokenFile');
  return {
    server: raw.server.replace(/\/+$/, ''),
    project: raw.project,
    region: raw.region,
    instance: raw.instance,
    auth: raw.auth.keyFile !== undefined ? { keyFile: raw.auth.keyFile } : { tokenFile: raw.auth.tokenFile! },
    maxStaleMs: durationMs(raw.cache.maxStale),
    revalidateMs: revalidateOf(raw.cache.revalidate),
    listen: listenOf(raw, readFile),
    templates: templatesOf(raw, readFile),
    exec: execOf(raw),
    logLevel: raw.logLevel,
  };
}
