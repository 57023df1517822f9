/**
 * The dependency direction of STYLE.md, checked in `npm run check`:
 * core ← crypto ← storage ← barrier ← (iam, audit) ← projects ← kms ← secrets ← app ← (http, cli);
 * sdk depends on core only. A wrong arrow fails CI.
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
  'app',
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
    comment: 'only the CLI uses the SDK',
    severity: 'error',
    from: { path: '^src/', pathNot: '^src/(cli|sdk)/' },
    to: { path: '^src/sdk/' },
  },
  {
    name: 'no-fastify-in-domains',
    comment: 'no domain imports Fastify',
    severity: 'error',
    from: { path: '^src/(core|crypto|storage|barrier|iam|audit|projects|kms|secrets|app)/' },
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
