import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const FRAMEWORK = ['@nestjs/*', 'kafkajs', 'typeorm', 'typeorm/*', 'pg', '@electric-sql/*', 'express', 'prom-client'];

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
          depConstraints: [
            // Layers: apps compose feature libs; features use util and domain libs; domain libs stand alone.
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:feature', 'type:util', 'type:domain'] },
            { sourceTag: 'type:feature', onlyDependOnLibsWithTags: ['type:util', 'type:domain'] },
            { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:util'] },
            { sourceTag: 'type:domain', onlyDependOnLibsWithTags: ['type:domain'], bannedExternalImports: FRAMEWORK },
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
          ],
        },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.spec.ts', '**/*.integration-spec.ts', 'tools/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
];
