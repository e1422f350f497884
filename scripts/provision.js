#!/usr/bin/env node
// Checks every tool and library that a profile needs and, on Debian or Ubuntu
// as root (or with password-less sudo), installs the missing ones with one
// apt-get line that it prints first. Anywhere else it stops at once, naming
// that line. `npm test` runs `provision.js test` before it builds anything;
// `npm run prebuild` runs `provision.js prebuild`, `npm run bench`
// `provision.js bench`.
//
//   node scripts/provision.js test|prebuild|bench [--check]
//     --check   report only, never install (exit 1 when something is missing)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const cmd = (name) => ({ cmd: name });
const file = (p) => ({ file: p });
const pc = (module, arch) => ({ pkgconfig: module, arch });
const glob = (dir, re) => ({ dir, re });

// [Debian package, how to tell it is there, what it is for]
const BUILD = [
  ['cmake', cmd('cmake'), 'the native build'],
  ['g++', cmd('g++'), 'the native build'],
  ['make', cmd('make'), 'the native build'],
  ['pkg-config', cmd('pkg-config'), 'the native build'],
  ['libssl-dev', file('/usr/include/openssl/opensslv.h'), "OpenSSL headers (the addon binds to Node's own OpenSSL)"],
  ['libusb-1.0-0-dev', file('/usr/include/libusb-1.0/libusb.h'), 'the USB transport'],
  ['libcurl4-openssl-dev', pc('libcurl'), 'PutMedia'],
  ['libumockdev-dev', pc('umockdev-1.0'), 'the virtual USB camera glue'],
];
const TEST = [
  ...BUILD,
  ['libgtest-dev', file('/usr/include/gtest/gtest.h'), 'the C++ unit tests'],
  ['clang', cmd('clang++'), 'the libFuzzer targets'],
  ['clang-format', cmd('clang-format'), 'the C++ formatter (npm run lint)'],
  ['libclang-rt-14-dev', glob('/usr/lib/llvm-14/lib/clang', /libclang_rt\.fuzzer-x86_64\.a$/), 'the libFuzzer runtime'],
  ['openssl', cmd('openssl'), 'certificates in tests'],
  ['ca-certificates', file('/etc/ssl/certs/ca-certificates.crt'), 'TLS roots'],
  ['mosquitto', file('/usr/sbin/mosquitto'), 'the MQTT broker peer'],
  ['mosquitto-clients', cmd('mosquitto_pub'), 'MQTT client peers'],
  ['swift', cmd('swift-ring-builder'), 'OpenStack Swift (S3 API peer)'],
  ['swift-proxy', cmd('swift-proxy-server'), 'OpenStack Swift'],
  ['swift-object', cmd('swift-object-server'), 'OpenStack Swift'],
  ['swift-account', cmd('swift-account-server'), 'OpenStack Swift'],
  ['swift-container', cmd('swift-container-server'), 'OpenStack Swift'],
  ['python3-swift', file('/usr/lib/python3/dist-packages/swift/__init__.py'), 'OpenStack Swift'],
  ['memcached', cmd('memcached'), "Swift's proxy cache"],
  ['awscli', cmd('aws'), "the aws CLI against the demo's S3 store (demo --keep commands)"],
  ['python3-boto3', file('/usr/lib/python3/dist-packages/boto3/__init__.py'), 'botocore presigns the bare PUT URLs camwire uploads to'],
  ['python3-paho-mqtt', file('/usr/lib/python3/dist-packages/paho/mqtt/client.py'), 'paho-mqtt 1.6: the Python camera of the test bench (testbench_device.py)'],
  ['ffmpeg', cmd('ffprobe'), 'ffmpeg/ffprobe check every MKV'],
  ['gphoto2', cmd('gphoto2'), 'the PTP initiator peer'],
  ['umockdev', cmd('umockdev-run'), 'the virtual USB camera'],
  ['binutils', cmd('readelf'), 'prebuild checks'],
  ['qemu-user-static', cmd('qemu-aarch64-static'), 'running the ARM prebuilds'],
  ['debootstrap', cmd('debootstrap'), 'ARM roots with an ARM Node for the prebuild smoke test'],
];
const CROSS = [
  ['crossbuild-essential-arm64', cmd('aarch64-linux-gnu-g++'), 'the linux-arm64 prebuild'],
  ['crossbuild-essential-armhf', cmd('arm-linux-gnueabihf-g++'), 'the linux-arm prebuild'],
  ['libssl-dev:arm64', file('/usr/include/aarch64-linux-gnu/openssl/opensslconf.h'), 'OpenSSL headers for arm64'],
  ['libssl-dev:armhf', file('/usr/include/arm-linux-gnueabihf/openssl/opensslconf.h'), 'OpenSSL headers for armhf'],
  ['libglib2.0-dev:arm64', file('/usr/lib/aarch64-linux-gnu/glib-2.0/include/glibconfig.h'), 'GLib config for the umockdev glue (arm64)'],
  ['libglib2.0-dev:armhf', file('/usr/lib/arm-linux-gnueabihf/glib-2.0/include/glibconfig.h'), 'GLib config for the umockdev glue (armhf)'],
];
const PREBUILD = [
  ...BUILD,
  ['libglib2.0-dev', file('/usr/lib/x86_64-linux-gnu/glib-2.0/include/glibconfig.h'), 'GLib config for the umockdev glue'],
  ['dpkg-dev', cmd('dpkg-source'), "unpacking Debian's curl and libusb sources"],
  ['binutils', cmd('readelf'), 'checking each prebuild'],
  ['qemu-user-static', cmd('qemu-aarch64-static'), 'configure checks of the ARM builds'],
  ...CROSS,
];
const BENCH = [
  ...TEST,
  ['nginx', file('/usr/sbin/nginx'), 'the WebDAV PUT sink of bench/upload.ts (started on 127.0.0.1 by the bench itself)'],
  ['mkvtoolnix', cmd('mkvmerge'), 'a second packaging peer in bench/ingest.ts'],
];
const PROFILES = { test: TEST, prebuild: PREBUILD, bench: BENCH };

const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

function onPath(name) {
  const dirs = [...(process.env.PATH || '').split(path.delimiter), ...SBIN];
  return dirs.some((d) => {
    if (!d) return false;
    try {
      fs.accessSync(path.join(d, name), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function findIn(dir, re, depth = 6) {
  if (depth < 0) return false;
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  return entries.some((e) => (e.isDirectory() ? findIn(path.join(dir, e.name), re, depth - 1) : re.test(e.name)));
}

function present(probe) {
  if (probe.cmd) return onPath(probe.cmd);
  if (probe.file) return fs.existsSync(probe.file);
  if (probe.dir) return findIn(probe.dir, probe.re);
  if (probe.pkgconfig) return onPath('pkg-config') && spawnSync('pkg-config', ['--exists', probe.pkgconfig]).status === 0;
  throw new Error(`provision: unknown probe ${JSON.stringify(probe)}`);
}

/** The missing Debian packages of a profile, each once, in table order. */
function missingPackages(profile) {
  const seen = new Set();
  const out = [];
  for (const [pkg, probe, why] of PROFILES[profile]) {
    if (seen.has(pkg)) continue;
    seen.add(pkg);
    if (!present(probe)) out.push({ pkg, why });
  }
  return out;
}

function run(cmdline, args, opts = {}) {
  console.log(`camwire provision: ${[cmdline, ...args].join(' ')}`);
  const r = spawnSync(cmdline, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, ...opts });
  return r.status === 0;
}

/** Foreign architectures and a deb-src entry, for the prebuild profile. */
function aptSetup(sudo, profile, missing) {
  if (profile !== 'prebuild') return true;
  const have = spawnSync('dpkg', ['--print-foreign-architectures'], { encoding: 'utf8' }).stdout || '';
  for (const arch of ['arm64', 'armhf']) {
    if (missing.some((m) => m.pkg.endsWith(`:${arch}`)) && !have.split('\n').includes(arch)) {
      if (!run(...withSudo(sudo, 'dpkg', ['--add-architecture', arch]))) return false;
    }
  }
  // apt-get source needs deb-src lines: add them beside Debian's own sources.
  const srcList = '/etc/apt/sources.list.d/camwire-deb-src.sources';
  const sourcesText = ['/etc/apt/sources.list', ...listDir('/etc/apt/sources.list.d')].map(read).join('\n');
  if (!/^\s*(deb-src\s|Types:.*\bdeb-src\b)/m.test(sourcesText) && !fs.existsSync(srcList)) {
    const codename = (read('/etc/os-release').match(/^VERSION_CODENAME=(.+)$/m) || [])[1] || 'bookworm';
    const body = `Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: ${codename} ${codename}-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb-src\nURIs: http://deb.debian.org/debian-security\nSuites: ${codename}-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`;
    console.log(`camwire provision: adding ${srcList} (deb-src, for apt-get source curl libusb-1.0)`);
    const r = spawnSync(...withSudo(sudo, 'tee', [srcList]), { input: body, stdio: ['pipe', 'ignore', 'inherit'] });
    if (r.status !== 0) return false;
  }
  return true;
}

function listDir(d) {
  try {
    return fs.readdirSync(d).map((f) => path.join(d, f));
  } catch {
    return [];
  }
}

function read(f) {
  try {
    return fs.readFileSync(f, 'utf8');
  } catch {
    return '';
  }
}

function withSudo(sudo, c, args) {
  return sudo ? ['sudo', ['-n', c, ...args]] : [c, args];
}

function main() {
  const args = process.argv.slice(2);
  const profile = args.find((a) => !a.startsWith('--'));
  if (!profile || !PROFILES[profile]) {
    console.error(`usage: node scripts/provision.js ${Object.keys(PROFILES).join('|')} [--check]`);
    return 2;
  }
  const checkOnly = args.includes('--check');
  const missing = missingPackages(profile);
  if (!missing.length) {
    console.log(`camwire provision: everything ${profile} needs is installed`);
    return 0;
  }
  const line = `apt-get install -y ${missing.map((m) => m.pkg).join(' ')}`;
  const list = missing.map((m) => `  ${m.pkg.padEnd(28)} ${m.why}`).join('\n');
  const debian = fs.existsSync('/etc/debian_version') && (onPath('apt-get') || fs.existsSync('/usr/bin/apt-get'));
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const sudo = !root && onPath('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  if (checkOnly || !debian || (!root && !sudo)) {
    const why = checkOnly ? '' : !debian ? ' (not a Debian/Ubuntu system: install the equivalents)' : ' (not root and no password-less sudo)';
    console.error(`camwire provision: ${profile} needs packages that are not installed${why}:\n${list}\nInstall them with:\n  ${root ? '' : 'sudo '}${line}`);
    return 1;
  }
  console.log(`camwire provision: ${profile} needs:\n${list}`);
  const setup = aptSetup(sudo, profile, missing);
  if (!setup) return 1;
  if (!run(...withSudo(sudo, 'apt-get', ['update', '-qq']))) return 1;
  // Recommended packages stay on: the Swift and Mosquitto recipes were proven that way.
  if (!run(...withSudo(sudo, 'apt-get', ['install', '-y', '-qq', ...missing.map((m) => m.pkg)]))) return 1;
  const still = missingPackages(profile);
  if (still.length) {
    console.error(`camwire provision: still missing after apt-get: ${still.map((m) => m.pkg).join(' ')}`);
    return 1;
  }
  return 0;
}

module.exports = { PROFILES, missingPackages };
if (require.main === module) process.exit(main());
