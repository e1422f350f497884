#!/usr/bin/env node
// Are the committed prebuilds built from the sources in this checkout? Each
// prebuild carries the source hash it was built from (the string
// "camwire-source-sha256=<hex>" in its read-only data, readable for any
// architecture without loading it). `npm pack` refuses stale prebuilds and
// test/prebuilds.test.ts fails on them.
//   node scripts/check-prebuilds.js [DIR]     exit 1 and say what to do when one is stale
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { sourceHash } = require('./source-hash.js');
const { TARGETS } = require('./prebuild.js');

const STAMP = 'camwire-source-sha256=';

/** The source hash stamped into a built addon, or undefined. */
function stampOf(file) {
  const bytes = fs.readFileSync(file);
  const at = bytes.indexOf(STAMP);
  if (at < 0) return undefined;
  const hex = bytes.subarray(at + STAMP.length, at + STAMP.length + 64).toString('latin1');
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

/** One line per prebuild that is missing or was built from other sources. */
function checkPrebuilds(dir = path.resolve(__dirname, '..')) {
  const want = sourceHash(dir);
  const problems = [];
  for (const [name, t] of Object.entries(TARGETS)) {
    const rel = `prebuilds/${name}/${t.file}`;
    const file = path.join(dir, rel);
    if (!fs.existsSync(file)) {
      problems.push(`${rel} is missing`);
      continue;
    }
    const got = stampOf(file);
    if (got !== want) problems.push(`${rel} was built from sources ${got ? got.slice(0, 12) : '(no stamp)'}…, the checkout's are ${want.slice(0, 12)}…`);
  }
  return { hash: want, problems };
}

module.exports = { checkPrebuilds, stampOf, STAMP };
if (require.main === module) {
  const { hash, problems } = checkPrebuilds(process.argv[2] ? path.resolve(process.argv[2]) : undefined);
  if (problems.length) {
    console.error(
      `camwire: the prebuilds are stale:\n  ${problems.join('\n  ')}\nRebuild them with \`npm run prebuild\` (docs/prebuilds.md) and commit prebuilds/.`,
    );
    process.exit(1);
  }
  console.log(`camwire: every prebuild is built from sources ${hash}`);
}
