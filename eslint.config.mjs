import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const FRAMEWORK = ['@nestjs/*', 'kafkajs', 'typeorm', 'typeorm/*', 'pg', '@electric-sql/*', 'express', 'prom-client'];

const DEP_CONSTRAINTS = [
  // Layers: apps compose feature libs; features use util and domain libs; domain libs stand alone.
  { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:feature', 'type:util', 'type:domain'] },
  { sourceTag: 'type:feature', onlyDependOnLibsWithTags: ['type:util', 'type:domain'] },
  { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:util', 'type:domain'] },
  { sourceTag: 'type:domain', onlyDependOnLibsWithTags: ['type:domain'], bannedExternalImports: FRAMEWORK },
  { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['*'] },
  { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:util', 'type:domain', 'type:feature'] },
  // Scopes: a service only reaches its own code and shared code; only the embedded app spans all.
  { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
  { sourceTag: 'scope:policy', onlyDependOnLibsWithTags: ['scope:policy', 'scope:shared'] },
  { sourceTag: 'scope:orchestrator', onlyDependOnLibsWithTags: ['scope:orchestrator', 'scope:shared'] },
  { sourceTag: 'scope:model-router', onlyDependOnLibsWithTags: ['scope:model-router', 'scope:shared'] },
  { sourceTag: 'scope:context', onlyDependOnLibsWithTags: ['scope:context', 'scope:shared'] },
  { sourceTag: 'scope:tool-gateway', onlyDependOnLibsWithTags: ['scope:tool-gateway', 'scope:shared'] },
  { sourceTag: 'scope:verifier', onlyDependOnLibsWithTags: ['scope:verifier', 'scope:shared'] },
  { sourceTag: 'scope:telemetry', onlyDependOnLibsWithTags: ['scope:telemetry', 'scope:shared'] },
  { sourceTag: 'scope:mesh', onlyDependOnLibsWithTags: ['*'] },
];

/** Tests may also use the test harness. */
const TEST_DEP_CONSTRAINTS = DEP_CONSTRAINTS.map((c) =>
  ['type:app', 'type:feature', 'type:util'].includes(c.sourceTag) ? { ...c, onlyDependOnLibsWithTags: [...c.onlyDependOnLibsWithTags, 'type:testing'] } : c,
);

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  { ignores: ['**/dist', '**/node_modules', 'tools/kafka-test-broker/build', '.govmesh', 'tmp'] },
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: DEP_CONSTRAINTS,
        },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.spec.ts', '**/*.service-spec.ts', '**/*.integration-spec.ts', '**/*.fixtures.ts', 'tools/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@nx/enforce-module-boundaries': ['error', { enforceBuildableLibDependency: false, allow: [], depConstraints: TEST_DEP_CONSTRAINTS }],
    },
  },
];
