/**
 * The dependency direction of STYLE.md, checked in `npm run check`:
 * core ← crypto ← storage ← barrier ← (iam, audit) ← projects ← kms ← secrets ← targets ← rotation ←
 * databases ← backup ← app ← aws ← (http, cli);
 * sdk depends on core only; agent on sdk and core only, and only cli imports agent. A wrong arrow
 * fails CI.
 */
const layers = [
  'core',
  'crypto',
  'storage',
  'barrier',
  'iam',
  'audit',
  'projects',
  'kms',
  'secrets',
  'targets',
  'rotation',
  'databases',
  'backup',
  'app',
  'aws',
  'http',
  'cli',
];
const forbidden = [];
for (let i = 0; i < layers.length; i++) {
  const lower = layers[i];
  const higher = layers
    .slice(i + 1)
    .filter((layer) => !(lower === 'iam' && layer === 'audit') && !(lower === 'http' && layer === 'cli'));
  if (higher.length === 0) continue;
  forbidden.push({
    name: `${lower}-not-up`,
    comment: `${lower} must not depend on layers above it (${higher.join(', ')})`,
    severity: 'error',
    from: { path: `^src/${lower}/` },
    to: { path: `^src/(${higher.join('|')})/` },
  });
}
forbidden.push(
  {
    name: 'sdk-only-core',
    comment: 'the SDK depends on core only (it ships to users)',
    severity: 'error',
    from: { path: '^src/sdk/' },
    to: { path: '^src/', pathNot: '^src/(sdk|core)/' },
  },
  {
    name: 'domains-not-sdk',
    comment: 'only the CLI and the agent use the SDK',
    severity: 'error',
    from: { path: '^src/', pathNot: '^src/(cli|sdk|agent)/' },
    to: { path: '^src/sdk/' },
  },
  {
    name: 'agent-only-sdk-core',
    comment: 'the agent is a client of the server through the SDK: it never imports server internals',
    severity: 'error',
    from: { path: '^src/agent/' },
    to: { path: '^src/', pathNot: '^src/(agent|sdk|core)/' },
  },
  {
    name: 'only-cli-imports-agent',
    comment: 'nothing but the CLI starts the agent',
    severity: 'error',
    from: { path: '^src/', pathNot: '^src/(cli|agent)/' },
    to: { path: '^src/agent/' },
  },
  {
    name: 'no-fastify-in-domains',
    comment: 'no domain imports Fastify',
    severity: 'error',
    from: {
      path: '^src/(core|crypto|storage|barrier|iam|audit|projects|kms|secrets|targets|rotation|databases|app)/',
    },
    to: { path: 'node_modules/(fastify|@fastify)/' },
  },
  { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
);
module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '\\.test\\.ts$' },
  },
};
