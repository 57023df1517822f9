/** Largest resource policy, in characters (AWS's limit). */
export const maxResourcePolicyLength = 20_480;

/** One finding of a policy check: which check failed and why. */
export interface PolicyFinding {
  readonly check: string;
  readonly message: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isObject = (v: Json | undefined): v is { [key: string]: Json } =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringOrStrings = (v: Json | undefined) =>
  typeof v === 'string' || (Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string'));

const statementKeys = new Set([
  'Sid',
  'Effect',
  'Principal',
  'NotPrincipal',
  'Action',
  'NotAction',
  'Resource',
  'NotResource',
  'Condition',
]);

/**
 * Checks a resource policy as a JSON IAM policy document: `Version` (2012-10-17 or 2008-10-17),
 * `Statement` (one or a list) whose statements have `Effect` Allow|Deny, exactly one of
 * Principal/NotPrincipal, of Action/NotAction, at most one of Resource/NotResource, an object
 * `Condition`, and no unknown keys; actions must be `secretsmanager:*`-style strings. Returns the
 * findings (empty: valid). Coffer stores such a policy but does not evaluate it (docs/aws.md).
 */
export function checkResourcePolicy(text: string): PolicyFinding[] {
  if (text.length > maxResourcePolicyLength)
    return [{ check: 'SYNTAX_CHECK', message: `The policy is over ${maxResourcePolicyLength} characters.` }];
  let doc: Json;
  try {
    doc = JSON.parse(text) as Json;
  } catch {
    return [{ check: 'SYNTAX_CHECK', message: 'The policy is not valid JSON.' }];
  }
  if (!isObject(doc)) return [{ check: 'SYNTAX_CHECK', message: 'The policy must be a JSON object.' }];
  const findings: PolicyFinding[] = [];
  const add = (message: string) => findings.push({ check: 'SYNTAX_CHECK', message });
  for (const key of Object.keys(doc))
    if (!['Version', 'Id', 'Statement'].includes(key)) add(`Unknown policy element ${key}.`);
  if (doc.Version !== undefined && doc.Version !== '2012-10-17' && doc.Version !== '2008-10-17')
    add('Version must be "2012-10-17" or "2008-10-17".');
  const statements = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
  if (doc.Statement === undefined || statements.length === 0) add('The policy has no Statement.');
  statements.forEach((st, i) => {
    if (st === undefined) return;
    const at = `Statement ${i + 1}`;
    if (!isObject(st)) return add(`${at} must be an object.`);
    for (const key of Object.keys(st))
      if (!statementKeys.has(key)) add(`${at} has an unknown element ${key}.`);
    if (st.Effect !== 'Allow' && st.Effect !== 'Deny') add(`${at}: Effect must be "Allow" or "Deny".`);
    const principal = st.Principal ?? st.NotPrincipal;
    if ((st.Principal === undefined) === (st.NotPrincipal === undefined))
      add(`${at} needs exactly one of Principal and NotPrincipal (a resource policy names who it is for).`);
    else if (principal !== '*' && !isObject(principal))
      add(`${at}: Principal must be "*" or an object such as {"AWS": "arn:aws:iam::123456789012:root"}.`);
    else if (isObject(principal))
      for (const [kind, value] of Object.entries(principal))
        if (!['AWS', 'Service', 'Federated', 'CanonicalUser'].includes(kind) || !isStringOrStrings(value))
          add(`${at}: Principal.${kind} is not a principal type with a string or list of strings.`);
    if ((st.Action === undefined) === (st.NotAction === undefined))
      add(`${at} needs exactly one of Action and NotAction.`);
    const actions = st.Action ?? st.NotAction;
    if (actions !== undefined) {
      if (!isStringOrStrings(actions)) add(`${at}: Action must be a string or a list of strings.`);
      else
        for (const action of [actions].flat() as string[])
          if (action !== '*' && !/^[a-zA-Z0-9-]+:[A-Za-z0-9*?]+$/.test(action))
            add(`${at}: "${action}" is not an action (service:Action).`);
    }
    if (st.Resource !== undefined && st.NotResource !== undefined)
      add(`${at} has both Resource and NotResource.`);
    const resource = st.Resource ?? st.NotResource;
    if (resource !== undefined && !isStringOrStrings(resource))
      add(`${at}: Resource must be a string or a list of strings.`);
    if (st.Condition !== undefined && !isObject(st.Condition)) add(`${at}: Condition must be an object.`);
  });
  return findings;
}

/**
 * Whether a (valid) policy grants access to everyone: an Allow statement whose principal is `*` or
 * `{"AWS": "*"}` (or lists `*`) without a Condition, or any NotPrincipal Allow. AWS's
 * BlockPublicPolicy refuses such a policy.
 */
export function grantsPublicAccess(text: string): boolean {
  const doc = JSON.parse(text) as { Statement?: Json };
  const statements = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
  return statements.some((st) => {
    if (!isObject(st) || st.Effect !== 'Allow' || st.Condition !== undefined) return false;
    if (st.NotPrincipal !== undefined) return true;
    const principal = st.Principal;
    if (principal === '*') return true;
    if (!isObject(principal)) return false;
    return Object.values(principal).some((v) => v === '*' || (Array.isArray(v) && v.includes('*')));
  });
}
