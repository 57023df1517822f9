import type { RandomRotatorConfig, WebhookRotatorConfig } from '../core/api/rotation-schemas.ts';
import { CofferError } from '../core/errors.ts';
import { createPostgresRotator, type PostgresRotatorConfig } from './postgresql-rotator.ts';
import { createRandomRotator } from './random-rotator.ts';
import type { RotatorFactory } from './rotation-types.ts';
import type { Rotator } from './rotator.ts';
import { createWebhookRotator } from './webhook-rotator.ts';

/** The rotators this server has, by `rotation.rotator.type`. */
export const defaultRotators: Readonly<Record<string, RotatorFactory>> = {
  random: (config) => createRandomRotator(config as RandomRotatorConfig),
  postgresql: (config) => createPostgresRotator(config as PostgresRotatorConfig),
  webhook: (config) => createWebhookRotator(config as WebhookRotatorConfig),
};

/**
 * Builds the rotator of a configuration (which validates it further, e.g. a webhook's URL);
 * `failed_precondition` when this server has no rotator of that type.
 */
export function buildRotator(
  factories: Readonly<Record<string, RotatorFactory>>,
  config: { readonly type: string },
): Rotator {
  const factory = Object.hasOwn(factories, config.type) ? factories[config.type] : undefined;
  if (!factory) throw new CofferError('failed_precondition', `rotator type ${config.type} is not available`);
  return factory(config);
}
