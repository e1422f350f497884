#!/usr/bin/env node
// npm install hook. Uses a prebuild from prebuilds/<platform>-<arch>/ when one
// loads in this Node; otherwise builds from source with cmake-js, and when
// that cannot work says exactly which tool is missing.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function onPath(cmd) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      fs.accessSync(path.join(dir, cmd), fs.constants.X_OK);
      return true;
    } catch {
      /* keep looking */
    }
  }
  return false;
}

/** Build tools a source build needs, as "tool (Debian package)" for each missing one. */
function checkTools() {
  const missing = [];
  if (!onPath('cmake')) missing.push('cmake (apt-get install cmake)');
  if (!onPath('c++') && !onPath('g++') && !onPath('clang++')) missing.push('a C++17 compiler (apt-get install g++)');
  if (!onPath('make') && !onPath('ninja')) missing.push('make or ninja (apt-get install make)');
  if (!onPath('pkg-config')) missing.push('pkg-config (apt-get install pkg-config)');
  const headers = [
    ['/usr/include/openssl/opensslv.h', 'OpenSSL headers (apt-get install libssl-dev)'],
    ['/usr/include/libusb-1.0/libusb.h', 'libusb headers (apt-get install libusb-1.0-0-dev)'],
  ];
  if (process.platform === 'linux') {
    for (const [file, what] of headers) if (!fs.existsSync(file)) missing.push(what);
    // libcurl's headers live under a multiarch directory: ask pkg-config.
    if (onPath('pkg-config') && spawnSync('pkg-config', ['--exists', 'libcurl']).status !== 0)
      missing.push('libcurl headers (apt-get install libcurl4-openssl-dev)');
  }
  return missing;
}

/**
 * Resolves prebuilds/ exactly as the runtime loader does (node-gyp-build, with
 * build/ ignored) and loads the winner in a fresh Node process. Returns its
 * path when it loads, undefined when there is none, or an Error when it fails.
 */
function loadablePrebuild() {
  const script = `const l = require('node-gyp-build'); const f = l.path(${JSON.stringify(root)});
    require(f).probe(); process.stdout.write(f);`;
  // LD_BIND_NOW: every symbol is bound now, so a prebuild that would fail at
  // its first call (a symbol this Node does not export) fails here instead.
  const r = spawnSync(process.execPath, ['-e', script], { cwd: root, stdio: 'pipe', env: { ...process.env, PREBUILDS_ONLY: '1', LD_BIND_NOW: '1' } });
  if (r.status === 0) return r.stdout.toString();
  const err = r.stderr.toString();
  if (/No native build was found/.test(err)) return undefined;
  return new Error(err.split('\n').find((l) => /Error/.test(l)) || err.trim());
}

function main() {
  const prebuild = loadablePrebuild();
  if (typeof prebuild === 'string') {
    console.log(`camwire: using prebuild ${path.relative(root, prebuild)}`);
    return 0;
  }
  if (prebuild) console.log(`camwire: the prebuild does not load here (${prebuild.message}); building from source`);
  else console.log(`camwire: no prebuild for ${process.platform}-${process.arch}; building from source`);
  const missing = checkTools();
  if (missing.length) {
    console.error(`camwire: cannot build the native addon from source. Missing: ${missing.join('; ')}.`);
    return 1;
  }
  let cmakeJs;
  try {
    cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  } catch {
    console.error('camwire: cannot build the native addon from source. Missing: the cmake-js package (npm install cmake-js).');
    return 1;
  }
  const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--log-level', 'warn', '--CDCAMWIRE_BUILD_TESTS=OFF'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) console.error('camwire: the source build failed; the compiler output is above.');
  return r.status === null ? 1 : r.status;
}

module.exports = { checkTools };
if (require.main === module) process.exit(main());
