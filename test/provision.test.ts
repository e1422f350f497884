/**
 * `npm test` provisions itself (scripts/provision.js): on this machine, which
 * npm test has provisioned, nothing is missing; on a machine where tools are
 * missing and nobody may install them it stops within seconds and prints the
 * one apt-get line that would; `npm test` runs it before it builds anything.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, run } from './helpers/run';
import { tempDir } from './helpers/tmp';

const script = path.join(ROOT, 'scripts', 'provision.js');
const dir = tempDir('provision');

test('everything the tests need is installed here (npm test provisioned it)', (t) => {
  const r = run(process.execPath, [script, 'test', '--check']);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /everything test needs is installed/);
});

test('a user who cannot install gets the missing packages and the one apt-get line, within seconds', (t) => {
  // Not root, no sudo, and a PATH with node alone: cmake, g++, make, pkg-config, ffmpeg, ... are "missing".
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  // A copy the user nobody can read (the checkout may sit in root's home); it needs only Node's built-ins.
  const copy = path.join(dir, 'provision.js');
  fs.copyFileSync(script, copy);
  fs.chmodSync(dir, 0o755);
  fs.chmodSync(copy, 0o644);
  // "Stops within seconds": the run is killed after 10 s, and a killed run has no exit status of 1.
  const r = run('/usr/bin/setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', path.join(bin, 'node'), copy, 'test'], {
    env: { PATH: bin, HOME: dir },
    timeoutMs: 10_000,
  });
  t.is(r.status, 1, r.stdout + r.stderr);
  t.regex(r.stderr, /not root and no password-less sudo/);
  const line = /sudo (apt-get install -y .+)$/m.exec(r.stderr);
  t.truthy(line, r.stderr);
  const pkgs = line![1]!.split(' ').slice(3);
  for (const p of ['cmake', 'g++', 'make', 'pkg-config', 'ffmpeg', 'gphoto2', 'mosquitto-clients', 'clang']) t.true(pkgs.includes(p), `${p} in ${line![1]}`);
  // What is really there (found by file, not on PATH) is not asked for.
  t.false(pkgs.includes('libssl-dev'), line![1]);
  t.false(pkgs.includes('mosquitto'), line![1]);
  t.is(new Set(pkgs).size, pkgs.length, 'each package once');
});

test('npm test, npm run prebuild and npm run bench provision first', (t) => {
  const pkg = require('../package.json') as { scripts: Record<string, string> };
  t.regex(pkg.scripts['test']!, /^node scripts\/provision\.js test && npm run compile/);
  t.regex(pkg.scripts['prebuild']!, /^node scripts\/provision\.js prebuild && node scripts\/prebuild\.js/);
  t.regex(pkg.scripts['bench']!, /^node scripts\/provision\.js bench && node --import tsx bench\//);
});
