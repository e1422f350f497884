#!/usr/bin/env node
// Writes prebuilds/<platform>-<arch>/node.napi.node in prebuildify's layout
// and naming, so node-gyp-build (the runtime loader) finds it. prebuildify
// itself only drives node-gyp; camwire builds with cmake-js, so this script
// does the same three steps: a clean release build without tests in its own
// tree, strip, copy.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-prebuild-'));
try {
  const build = spawnSync(process.execPath, [path.join(__dirname, 'build-native.js'), '--no-tests', '--out', out],
    { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status === null ? 1 : build.status);
  const built = path.join(out, 'Release', 'camwire.node');
  const dir = path.join(root, 'prebuilds', `${os.platform()}-${os.arch()}`);
  fs.mkdirSync(dir, { recursive: true });
  const dest = path.join(dir, 'node.napi.node');
  fs.copyFileSync(built, dest);
  const strip = spawnSync('strip', ['--strip-unneeded', dest], { stdio: 'inherit' });
  if (strip.error) console.warn('camwire: strip not found; the prebuild keeps its symbols');
  console.log(`camwire: wrote ${path.relative(root, dest)} (${fs.statSync(dest).size} bytes)`);
} finally {
  fs.rmSync(out, { recursive: true, force: true });
}
