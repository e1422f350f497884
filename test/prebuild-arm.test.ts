/**
 * The ARM prebuilds really run: each is loaded by Debian's own ARM nodejs
 * (from a debootstrap root of that architecture) under qemu-user, with every
 * symbol bound at load. probe() answers, an H.264 file is packaged to MKV
 * (checked by ffprobe here on the host), and a PTP/IP session lists the
 * simulated camera that this x64 process runs, and fetches its files
 * byte for byte.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { native } from '../ts/native';
import { PtpCamera } from '../ts/ptp';
import { makeClip, probe } from './helpers/h264';
import { ROOT, run } from './helpers/run';
import { tempDir } from './helpers/tmp';

const { TARGETS } = require('../scripts/prebuild.js') as { TARGETS: Record<string, { file: string; qemu?: string }> };
const { sourceHash } = require('../scripts/source-hash.js') as { sourceHash(): string };

const dir = tempDir('prebuild-arm');
const cache = path.join(process.env['XDG_CACHE_HOME'] ?? path.join(os.homedir(), '.cache'), 'camwire', 'roots');
const storage = path.join(dir, 'storage');
let cam: PtpCamera | undefined;
let port = 0;
let clip = '';

test.before(() => {
  fs.mkdirSync(storage, { recursive: true });
  fs.writeFileSync(path.join(storage, 'DSC00001.JPG'), crypto.randomBytes(300_001));
  fs.writeFileSync(path.join(storage, 'clip.mp4'), crypto.randomBytes(2_500_000));
  clip = makeClip(dir, { seconds: 4, fps: 30, gop: 30 }).file;
  cam = new PtpCamera({ storage, port: 0, manufacturer: 'camwire labs', model: 'SimCam x64' });
  port = cam.start().port;
});
test.after.always(() => cam?.stop());

const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

for (const [name, debArch] of [
  ['linux-arm64', 'arm64'],
  ['linux-arm', 'armhf'],
] as const) {
  test.serial(`${name}: Debian's ${debArch} Node under qemu loads the prebuild, packages H.264 as x64 does and lists the x64 camera over PTP/IP`, async (t) => {
    const target = TARGETS[name]!;
    const root = path.join(cache, `${debArch}-bookworm`);
    // Made once per machine (debootstrap's first stage, about a minute) and kept in the cache.
    const made = spawnSync('bash', [path.join(ROOT, 'scripts', 'foreign-root.sh'), debArch, root], { encoding: 'utf8', timeout: 600_000 });
    t.is(made.status, 0, `making the ${debArch} root: ${made.stderr}`);

    const out = path.join(dir, name);
    fs.mkdirSync(out);
    const mkv = path.join(out, 'clip.mkv');
    const addon = path.join(ROOT, 'prebuilds', name, target.file);
    const r = run(
      target.qemu!,
      ['-L', root, path.join(root, 'usr', 'bin', 'node'), path.join(ROOT, 'test', 'fixtures', 'prebuild-smoke.js'), addon, clip, mkv, String(port), out],
      { env: { ...process.env, LD_BIND_NOW: '1' } },
    );
    t.is(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout) as {
      arch: string;
      probe: { modules: string[]; dependencies: string; sourceHash: string; openssl: { runtime: string } };
      transport: { curl: string; ssl: string };
      frames: number;
      fragments: number;
      width: number;
      height: number;
      camera: { model: string };
      files: Array<{ name: string; size: number; got: number }>;
    };
    t.is(got.arch, debArch === 'arm64' ? 'arm64' : 'arm');
    t.deepEqual(got.probe.modules, ['kvs-mkv', 'kvs-producer', 'ptp-ip', 'ptp-usb', 'ptp-usb-virtual']);
    t.is(got.probe.dependencies, 'static');
    t.is(got.probe.sourceHash, sourceHash());
    t.regex(got.transport.ssl, /^OpenSSL\/3\./, 'libcurl runs on the OpenSSL of the ARM Node');

    // The MKV is byte for byte the one this x64 machine makes of the same clip (the start-code
    // search is vectorised per processor: NEON on AArch64, plain on 32-bit ARM), but for the
    // random segment UID.
    const here = await native().packageAnnexB(fs.readFileSync(clip), {
      fps: 30,
      fragmentDurationMs: 2000,
      absoluteTimecodes: false,
      startMs: 0,
      codec: 'auto',
    });
    const withoutUid = (b: Buffer) => {
      const at = b.indexOf(Buffer.from([0x73, 0xa4, 0x90]));
      return at < 0 ? b : Buffer.concat([b.subarray(0, at + 3), b.subarray(at + 19)]);
    };
    t.true(withoutUid(fs.readFileSync(mkv)).equals(withoutUid(here.mkv!)), `${name}'s MKV differs from x64's`);

    // The MKV, read by ffprobe on the host.
    t.is(got.frames, 120);
    t.is(got.fragments, 2);
    const p = probe(mkv);
    t.is(p.frames, 120);
    t.deepEqual(p.keyframes, [0, 30, 60, 90]);
    t.deepEqual([p.width, p.height], [320, 240]);

    // The camera, seen from the ARM side.
    t.is(got.camera.model, 'SimCam x64');
    t.deepEqual(got.files.map((f) => f.name).sort(), ['DSC00001.JPG', 'clip.mp4']);
    for (const f of got.files) {
      t.is(f.got, f.size);
      t.is(sha(path.join(out, f.name)), sha(path.join(storage, f.name)), `${f.name} byte for byte`);
    }
  });
}
