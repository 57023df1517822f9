import { readFileSync } from 'node:fs';
import { CofferClient, serviceAccountKeyTokenProvider } from '../sdk/index.ts';
import type { AgentConfig } from './agent-config.ts';
import { ConfigError } from './agent-config.ts';
import { tokenFileProvider } from './token-file-source.ts';

/**
 * The SDK client the agent reads through, with its own identity: a service-account key file (the SDK
 * exchanges a signed assertion for a token and renews it before it expires) or a token file (read
 * again when it changes). A key file that cannot be used is a configuration error (exit 2).
 */
export function agentClient(config: AgentConfig): CofferClient {
  let tokenProvider: () => Promise<string>;
  if ('keyFile' in config.auth) {
    try {
      tokenProvider = serviceAccountKeyTokenProvider(config.auth.keyFile, { address: config.server });
    } catch (err) {
      throw new ConfigError('auth.keyFile', (err as Error).message);
    }
  } else {
    const path = config.auth.tokenFile;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(
        'auth.tokenFile',
        `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    if (text.trim() === '') throw new ConfigError('auth.tokenFile', `${path} is empty`);
    tokenProvider = tokenFileProvider(path);
  }
  return new CofferClient({
    address: config.server,
    tokenProvider,
    userAgent: 'coffer-agent',
    timeoutMs: 10_000,
  });
}
