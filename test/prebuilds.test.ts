/**
 * The committed prebuilds (prebuilds/linux-x64, linux-arm64, linux-arm):
 * built from exactly this checkout's native sources, for the right machine,
 * self-contained (no libcurl, libusb or libssl needed), found by the loader
 * as node-gyp-build finds them, and working from this x64 Node with every
 * symbol bound at load: probe, the virtual USB camera listed over the
 * prebuild's own libusb, and the whole `camwire demo`.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { CLI, ROOT, run } from './helpers/run';
import { tempDir } from './helpers/tmp';

interface Target {
  triplet: string;
  file: string;
  machine: string;
}
const { TARGETS, ALLOWED_NEEDED, inspect } = require('../scripts/prebuild.js') as {
  TARGETS: Record<string, Target>;
  ALLOWED_NEEDED: RegExp[];
  inspect(file: string): { machine: string; needed: string[] };
};
const { checkPrebuilds, stampOf } = require('../scripts/check-prebuilds.js') as {
  checkPrebuilds(dir?: string): { hash: string; problems: string[] };
  stampOf(file: string): string | undefined;
};
const { sourceHash, INPUTS } = require('../scripts/source-hash.js') as { sourceHash(dir?: string): string; INPUTS: string[] };

const dir = tempDir('prebuilds');
const x64 = path.join(ROOT, 'prebuilds', 'linux-x64', TARGETS['linux-x64']!.file);

test("every committed prebuild was built from this checkout's native sources", (t) => {
  const { hash, problems } = checkPrebuilds();
  t.deepEqual(problems, [], `${problems.join('\n')}\nRebuild with \`npm run prebuild\` and commit prebuilds/ (docs/prebuilds.md).`);
  t.regex(hash, /^[0-9a-f]{64}$/);
});

test('the staleness check fails when a native source changes and the prebuilds do not', (t) => {
  // A copy of the package's native inputs and its prebuilds, then one byte of cpp/ changed.
  const copy = path.join(dir, 'stale');
  for (const rel of [...INPUTS, 'prebuilds']) fs.cpSync(path.join(ROOT, rel), path.join(copy, rel), { recursive: true });
  t.deepEqual(checkPrebuilds(copy).problems, [], 'an exact copy is fresh');
  const file = path.join(copy, 'cpp', 'ptp', 'ptpip.cc');
  fs.appendFileSync(file, '\n// a change\n');
  const { problems } = checkPrebuilds(copy);
  t.is(problems.length, Object.keys(TARGETS).length, problems.join('\n'));
  for (const p of problems) t.regex(p, /was built from sources [0-9a-f]{12}…, the checkout's are [0-9a-f]{12}…/);
  t.not(sourceHash(copy), sourceHash(), 'the hash covers cpp/');
  // The CLI form says what to do.
  const r = run(process.execPath, [path.join(ROOT, 'scripts', 'check-prebuilds.js'), copy]);
  t.is(r.status, 1);
  t.regex(r.stderr, /npm run prebuild/);
});

for (const [name, target] of Object.entries(TARGETS)) {
  test(`${name}: prebuildify's layout, an ${target.machine} ELF, needing only the C/C++ runtime`, (t) => {
    const file = path.join(ROOT, 'prebuilds', name, target.file);
    t.true(fs.existsSync(file), `${file} exists`);
    const { machine, needed } = inspect(file);
    t.is(machine, target.machine);
    t.deepEqual(
      needed.filter((n) => !ALLOWED_NEEDED.some((re) => re.test(n))),
      [],
      `needs ${needed.join(', ')}`,
    );
    t.false(
      needed.some((n) => /curl|usb|ssl|crypto|udev/.test(n)),
      `needs ${needed.join(', ')}`,
    );
    t.true(needed.includes('libc.so.6'));
    t.regex(stampOf(file) ?? '', /^[0-9a-f]{64}$/);
  });
}

test('node-gyp-build picks the glibc x64 prebuild when build/ is out of the way', (t) => {
  const r = run(process.execPath, ['-e', `process.stdout.write(require('node-gyp-build').path(${JSON.stringify(ROOT)}))`], {
    env: { ...process.env, PREBUILDS_ONLY: '1' },
  });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, x64);
});

const bound = { ...process.env, PREBUILDS_ONLY: '1', LD_BIND_NOW: '1' };

test('the x64 prebuild loads with every symbol bound (OpenSSL from Node) and probe shows what it is', (t) => {
  const r = run(process.execPath, [CLI, '--json', 'probe'], { env: bound });
  t.is(r.status, 0, r.stderr);
  const p = JSON.parse(r.stdout) as {
    file: string;
    modules: string[];
    dependencies: string;
    sourceHash: string;
    sourcesMatch: boolean;
    openssl: { runtime: string };
    libcurl: { runtime: string };
  };
  t.is(p.file, x64);
  t.deepEqual(p.modules, ['kvs-mkv', 'kvs-producer', 'ptp-ip', 'ptp-usb', 'ptp-usb-virtual']);
  t.is(p.dependencies, 'static');
  t.is(p.sourceHash, sourceHash());
  t.true(p.sourcesMatch);
  t.true(p.openssl.runtime.startsWith(`OpenSSL ${process.versions.openssl} `), p.openssl.runtime);
  t.regex(p.libcurl.runtime, /^\d+\.\d+\.\d+/);
  const human = run(process.execPath, [CLI, 'probe'], { env: bound });
  t.regex(human.stdout, /libcurl {2}\S+, inside the addon/);
  t.regex(human.stdout, /sources {2}[0-9a-f]{64} \(the package's cpp\/ and binding\/\)/);
});

test("the x64 prebuild's own libusb (no udev) lists the virtual USB camera", (t) => {
  const storage = path.join(dir, 'usb-storage');
  fs.mkdirSync(path.join(storage, 'DCIM'), { recursive: true });
  fs.writeFileSync(path.join(storage, 'DCIM', 'IMG_0001.JPG'), Buffer.alloc(4321, 7));
  const r = run(process.execPath, [CLI, 'ptp', 'serve', '--usb', '--storage', storage, '--', process.execPath, CLI, '--json', 'ptp', 'ls', '--to', 'usb'], {
    env: bound,
  });
  t.is(r.status, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /IMG_0001\.JPG/);
  t.regex(r.stdout, /4321/);
});

test('camwire demo passes on the x64 prebuild', (t) => {
  const r = run(process.execPath, [CLI, '--json', 'demo', '--stream-seconds', '4'], { env: bound });
  t.is(r.status, 0, r.stdout + r.stderr);
  const summary = JSON.parse(r.stdout.slice(r.stdout.indexOf('\n{\n') + 1)) as {
    ok: boolean;
    steps: Array<{ ok: boolean }>;
    stream: { fragmentsPersisted: number; fragmentsAtEndpoint: number };
  };
  t.true(summary.ok);
  t.true(summary.steps.every((s) => s.ok));
  t.true(summary.stream.fragmentsPersisted >= 1);
  t.is(summary.stream.fragmentsPersisted, summary.stream.fragmentsAtEndpoint);
});
