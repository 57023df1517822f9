import type { Command } from 'commander';
import type { RotatorConfig } from '../sdk/index.ts';
import { CliError } from './cli-error.ts';
import { positiveInteger } from './cli-resolve.ts';

/** The rotator flags of `secrets create` and `secrets update`, as commander parses them. */
export interface RotatorFlags {
  rotator?: string;
  rotatorJson?: string;
  rotatorLength?: string;
  rotatorCharset?: string;
  rotatorConnectionSecret?: string;
  rotatorStrategy?: string;
  rotatorUsername?: string;
  rotatorUsernames?: string;
  rotatorUrl?: string;
  rotatorSigningSecret?: string;
}

const detailFlags = {
  rotatorLength: ['--rotator-length', ['random', 'postgresql']],
  rotatorCharset: ['--rotator-charset', ['random']],
  rotatorConnectionSecret: ['--rotator-connection-secret', ['postgresql']],
  rotatorStrategy: ['--rotator-strategy', ['postgresql']],
  rotatorUsername: ['--rotator-username', ['postgresql']],
  rotatorUsernames: ['--rotator-usernames', ['postgresql']],
  rotatorUrl: ['--rotator-url', ['webhook']],
  rotatorSigningSecret: ['--rotator-signing-secret', ['webhook']],
} as const;

/** Adds the `--rotator*` options to a command. */
export function addRotatorOptions(command: Command): Command {
  return command
    .option('--rotator <type>', 'what a rotation does: random, postgresql or webhook (see docs/cli.md)')
    .option('--rotator-json <json>', 'the whole rotator as JSON, e.g. \'{"type":"random","length":48}\'')
    .option('--rotator-length <n>', 'random: value length (8-4096); postgresql: password length (16-128)')
    .option('--rotator-charset <set>', 'random: alphanumeric, ascii-printable, hex or base64url')
    .option('--rotator-connection-secret <ref>', 'postgresql: the secret holding the admin login')
    .option('--rotator-strategy <strategy>', 'postgresql: alternate-users or single-user')
    .option('--rotator-username <name>', 'postgresql single-user: the login whose password rotates')
    .option('--rotator-usernames <a,b>', 'postgresql alternate-users: the two logins used in turn')
    .option('--rotator-url <url>', 'webhook: the hook called for each step (https, or http to loopback)')
    .option('--rotator-signing-secret <ref>', 'webhook: the secret holding the HMAC signing key');
}

/**
 * The rotator the flags describe, or undefined when none is given. Flags that do not belong to the
 * chosen type are refused rather than ignored; the server validates the values themselves.
 */
export function rotatorFromFlags(flags: RotatorFlags): RotatorConfig | undefined {
  const given = (Object.keys(detailFlags) as Array<keyof typeof detailFlags>).filter(
    (key) => flags[key] !== undefined,
  );
  if (flags.rotatorJson !== undefined) {
    if (flags.rotator !== undefined || given.length > 0)
      throw new CliError('--rotator-json cannot be combined with --rotator or other --rotator-* flags');
    let parsed: unknown;
    try {
      parsed = JSON.parse(flags.rotatorJson);
    } catch {
      throw new CliError('--rotator-json is not valid JSON');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new CliError('--rotator-json takes a JSON object with a "type"');
    return parsed as RotatorConfig;
  }
  if (flags.rotator === undefined) {
    if (given.length > 0) throw new CliError(`${detailFlags[given[0]!][0]} needs --rotator`);
    return undefined;
  }
  const type = flags.rotator;
  if (type !== 'random' && type !== 'postgresql' && type !== 'webhook')
    throw new CliError(`--rotator takes random, postgresql or webhook, not "${type}"`);
  for (const key of given) {
    const [flag, types] = detailFlags[key];
    if (!(types as readonly string[]).includes(type))
      throw new CliError(`${flag} does not apply to --rotator ${type}`);
  }
  const length =
    flags.rotatorLength === undefined ? undefined : positiveInteger(flags.rotatorLength, '--rotator-length');
  if (type === 'random')
    return {
      type,
      ...(length !== undefined ? { length } : {}),
      ...(flags.rotatorCharset !== undefined
        ? { charset: flags.rotatorCharset as 'alphanumeric' | 'ascii-printable' | 'hex' | 'base64url' }
        : {}),
    };
  if (type === 'postgresql') {
    if (!flags.rotatorConnectionSecret || !flags.rotatorStrategy)
      throw new CliError('--rotator postgresql needs --rotator-connection-secret and --rotator-strategy');
    const strategy = flags.rotatorStrategy;
    if (strategy !== 'alternate-users' && strategy !== 'single-user')
      throw new CliError(`--rotator-strategy takes alternate-users or single-user, not "${strategy}"`);
    const usernames = flags.rotatorUsernames?.split(',').map((name) => name.trim());
    if (usernames !== undefined && (usernames.length !== 2 || usernames.some((name) => name === '')))
      throw new CliError('--rotator-usernames takes two logins separated by a comma, e.g. app_a,app_b');
    if (strategy === 'single-user' && usernames !== undefined)
      throw new CliError('--rotator-strategy single-user takes --rotator-username, not --rotator-usernames');
    if (strategy === 'alternate-users' && flags.rotatorUsername !== undefined)
      throw new CliError(
        '--rotator-strategy alternate-users takes --rotator-usernames, not --rotator-username',
      );
    return {
      type,
      connectionSecret: flags.rotatorConnectionSecret,
      strategy,
      ...(flags.rotatorUsername !== undefined ? { username: flags.rotatorUsername } : {}),
      ...(usernames !== undefined ? { usernames: [usernames[0]!, usernames[1]!] as [string, string] } : {}),
      ...(length !== undefined ? { passwordLength: length } : {}),
    };
  }
  if (!flags.rotatorUrl || !flags.rotatorSigningSecret)
    throw new CliError('--rotator webhook needs --rotator-url and --rotator-signing-secret');
  return { type, url: flags.rotatorUrl, signingSecret: flags.rotatorSigningSecret };
}

/** A secret's `rotation` as sent: a schedule and/or a rotator. */
export interface RotationBody {
  period?: string | number;
  nextRotationTime?: string;
  rotator?: RotatorConfig;
}

/** The `rotation` a secret has now, as its view shows it (the rotator with references only). */
export interface RotationNow {
  readonly period?: string | null;
  readonly nextRotationTime?: string | null;
  readonly rotator?: unknown;
}

/**
 * The `rotation` of a PATCH that changes only part of it: a PATCH replaces the whole object, so
 * what the flags leave alone is copied from the secret as it is now (sent with its etag, so a change
 * made meanwhile is refused rather than overwritten). `null` when nothing would be left.
 */
export function mergeRotation(
  now: RotationNow | null,
  change: {
    period?: string | number;
    nextRotationTime?: string;
    rotator?: RotatorConfig;
    clearRotator?: boolean;
  },
): RotationBody | null {
  const keepSchedule = change.period === undefined && now?.period;
  const period = change.period ?? (keepSchedule ? now.period! : undefined);
  const nextRotationTime =
    change.nextRotationTime ?? (keepSchedule && now.nextRotationTime ? now.nextRotationTime : undefined);
  const rotator = change.clearRotator
    ? undefined
    : (change.rotator ?? (now?.rotator ? (now.rotator as RotatorConfig) : undefined));
  if (period === undefined && rotator === undefined) return null;
  return {
    ...(period !== undefined ? { period } : {}),
    ...(nextRotationTime !== undefined ? { nextRotationTime } : {}),
    ...(rotator !== undefined ? { rotator } : {}),
  };
}
