/**
 * What a user gets from `npm pack`: the tarball carries dist/ and a prebuild,
 * and installs into an empty project on a machine without build tools
 * (cmake, make, g++ hidden from PATH) with a working addon.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { run } from './helpers/run';
import { tempDir } from './helpers/tmp';

const work = tempDir('pack');

/** A PATH with node, npm and a shell only. */
function bareBin(): string {
  const bin = path.join(work, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  for (const tool of ['node', 'npm', 'npx', 'sh']) {
    const which = run('sh', ['-c', `command -v ${tool}`]);
    if (which.status !== 0) throw new Error(`${tool} not found`);
    fs.symlinkSync(which.stdout.trim(), path.join(bin, tool));
  }
  return bin;
}

test('npm pack → install with no build tools → the addon loads from the prebuild', (t) => {
  // npm test has built dist/; the prebuilds are committed. Packing must not rebuild anything under running tests.
  const packed = run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work]);
  t.is(packed.status, 0, packed.stderr);
  const info = (JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>)[0]!;
  const files = info.files.map((f) => f.path);
  for (const f of [
    'dist/index.js',
    'dist/index.d.ts',
    'dist/cli/main.js',
    'bin/camwire.js',
    'prebuilds/linux-x64/node.napi.glibc.node',
    'prebuilds/linux-arm64/node.napi.armv8.glibc.node',
    'prebuilds/linux-arm/node.napi.armv7.glibc.node',
    'scripts/source-hash.js',
    'scripts/install.js',
    'CMakeLists.txt',
  ]) {
    t.true(files.includes(f), `${f} is in the tarball`);
  }
  t.false(
    files.some((f) => f.startsWith('test/') || f.startsWith('build/') || f.startsWith('ts/')),
    'no tests, build tree or TS sources',
  );

  const bin = bareBin();
  // npm's own settings pass through (its registry, its CA file: a fresh root gets them only from the
  // environment, and an npm without them retries the registry for minutes); build tools do not.
  const npmSettings = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => /^(npm_config_(registry|cafile|ca|strict_ssl|proxy|https_proxy|noproxy)|https?_proxy|no_proxy)$/i.test(k)),
  );
  const env = {
    ...npmSettings,
    HOME: process.env['HOME'] ?? work,
    PATH: bin,
    npm_config_cache: process.env['npm_config_cache'] ?? path.join(process.env['HOME'] ?? work, '.npm'),
  };
  t.not(run('sh', ['-c', 'command -v cmake || command -v g++ || command -v make'], { env }).status, 0, 'build tools are hidden');

  const app = path.join(work, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  // Minutes, not seconds, on a machine whose npm cache is cold (a fresh root).
  const inst = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(work, info.filename)], { cwd: app, env, timeoutMs: 600_000 });
  t.is(inst.status, 0, inst.stdout + inst.stderr);

  // The install hook, run the way npm runs it, picks the prebuild and builds nothing.
  const pkgDir = path.join(app, 'node_modules', 'camwire');
  const hook = run('node', ['scripts/install.js'], { cwd: pkgDir, env });
  t.is(hook.status, 0, hook.stdout + hook.stderr);
  t.regex(hook.stdout, /using prebuild prebuilds\/linux-x64\/node\.napi\.glibc\.node/);
  t.false(fs.existsSync(path.join(pkgDir, 'build')));

  const probe = run('npx', ['camwire', '--json', 'probe'], { cwd: app, env });
  t.is(probe.status, 0, probe.stderr);
  const p = JSON.parse(probe.stdout) as { file: string; coreCxxStandard: string };
  t.is(p.file, path.join(pkgDir, 'prebuilds', 'linux-x64', 'node.napi.glibc.node'));
  const lib = run('node', ['-e', 'const c = require("camwire"); console.log(c.native().probe().version, typeof c.CertificateAuthority)'], { cwd: app, env });
  t.is(lib.status, 0, lib.stderr);
  t.regex(lib.stdout, /^0\.\d+\.\d+ function/);
  // The stand-ins come from camwire/local only; the back end's presigners keep their documented deep paths.
  const subpaths = run(
    'node',
    [
      '-e',
      [
        'const c = require("camwire"), l = require("camwire/local");',
        'const p = require("camwire/dist/upload/presign"), q = require("camwire/dist/upload/cos.js");',
        'console.log([typeof l.LocalBroker, typeof l.LocalS3Store, typeof l.LocalKvsEndpoint, typeof c.LocalBroker, typeof c.LocalS3Store, typeof p.presignPut, typeof q.presignCosPut, require("camwire/package.json").name].join(" "))',
      ].join(' '),
    ],
    { cwd: app, env },
  );
  t.is(subpaths.status, 0, subpaths.stderr);
  t.is(subpaths.stdout.trim(), 'function function function undefined undefined function function camwire');

  // Without a prebuild and without tools, the hook names what is missing.
  fs.rmSync(path.join(pkgDir, 'prebuilds'), { recursive: true });
  const noTools = run('node', ['scripts/install.js'], { cwd: pkgDir, env });
  t.is(noTools.status, 1);
  t.regex(noTools.stderr, /Missing: cmake \(apt-get install cmake\); a C\+\+17 compiler \(apt-get install g\+\+\); make or ninja/);
  const missing = run('node', ['-e', 'require("camwire").native()'], { cwd: app, env });
  t.not(missing.status, 0);
  t.regex(missing.stderr, /NATIVE_NOT_FOUND|no camwire native addon/);
});
