/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.spec.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          // Nest resolves constructor dependencies from design:paramtypes, so keep decorator metadata.
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2022',
        },
        module: { type: 'commonjs' },
      },
    ],
  },
  moduleNameMapper: {
    '^nestjs-batch-serving$': '<rootDir>/lib/index.ts',
    '^nestjs-batch-serving/(.*)$': '<rootDir>/lib/transports/$1/index.ts',
  },
};
