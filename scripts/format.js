#!/usr/bin/env node
// The formatters: Prettier for TypeScript and JavaScript, clang-format for C++.
//   node scripts/format.js          rewrite every file in place
//   node scripts/format.js --check  change nothing; exit 1 naming what is not formatted
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const check = process.argv.includes('--check');

function files(dir, re, out = []) {
  const full = path.join(root, dir);
  if (!fs.existsSync(full)) return out;
  for (const d of fs.readdirSync(full, { withFileTypes: true })) {
    const rel = path.join(dir, d.name);
    if (d.isDirectory()) files(rel, re, out);
    else if (re.test(d.name)) out.push(rel);
  }
  return out;
}

const cxx = ['cpp', 'binding', 'test/cpp', 'test/fuzz'].flatMap((d) => files(d, /\.(cc|h)$/));
const web = ['ts', 'test', 'bench', 'scripts', 'bin'].flatMap((d) => files(d, /\.(ts|js|cjs|mjs)$/)).filter((f) => !f.startsWith(path.join('test', '.api-')));
web.push('eslint.config.mjs', '.dependency-cruiser.cjs');

const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 256 << 20 });
let failed = false;

// The style is clang-format 14's (Debian 12): another version formats some constructs differently.
const version = run('clang-format', ['--version']);
if (version.error) {
  console.error(`format: clang-format: ${version.error.code === 'ENOENT' ? 'not found (apt-get install clang-format)' : version.error.message}`);
  process.exit(1);
}
if (!/version 14\./.test(version.stdout)) console.error(`format: warning: ${version.stdout.trim()}; the style is held with clang-format 14`);
const cf = run('clang-format', check ? ['--dry-run', '--Werror', ...cxx] : ['-i', ...cxx]);
if (cf.error) {
  console.error(`format: clang-format: ${cf.error.message}`);
  process.exit(1);
}
if (cf.status !== 0) {
  failed = true;
  const bad = [...new Set([...cf.stderr.matchAll(/^([^:\n]+\.(?:cc|h)):\d+:\d+: (?:error|warning)/gm)].map((m) => m[1]))];
  console.error(`format: clang-format would change ${bad.length} C++ file(s): ${bad.join(', ')}`);
}

const prettier = path.join(root, 'node_modules', 'prettier', 'bin', 'prettier.cjs');
const pr = run(process.execPath, [prettier, check ? '--check' : '--write', '--log-level', check ? 'warn' : 'error', ...web]);
if (pr.error) {
  console.error(`format: prettier: ${pr.error.message}`);
  process.exit(1);
}
if (pr.status !== 0) {
  failed = true;
  process.stderr.write(pr.stderr.replace(/^\[warn\] /gm, 'format: prettier would change '));
}
if (failed) {
  if (check) console.error('format: run `npm run format`');
  process.exit(1);
}
if (!check) console.log(`format: ${cxx.length} C++ and ${web.length} TypeScript/JavaScript files`);
