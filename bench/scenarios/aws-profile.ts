/**
 * `--only aws --profile`: where the main thread's time goes per GetSecretValue, natively and through
 * the AWS face, on a fresh server each (node --cpu-prof, then the sampling heap profiler). The face's
 * own steps are split out: SigV4 verification, the request's JSON and schema, the SecretId's
 * resolution, and the face's dispatch (target, call, answer).
 */
import type { StageRule } from '../lib/profile-stages.ts';
import { profileOperations, type ProfiledSetup } from './kms-profile.ts';
import type { ScenarioContext } from './scenario.ts';
import { secretsStageRules } from './secrets.ts';

const inAws = (url: string, part: string) => url.includes(`/src/aws/${part}`);

/** The face's stages first (tier 0 is searched from the innermost frame out), then the secrets ones. */
export const awsStageRules: readonly StageRule[] = [
  {
    stage: 'AWS: SigV4 verification (parse, canonical request, HMAC)',
    matches: (f) => inAws(f.url, 'sigv4') || f.url.includes('/node_modules/@smithy/'),
  },
  { stage: 'AWS: JSON body + schema', matches: (f) => inAws(f.url, 'aws-input') },
  { stage: 'AWS: SecretId resolution', matches: (f) => inAws(f.url, 'secretsmanager/sm-scope') },
  {
    stage: 'AWS: answer (value view, ARN, VersionId)',
    matches: (f) => inAws(f.url, 'secretsmanager/') || inAws(f.url, 'arns'),
  },
  ...secretsStageRules.slice(0, 5),
  {
    stage: 'AWS: face dispatch (target, identity, call, reply)',
    matches: (f) => inAws(f.url, ''),
  },
  ...secretsStageRules.slice(5),
];

/**
 * CPU and allocation per stage of the native getSecretValue and of the face's GetSecretValue, each on
 * a server `setup` starts (aws.ts: test mode, the scenario's secrets).
 */
export function profileAws(
  ctx: ScenarioContext,
  setup: (face: 'native' | 'aws') => ProfiledSetup,
): Promise<string> {
  return profileOperations(
    ctx,
    [
      { operation: 'getSecretValue (/v2)', setup: setup('native') },
      { operation: 'GetSecretValue (AWS face)', setup: setup('aws') },
    ],
    awsStageRules,
  );
}
