import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CliError } from './cli-error.ts';

/** What `coffer login` remembers: where the server is, the token, and default context. */
export interface Profile {
  address?: string;
  token?: string;
  project?: string;
  region?: string;
  instance?: string;
}

const profileKeys = ['address', 'token', 'project', 'region', 'instance'] as const;

/** `$COFFER_CONFIG_DIR`, else `~/.config/coffer`. */
export function profileDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.COFFER_CONFIG_DIR || join(homedir(), '.config', 'coffer');
}

/** The profile file: `<profileDir>/profile.json`. */
export function profilePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(profileDir(env), 'profile.json');
}

/** Reads the profile; an absent file is an empty profile, an unreadable one a one-line error. */
export function readProfile(env: NodeJS.ProcessEnv = process.env): Profile {
  const path = profilePath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(`cannot read the profile ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(`the profile ${path} is not valid JSON; fix it or run "coffer login" again`);
  }
  const profile: Profile = {};
  if (parsed && typeof parsed === 'object')
    for (const key of profileKeys) {
      const value = (parsed as Record<string, unknown>)[key];
      if (typeof value === 'string' && value !== '') profile[key] = value;
    }
  return profile;
}

/**
 * Writes the profile with mode 0600 (it holds a token) in a 0700 directory, through a temporary file
 * and a rename so a crash never leaves half a file.
 */
export function writeProfile(profile: Profile, env: NodeJS.ProcessEnv = process.env): string {
  const dir = profileDir(env);
  const path = profilePath(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  const clean: Profile = {};
  for (const key of profileKeys) if (profile[key]) clean[key] = profile[key];
  writeFileSync(temporary, `${JSON.stringify(clean, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
  return path;
}
