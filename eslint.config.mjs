// ESLint with typescript-eslint over the library, the CLI, the tests and the
// benches (npm run lint). dist/ and build/ are output.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'build-*/**', 'node_modules/**', 'prebuilds/**', 'test/.api-*/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { globals: globals.node },
  },
  {
    // The CLI loads each command's library only when that command runs (the
    // AWS SDK, aedes, @peculiar/x509 stay unloaded for `camwire --version`):
    // relative requires are its lazy imports.
    files: ['ts/cli/**/*.ts'],
    rules: { '@typescript-eslint/no-require-imports': ['error', { allow: ['^\\.\\.?/'] }] },
  },
  {
    // Tests read the package's own CommonJS scripts and package.json, and the COS SDK (CommonJS, no types).
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-require-imports': ['error', { allow: ['^\\.\\./package\\.json$', '^\\.\\./scripts/', '^cos-nodejs-sdk-v5$'] }] },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
    rules: {
      '@typescript-eslint/no-require-imports': 'off',
      // `const crypto = require('node:crypto')` names the module, not a second global.
      'no-redeclare': ['error', { builtinGlobals: false }],
    },
  },
);
