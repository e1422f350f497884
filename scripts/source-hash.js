#!/usr/bin/env node
// The hash of the sources a native build is made from: every file under cpp/
// and binding/, CMakeLists.txt, and the prebuild recipe (scripts/prebuild.js:
// it chooses the compilers and the features of the libcurl and libusb linked
// in). Each prebuild carries it (`camwire probe` shows it) and
// test/prebuilds.test.ts fails when a committed prebuild was built from
// anything else, so a change to native code lands with its rebuilt prebuilds.
//   node scripts/source-hash.js        prints the hash
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const INPUTS = ['cpp', 'binding', 'CMakeLists.txt', 'scripts/prebuild.js'];

function walk(dir, rel, out) {
  const abs = path.join(dir, rel);
  const st = fs.statSync(abs);
  if (st.isDirectory()) {
    for (const name of fs.readdirSync(abs).sort()) walk(dir, `${rel}/${name}`, out);
  } else if (st.isFile()) {
    out.push(rel);
  }
  return out;
}

/** Relative paths (posix, sorted) of the files the hash covers, in a package root. */
function sourceFiles(dir = root) {
  return INPUTS.flatMap((p) => walk(dir, p, [])).sort();
}

/** SHA-256 (hex) over each file's path, length and bytes, in path order. */
function sourceHash(dir = root) {
  const h = crypto.createHash('sha256');
  for (const rel of sourceFiles(dir)) {
    const bytes = fs.readFileSync(path.join(dir, rel));
    h.update(`${rel}\0${bytes.length}\0`);
    h.update(bytes);
  }
  return h.digest('hex');
}

module.exports = { sourceHash, sourceFiles, INPUTS };
if (require.main === module) process.stdout.write(`${sourceHash()}\n`);
