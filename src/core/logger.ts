import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/**
 * Field names that can carry a secret anywhere in a log object. pino replaces them with "[redacted]"
 * at any of the depths listed, so a value passed by mistake never reaches a log line.
 */
const secretFields = [
  'value',
  'binaryValue',
  'plaintext',
  'token',
  'rootToken',
  'key',
  'keys',
  'password',
  'authorization',
  'cookie',
  'share',
  'shares',
  'material',
  'dataKey',
  // The AWS face's names (access key secrets, Secrets Manager values, KMS plaintexts).
  'secretAccessKey',
  'SecretString',
  'SecretBinary',
  'Plaintext',
];

/** The redaction paths: each secret field at the top level and one and two levels deep. */
export const redactPaths: string[] = secretFields.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]);

/** Builds the structured logger (JSON lines on stdout, or on `destination` for tests). */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: 'coffer' },
    redact: { paths: redactPaths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}

type LogMethod = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** What `LazyChildLogger` passes on to pino's `child` (its bindings and child options). */
type ChildBindings = Parameters<Logger['child']>[0];
type ChildOptions = { readonly level?: string };

/**
 * A child logger made only when something is logged through it. A request's logger binds its
 * request id; made eagerly, pino's `child()` runs the redaction over the bindings on every request
 * (≈2 µs and ≈12 KB), although at level warn nearly no request logs a line. This one checks the
 * level first and makes the real child (with the same redaction, serializers and bindings) on the
 * first line that is written, so every line still carries the request id.
 */
export class LazyChildLogger {
  readonly #parent: Logger;
  readonly #bindings: ChildBindings;
  readonly #options: ChildOptions | undefined;
  #child: Logger | undefined;

  constructor(parent: Logger, bindings: ChildBindings, options?: ChildOptions) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#options = options && Object.keys(options).length > 0 ? options : undefined;
  }

  /** The real child logger (made on first use). */
  #real(): Logger {
    return (this.#child ??= this.#parent.child(this.#bindings, this.#options as never) as Logger);
  }

  /** Whether a line at `level` would be written, without making the child. */
  isLevelEnabled(level: string): boolean {
    if (this.#child) return this.#child.isLevelEnabled(level);
    const own = this.#options?.level;
    if (own === undefined) return this.#parent.isLevelEnabled(level);
    const values = this.#parent.levels.values;
    const wanted = values[level];
    return wanted !== undefined && own !== 'silent' && wanted >= (values[own] ?? Infinity);
  }

  #log(level: LogMethod, args: unknown[]): void {
    if (!this.isLevelEnabled(level)) return;
    (this.#real()[level] as (...a: unknown[]) => void)(...args);
  }

  fatal(...args: unknown[]): void {
    this.#log('fatal', args);
  }
  error(...args: unknown[]): void {
    this.#log('error', args);
  }
  warn(...args: unknown[]): void {
    this.#log('warn', args);
  }
  info(...args: unknown[]): void {
    this.#log('info', args);
  }
  debug(...args: unknown[]): void {
    this.#log('debug', args);
  }
  trace(...args: unknown[]): void {
    this.#log('trace', args);
  }
  silent(): void {}

  get level(): string {
    return this.#child?.level ?? this.#options?.level ?? this.#parent.level;
  }
  set level(level: string) {
    this.#real().level = level;
  }

  /** The bindings a line carries (the parent's and this logger's). */
  bindings(): Record<string, unknown> {
    return this.#real().bindings();
  }

  child(bindings: ChildBindings, options?: ChildOptions): Logger {
    return this.#real().child(bindings, options as never) as Logger;
  }
}
