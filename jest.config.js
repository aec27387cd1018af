/**
 * Three tiers, one command:
 * - unit: pure logic, no servers (`*.spec.ts`);
 * - service: one service's module in this process on the in-process transport and an in-memory
 *   PGlite with the real migrations (`*.service-spec.ts`, see libs/testing/src/service-harness.ts);
 * - integration: real Postgres, the Kafka-protocol test broker and the built apps as separate
 *   processes (`*.integration-spec.ts`), one file at a time.
 */
const { compilerOptions } = require('./tsconfig.base.json');

const moduleNameMapper = Object.fromEntries(
  Object.entries(compilerOptions.paths).map(([alias, [target]]) => [`^${alias.replace('/', '\\/')}$`, `<rootDir>/${target}`]),
);

const transform = {
  '^.+\\.ts$': [
    '@swc/jest',
    {
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
        target: 'es2022',
        keepClassNames: true,
      },
      // `import()` stays a dynamic import: ES-module-only packages (jose) load through it.
      module: { type: 'commonjs', ignoreDynamic: true },
    },
  ],
};

const common = { rootDir: __dirname, testEnvironment: 'node', transform, moduleNameMapper, moduleFileExtensions: ['ts', 'js', 'json'] };

module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs,tools}/**/*.spec.ts'] },
    { ...common, displayName: 'service', testMatch: ['<rootDir>/{apps,libs,tools}/**/*.service-spec.ts'], setupFilesAfterEnv: ['<rootDir>/libs/testing/src/service-timeout.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/{apps,libs,tools}/**/*.integration-spec.ts'],
      globalSetup: '<rootDir>/libs/testing/src/global-setup.ts',
      setupFilesAfterEnv: ['<rootDir>/libs/testing/src/integration-timeout.ts'],
    },
  ],
};
