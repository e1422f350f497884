#!/usr/bin/env node
// Builds the self-contained prebuilds that the repository carries, in
// prebuildify's layout and naming so node-gyp-build finds them:
//   prebuilds/linux-x64/node.napi.glibc.node
//   prebuilds/linux-arm64/node.napi.armv8.glibc.node
//   prebuilds/linux-arm/node.napi.armv7.glibc.node      (armv7, hard float)
// on one Debian 12 x86-64 machine with Debian's cross toolchains. Each links
// static libcurl and libusb built here from Debian's source packages with only
// what camwire uses (HTTP/HTTPS with OpenSSL, proxies; libusb without udev),
// takes OpenSSL from the symbols Node exports, and is stamped with the hash of
// the sources it came from (scripts/source-hash.js).
//
//   node scripts/prebuild.js [--target linux-x64,linux-arm64,linux-arm] [--jobs N]
//
// Work trees and the downloaded sources stay in build-prebuild/; the static
// libraries are reused while their sources and options are the same. The tools it needs are installed by
// `node scripts/provision.js prebuild` (run first by `npm run prebuild`).
'use strict';
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { sourceHash } = require('./source-hash.js');

const root = path.resolve(__dirname, '..');
const work = path.join(root, 'build-prebuild');

/** What each prebuild is: its directory, file name, toolchain and ELF machine. */
const TARGETS = {
  'linux-x64': { triplet: 'x86_64-linux-gnu', processor: 'x86_64', file: 'node.napi.glibc.node', machine: 'Advanced Micro Devices X86-64', cross: false },
  'linux-arm64': {
    triplet: 'aarch64-linux-gnu',
    processor: 'aarch64',
    file: 'node.napi.armv8.glibc.node',
    machine: 'AArch64',
    cross: true,
    qemu: 'qemu-aarch64-static',
  },
  'linux-arm': {
    triplet: 'arm-linux-gnueabihf',
    processor: 'armv7l',
    file: 'node.napi.armv7.glibc.node',
    machine: 'ARM',
    cross: true,
    qemu: 'qemu-arm-static',
  },
};

/** The only shared libraries a prebuild may need: the C and C++ runtime. */
const ALLOWED_NEEDED = [
  /^libc\.so\.6$/,
  /^libm\.so\.6$/,
  /^libdl\.so\.2$/,
  /^libpthread\.so\.0$/,
  /^libgcc_s\.so\.1$/,
  /^libstdc\+\+\.so\.6$/,
  /^ld-linux[-a-z0-9_.]*\.so\.\d$/,
  /^librt\.so\.1$/,
];

// libcurl: HTTP and HTTPS only (PutMedia, the control plane), OpenSSL as the
// TLS library (bound to Node's own at load), proxies from the environment,
// the threaded resolver. Everything else is off, so nothing else is linked.
// No built-in CA bundle: the producer always passes the CAs to trust
// (a --ca file, or the roots Node itself trusts), so a prebuild verifies TLS
// the same way on any distribution, with or without /etc/ssl.
const CURL_OPTIONS = [
  '-DBUILD_SHARED_LIBS=OFF',
  '-DBUILD_CURL_EXE=OFF',
  '-DBUILD_TESTING=OFF',
  '-DENABLE_MANUAL=OFF',
  '-DPICKY_COMPILER=OFF',
  '-DHTTP_ONLY=ON',
  '-DCURL_USE_OPENSSL=ON',
  '-DCURL_DISABLE_OPENSSL_AUTO_LOAD_CONFIG=ON',
  '-DENABLE_THREADED_RESOLVER=ON',
  '-DENABLE_IPV6=ON',
  '-DENABLE_UNIX_SOCKETS=OFF',
  '-DENABLE_WEBSOCKETS=OFF',
  '-DCURL_ZLIB=OFF',
  '-DCURL_BROTLI=OFF',
  '-DCURL_ZSTD=OFF',
  '-DUSE_NGHTTP2=OFF',
  '-DUSE_LIBIDN2=OFF',
  '-DCURL_USE_LIBPSL=OFF',
  '-DCURL_USE_LIBSSH2=OFF',
  '-DCURL_USE_LIBSSH=OFF',
  '-DCURL_USE_GSSAPI=OFF',
  '-DCURL_DISABLE_LDAP=ON',
  '-DCURL_DISABLE_LDAPS=ON',
  '-DCURL_DISABLE_COOKIES=ON',
  '-DCURL_DISABLE_ALTSVC=ON',
  '-DCURL_DISABLE_HSTS=ON',
  '-DCURL_DISABLE_DOH=ON',
  '-DCURL_DISABLE_NETRC=ON',
  '-DCURL_DISABLE_MIME=ON',
  '-DCURL_DISABLE_NTLM=ON',
  '-DCURL_DISABLE_PROGRESS_METER=ON',
  '-DCURL_CA_BUNDLE=none',
  '-DCURL_CA_PATH=none',
  '-DCURL_CA_FALLBACK=OFF',
];

// libusb: the Linux usbfs backend without libudev (devices are found in
// sysfs, hotplug through netlink), so the addon does not need libudev either.
const LIBUSB_OPTIONS = [
  '--disable-shared',
  '--enable-static',
  '--with-pic',
  '--disable-udev',
  '--disable-examples-build',
  '--disable-tests-build',
  '--disable-log',
];

function parseArgs(argv) {
  const o = { targets: Object.keys(TARGETS), jobs: Math.max(1, os.cpus().length) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--target') {
      o.targets = String(argv[++i] ?? '')
        .split(',')
        .filter(Boolean);
      for (const t of o.targets) if (!TARGETS[t]) fail(`unknown target ${t} (one of ${Object.keys(TARGETS).join(', ')})`);
    } else if (a === '--jobs') {
      o.jobs = Number(argv[++i]);
      if (!Number.isInteger(o.jobs) || o.jobs < 1) fail('--jobs takes a positive integer');
    } else {
      fail(`unknown argument ${a}\nusage: node scripts/prebuild.js [--target ${Object.keys(TARGETS).join(',')}] [--jobs N]`);
    }
  }
  return o;
}

function fail(msg) {
  console.error(`camwire prebuild: ${msg}`);
  process.exit(1);
}

function step(msg) {
  console.log(`camwire prebuild: ${msg}`);
}

/** Runs a command, its output to a log file; on failure shows the log's tail. */
function sh(cmd, args, { cwd, env, log }) {
  const fd = fs.openSync(log, 'a');
  fs.writeSync(fd, `\n$ ${cmd} ${args.join(' ')}\n`);
  const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  if (r.error || r.status !== 0) {
    const tail = fs.readFileSync(log, 'utf8').split('\n').slice(-40).join('\n');
    fail(`${cmd} ${args.slice(0, 3).join(' ')}… failed (${r.error ? r.error.message : `exit ${r.status}`}); the end of ${path.relative(root, log)}:\n${tail}`);
  }
  return r;
}

function capture(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) fail(`${cmd} ${args.join(' ')} failed: ${r.error ? r.error.message : r.stderr}`);
  return r.stdout;
}

/** Debian's source tree of a package in build-prebuild/src, patched (apt-get source). */
function debianSource(pkg, log) {
  const src = path.join(work, 'src');
  fs.mkdirSync(src, { recursive: true });
  const find = () => fs.readdirSync(src).find((d) => d.startsWith(`${pkg}-`) && fs.statSync(path.join(src, d)).isDirectory());
  let dir = find();
  if (!dir) {
    step(`fetching Debian's source of ${pkg} (apt-get source)`);
    const r = spawnSync('apt-get', ['source', '-qq', pkg], { cwd: src, encoding: 'utf8' });
    if (r.status !== 0)
      fail(`apt-get source ${pkg} failed: ${(r.stderr || '').trim()}\n  (it needs a deb-src entry and dpkg-dev: node scripts/provision.js prebuild adds both)`);
    fs.appendFileSync(log, r.stdout + r.stderr);
    dir = find();
    if (!dir) fail(`apt-get source ${pkg} left no ${pkg}-* directory in ${src}`);
  }
  return path.join(src, dir);
}

function toolchainFile(name, t, dir) {
  const file = path.join(dir, 'toolchain.cmake');
  const lines = [
    `# ${name}: written by scripts/prebuild.js`,
    `set(CMAKE_C_COMPILER ${t.triplet}-gcc)`,
    `set(CMAKE_CXX_COMPILER ${t.triplet}-g++)`,
    `set(CMAKE_LIBRARY_ARCHITECTURE ${t.triplet})`,
  ];
  if (t.cross) {
    lines.unshift(`set(CMAKE_SYSTEM_NAME Linux)`, `set(CMAKE_SYSTEM_PROCESSOR ${t.processor})`);
    // Configure checks that run a program do so under qemu-user.
    lines.push(`set(CMAKE_CROSSCOMPILING_EMULATOR ${t.qemu};-L;/usr/${t.triplet})`);
  }
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** Flags that keep this machine's paths out of the binaries. */
function prefixMap() {
  return `-ffile-prefix-map=${root}=. -ffile-prefix-map=${work}=build-prebuild`;
}

function buildLibusb(name, t, dir, prefix, src, jobs, log) {
  if (fs.existsSync(path.join(prefix, 'lib', 'libusb-1.0.a'))) return;
  step(`${name}: libusb from ${path.basename(src)}`);
  const b = path.join(dir, 'libusb');
  fs.rmSync(b, { recursive: true, force: true });
  fs.mkdirSync(b, { recursive: true });
  const env = { CC: `${t.triplet}-gcc`, CFLAGS: `-O2 -fPIC -fvisibility=hidden ${prefixMap()}` };
  sh(path.join(src, 'configure'), [`--host=${t.triplet}`, `--prefix=${prefix}`, ...LIBUSB_OPTIONS], { cwd: b, env, log });
  sh('make', [`-j${jobs}`], { cwd: b, env, log });
  sh('make', ['install'], { cwd: b, env, log });
}

function buildCurl(name, t, dir, prefix, src, toolchain, jobs, log) {
  if (fs.existsSync(path.join(prefix, 'lib', 'libcurl.a'))) return;
  step(`${name}: libcurl from ${path.basename(src)}`);
  const b = path.join(dir, 'curl');
  fs.rmSync(b, { recursive: true, force: true });
  sh(
    'cmake',
    [
      '-S',
      src,
      '-B',
      b,
      `-DCMAKE_TOOLCHAIN_FILE=${toolchain}`,
      '-DCMAKE_BUILD_TYPE=Release',
      `-DCMAKE_INSTALL_PREFIX=${prefix}`,
      '-DCMAKE_INSTALL_LIBDIR=lib',
      '-DCMAKE_POSITION_INDEPENDENT_CODE=ON',
      `-DCMAKE_C_FLAGS=-fvisibility=hidden ${prefixMap()}`,
      ...CURL_OPTIONS,
    ],
    { log },
  );
  sh('cmake', ['--build', b, '-j', String(jobs)], { log });
  sh('cmake', ['--install', b], { log });
}

function buildAddon(name, t, dir, prefix, toolchain, hash, jobs, log) {
  step(`${name}: the addon`);
  const out = path.join(dir, 'addon');
  fs.rmSync(out, { recursive: true, force: true });
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  const glib = [`/usr/include/umockdev-1.0`, `/usr/include/glib-2.0`, `/usr/lib/${t.triplet}/glib-2.0/include`];
  for (const d of glib)
    if (!fs.existsSync(d)) fail(`${d} is missing (node scripts/provision.js prebuild installs libumockdev-dev and libglib2.0-dev:${t.triplet})`);
  const defs = [
    `--CDCMAKE_TOOLCHAIN_FILE=${toolchain}`,
    `--CDCAMWIRE_DEPS_PREFIX=${prefix}`,
    `--CDCAMWIRE_SOURCE_HASH=${hash}`,
    `--CDCAMWIRE_UMOCKDEV_INCLUDE_DIRS=${glib.join(';')}`,
    '--CDCAMWIRE_BUILD_TESTS=OFF',
    `--CDCMAKE_CXX_FLAGS=${prefixMap()}`,
  ];
  const env = t.cross ? { PKG_CONFIG_LIBDIR: `/usr/lib/${t.triplet}/pkgconfig:/usr/share/pkgconfig` } : {};
  const common = ['--out', out, '--log-level', 'warn', ...defs];
  sh(process.execPath, [cmakeJs, 'configure', ...common], { cwd: root, env, log });
  sh(process.execPath, [cmakeJs, 'build', '--parallel', String(jobs), ...common], { cwd: root, env, log });
  return path.join(out, 'Release', 'camwire.node');
}

/** readelf's view of a prebuild: its machine and the libraries it needs. */
function inspect(file) {
  const header = capture('readelf', ['-h', file]);
  const machine = (/Machine:\s+(.+)/.exec(header) || [])[1]?.trim();
  const dynamic = capture('readelf', ['-d', file]);
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  return { machine, needed };
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const hash = sourceHash();
  fs.mkdirSync(work, { recursive: true });
  step(`sources ${hash}`);
  const made = [];
  for (const name of o.targets) {
    const t = TARGETS[name];
    const started = Date.now();
    const dir = path.join(work, name);
    fs.mkdirSync(dir, { recursive: true });
    const log = path.join(dir, 'build.log');
    fs.writeFileSync(log, `camwire prebuild ${name} ${new Date().toISOString()}\n`);
    const usbSrc = debianSource('libusb-1.0', log);
    const curlSrc = debianSource('curl', log);
    // The static libraries are kept between runs, keyed by what made them.
    const key = crypto
      .createHash('sha256')
      .update(JSON.stringify([t, usbSrc, curlSrc, LIBUSB_OPTIONS, CURL_OPTIONS, prefixMap()]))
      .digest('hex')
      .slice(0, 12);
    const prefix = path.join(dir, `deps-${key}`);
    const toolchain = toolchainFile(name, t, dir);
    buildLibusb(name, t, dir, prefix, usbSrc, o.jobs, log);
    buildCurl(name, t, dir, prefix, curlSrc, toolchain, o.jobs, log);
    const built = buildAddon(name, t, dir, prefix, toolchain, hash, o.jobs, log);

    const destDir = path.join(root, 'prebuilds', name);
    fs.rmSync(destDir, { recursive: true, force: true });
    fs.mkdirSync(destDir, { recursive: true });
    const dest = path.join(destDir, t.file);
    fs.copyFileSync(built, dest);
    sh(`${t.triplet}-strip`, ['--strip-unneeded', dest], { log });

    const { machine, needed } = inspect(dest);
    if (machine !== t.machine) fail(`${name}: readelf says the machine is ${machine}, not ${t.machine}`);
    const foreign = needed.filter((n) => !ALLOWED_NEEDED.some((re) => re.test(n)));
    if (foreign.length) fail(`${name}: the prebuild needs ${foreign.join(', ')}; only the C/C++ runtime is allowed`);
    const size = fs.statSync(dest).size;
    made.push({ name, file: path.relative(root, dest), size, seconds: (Date.now() - started) / 1000, needed });
    step(
      `${name}: wrote ${path.relative(root, dest)} (${(size / 1024).toFixed(0)} KiB, ${machine}, needs ${needed.join(' ')}) in ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
  }
  step(`done: ${made.map((m) => `${m.name} ${(m.size / 1024).toFixed(0)} KiB`).join(', ')}`);
}

module.exports = { TARGETS, ALLOWED_NEEDED, inspect };
if (require.main === module) main();
