import type { Command } from 'commander';
import { version } from '../app/version.ts';
import { CofferClient, serviceAccountKeyTokenProvider } from '../sdk/index.ts';
import { CliError } from './cli-error.ts';
import { readProfile } from './cli-profile.ts';

/** Where a setting came from. */
export type Source = 'flag' | 'env' | 'profile' | 'default';

/** The context of a remote command: flags, then env, then the profile file. */
export interface CliContext {
  readonly address: string;
  readonly addressFrom: Source;
  readonly token: string | undefined;
  /**
   * A service-account key file to get tokens with (`--key-file`, then COFFER_KEY_FILE), when it
   * comes from a more specific place than the token (a flag beats env, env beats the profile).
   */
  readonly keyFile: string | undefined;
  readonly project: string | undefined;
  readonly region: string;
  readonly instance: string | undefined;
}

/** The global flags every command accepts. */
export interface GlobalFlags {
  address?: string;
  token?: string;
  keyFile?: string;
  project?: string;
  region?: string;
  instance?: string;
  format?: string;
}

/** The default server address (SPEC §10's default listen address). */
export const defaultAddress = 'http://127.0.0.1:8270';

function pick(flag: string | undefined, env: string | undefined, profile: string | undefined) {
  if (flag) return { value: flag, from: 'flag' as const };
  if (env) return { value: env, from: 'env' as const };
  if (profile) return { value: profile, from: 'profile' as const };
  return undefined;
}

/** Resolves the context of `command` (flags > COFFER_* env > profile > defaults). */
export function cliContext(command: Command): CliContext {
  const flags = command.optsWithGlobals() as GlobalFlags;
  const env = process.env;
  const profile = readProfile();
  const address = pick(flags.address, env.COFFER_ADDR, profile.address) ?? {
    value: defaultAddress,
    from: 'default' as const,
  };
  let url: URL;
  try {
    url = new URL(address.value);
  } catch {
    url = new URL('invalid:');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new CliError(
      `the server address "${address.value}" (from ${address.from}) is not a URL such as ${defaultAddress}`,
    );
  const token = pick(flags.token, env.COFFER_TOKEN, profile.token);
  const keyFile = pick(flags.keyFile, env.COFFER_KEY_FILE, undefined);
  const rank = { flag: 0, env: 1, profile: 2, default: 3 } as const;
  const useKeyFile = keyFile !== undefined && (token === undefined || rank[keyFile.from] < rank[token.from]);
  return {
    address: address.value,
    addressFrom: address.from,
    token: useKeyFile ? undefined : token?.value,
    keyFile: useKeyFile ? keyFile.value : undefined,
    project: pick(flags.project, env.COFFER_PROJECT, profile.project)?.value,
    region: pick(flags.region, env.COFFER_REGION, profile.region)?.value ?? 'local',
    instance: pick(flags.instance, env.COFFER_INSTANCE, profile.instance)?.value,
  };
}

/** A client for the command's context; without a token (when one is needed) a one-line hint. */
export function cofferClient(command: Command, needsToken = true): CofferClient {
  const context = cliContext(command);
  if (needsToken && !context.token && !context.keyFile)
    throw new CliError('no token: run "coffer login", pass --token or set COFFER_TOKEN');
  let tokenProvider: (() => Promise<string>) | undefined;
  if (context.keyFile) {
    try {
      tokenProvider = serviceAccountKeyTokenProvider(context.keyFile, { address: context.address });
    } catch (err) {
      throw new CliError((err as Error).message);
    }
  }
  return new CofferClient({
    address: context.address,
    ...(tokenProvider ? { tokenProvider } : { token: context.token }),
    userAgent: `coffer-cli/${version}`,
    retry: { maxAttempts: 3, baseDelayMs: 200 },
  });
}
