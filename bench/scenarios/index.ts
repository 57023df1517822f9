import { kmsStagesScenario } from './kms-stages.ts';
import { kmsScenario } from './kms.ts';
import type { Scenario } from './scenario.ts';

/**
 * Every scenario `--only` can name, in run order. Later ones (getSecretValue, putSecretValue, audit
 * on/off) are one file each, added here.
 */
export const scenarios: readonly Scenario[] = [kmsScenario, kmsStagesScenario];
