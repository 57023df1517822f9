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
