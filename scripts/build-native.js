#!/usr/bin/env node
// Builds the addon (build/Release/camwire.node) and, for developers, the C++
// unit tests in the same CMake tree so `ctest --test-dir build` runs them.
//   node scripts/build-native.js [--no-tests] [--out DIR]
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { checkTools } = require('./install.js');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const tests = !args.includes('--no-tests');
const outIdx = args.indexOf('--out');
const out = outIdx >= 0 ? path.resolve(args[outIdx + 1]) : path.join(root, 'build');

const missing = checkTools();
if (missing.length) {
  console.error(`camwire: cannot build the native addon, missing: ${missing.join('; ')}`);
  process.exit(1);
}
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const common = ['--out', out, '--log-level', 'warn', `--CDCAMWIRE_BUILD_TESTS=${tests ? 'ON' : 'OFF'}`];
// Configure every time: `cmake-js build` alone keeps the options of an
// earlier configure (npm install's, without tests).
for (const step of [
  ['configure', ...common],
  ['build', '--parallel', '2', ...common],
]) {
  const r = spawnSync(process.execPath, [cmakeJs, ...step], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status === null ? 1 : r.status);
}
