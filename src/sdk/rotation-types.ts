// The types of secret rotation: rotators (what a rotation does) and a secret's rotation status.

/** A new random value. */
export interface RandomRotator {
  type: 'random';
  length?: number;
  charset?: 'alphanumeric' | 'ascii-printable' | 'hex' | 'base64url';
  exclude?: string;
}

/** A PostgreSQL login's password, changed with admin credentials held in another secret. */
export interface PostgresqlRotator {
  type: 'postgresql';
  connectionSecret: string;
  strategy: 'alternate-users' | 'single-user';
  username?: string;
  usernames?: [string, string];
  passwordLength?: number;
}

/** A hook called for the four steps, signed with a key held in another secret. */
export interface WebhookRotator {
  type: 'webhook';
  url: string;
  signingSecret: string;
  timeoutMs?: number;
}

/** What a rotation does. */
export type RotatorConfig = RandomRotator | PostgresqlRotator | WebhookRotator;

/** A secret's rotation state. */
export interface RotationStatusView {
  state: 'idle' | 'in_progress' | 'failed';
  step?: 'create' | 'set' | 'test' | 'finish';
  pendingVersion?: number;
  attempts: number;
  lastSuccessTime: string | null;
  lastFailure: null | { time: string; step: string; message: string };
  nextAttemptTime?: string;
}

/** The answer of `POST …/secrets/{secret}/rotate`. */
export interface RotateSecretView {
  version: number;
  rotationStatus: RotationStatusView | null;
}
