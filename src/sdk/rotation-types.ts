// The types of secret rotation, from the shared schemas.
import type { Static } from '@sinclair/typebox';
import type { RotateAnswer } from '../core/api/rotation-schemas.ts';

export type {
  PostgresRotatorConfig as PostgresqlRotator,
  RandomRotatorConfig as RandomRotator,
  RotationStatusView,
  RotatorConfig,
  WebhookRotatorConfig as WebhookRotator,
} from '../core/api/rotation-schemas.ts';

/** The answer of `POST …/secrets/{secret}/rotate`: the new current version and the rotation's state. */
export type RotateSecretView = Static<typeof RotateAnswer>;
