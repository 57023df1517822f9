import { agentLatencyScenario } from './agent-latency.ts';
import { agentScenario } from './agent.ts';
import { dynamicCredentialsScenario } from './dynamic-credentials.ts';
import { auditScenario } from './audit.ts';
import { awsScenario } from './aws.ts';
import { backupScenario } from './backup.ts';
import { consoleScenario } from './console.ts';
import { feedScenario } from './feed.ts';
import { kmsStagesScenario } from './kms-stages.ts';
import { kmsScenario } from './kms.ts';
import { metricsScenario } from './metrics.ts';
import { rotationScenario } from './rotation.ts';
import { secrets1mScenario, secretsScenario } from './secrets.ts';
import type { Scenario } from './scenario.ts';

/**
 * Every scenario `--only` can name, in run order; each is one file, listed here.
 */
export const scenarios: readonly Scenario[] = [
  kmsScenario,
  kmsStagesScenario,
  secretsScenario,
  secrets1mScenario,
  metricsScenario,
  auditScenario,
  agentScenario,
  agentLatencyScenario,
  feedScenario,
  dynamicCredentialsScenario,
  rotationScenario,
  backupScenario,
  awsScenario,
  consoleScenario,
];
