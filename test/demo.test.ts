/**
 * `camwire demo`, the README's main job, run as a user runs it: twice in a
 * row (nothing left behind, no port or file clash), with camwire's own
 * samples when ffmpeg is not wanted, with --keep (the printed ways in work:
 * mosquitto_sub and gphoto2), and broken on purpose (a wrong presigning
 * secret must fail it). The I_PCM H.264 the demo writes without ffmpeg is
 * checked by ffmpeg's decoder.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { runDemo } from '../ts/demo/run';
import { pcmH264 } from '../ts/kvs/pcm-h264';
import { CLI, camwire, run } from './helpers/run';
import { probe } from './helpers/h264';
import { tempDir } from './helpers/tmp';

const dir = tempDir('demo');

interface Step {
  step: string;
  ok: boolean;
  detail: string;
}
interface Summary {
  ok: boolean;
  steps: Step[];
  samples: string;
  uploads: Array<{ parts: number; verified: boolean; bytes: number }>;
  stream: { frames: number; fragmentsPersisted: number; fragmentsAtEndpoint: number };
}

/** The event lines (one JSON each), then the summary (pretty-printed JSON). */
function parse(stdout: string): { events: Array<Record<string, unknown>>; summary: Summary } {
  const start = stdout.indexOf('\n{\n');
  const events = stdout
    .slice(0, start)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { events, summary: JSON.parse(stdout.slice(start + 1)) as Summary };
}

const leftovers = (tmp: string) => fs.readdirSync(tmp).filter((f) => f.startsWith('camwire-demo-'));

test.serial('camwire demo exits 0 with every step checked, twice in a row, and removes its files', async (t) => {
  const tmp = path.join(dir, 'twice');
  fs.mkdirSync(tmp);
  for (const round of [1, 2]) {
    const r = camwire(['demo', '--json'], { env: { ...process.env, TMPDIR: tmp } });
    t.is(r.status, 0, `round ${round}: ${r.stderr}\n${r.stdout}`);
    const { events, summary } = parse(r.stdout);
    t.true(summary.ok);
    t.deepEqual(
      summary.steps.map((s) => [s.step, s.ok]),
      [
        ['identity', true],
        ['services', true],
        ['samples', true],
        ['app on MQTT', true],
        ['camera', true],
        ['app over PTP/IP', true],
        ['upload DSC00001.JPG', true],
        ['upload trailer.mp4', true],
        ['live video to KVS', true],
      ],
    );
    t.is(summary.samples, 'ffmpeg');
    t.deepEqual(
      summary.uploads.map((u) => [u.parts, u.verified]),
      [
        [1, true],
        [2, true],
      ],
    );
    t.is(summary.stream.frames, 300);
    t.true(summary.stream.fragmentsPersisted >= 5);
    t.is(summary.stream.fragmentsPersisted, summary.stream.fragmentsAtEndpoint);
    // The timeline shows the S3 side of the handover too.
    t.true(events.some((e) => e['event'] === 'note' && /S3 CompleteMultipartUpload .*trailer\.mp4 -> 200/.test(String(e['text']))));
    t.deepEqual(leftovers(tmp), []);
  }
});

test.serial('without ffmpeg the demo makes its own samples (BMP, I_PCM H.264) and still passes', async (t) => {
  const tmp = path.join(dir, 'own');
  fs.mkdirSync(tmp);
  const r = camwire(['demo', '--json', '--no-ffmpeg', '--stream-seconds', '3'], { env: { ...process.env, TMPDIR: tmp } });
  t.is(r.status, 0, r.stderr);
  const { summary } = parse(r.stdout);
  t.is(summary.samples, 'camwire');
  t.true(summary.steps.every((s) => s.ok));
  t.is(summary.stream.frames, 90);
  t.deepEqual(
    summary.uploads.map((u) => u.parts),
    [1, 2],
  );
  t.deepEqual(leftovers(tmp), []);
});

test.serial('a wrong presigning secret fails the demo at the step that used it, and it still cleans up', async (t) => {
  const tmp = path.join(dir, 'broken');
  fs.mkdirSync(tmp);
  const summary = await runDemo({ tmpDir: tmp, streamSeconds: 2, faults: { presignSecret: 'not-the-secret' } });
  t.false(summary.ok);
  const failed = summary.steps.filter((s) => !s.ok);
  t.is(failed.length, 1);
  t.is(failed[0]!.step, 'app over PTP/IP');
  t.regex(failed[0]!.detail, /SignatureDoesNotMatch/);
  t.deepEqual(leftovers(tmp), []);
  // A bad argument is refused before anything starts.
  const r = camwire(['demo', '--stream-seconds', '0']);
  t.is(r.status, 1);
  t.regex(r.stderr, /--stream-seconds: must be 1-600 seconds/);
});

test.serial('--keep leaves it running: mosquitto_sub sees the camera, gphoto2 lists it over PTP/IP; Ctrl-C ends it and removes the files', async (t) => {
  const tmp = path.join(dir, 'keep');
  fs.mkdirSync(tmp);
  const p = spawn(process.execPath, [CLI, 'demo', '--json', '--keep', '--stream-seconds', '2'], {
    env: { ...process.env, TMPDIR: tmp },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  p.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const exited = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
  const keep = await new Promise<
    Record<string, unknown> & { mqtt: { port: number; ca: string; cert: string; key: string }; ptp: { port: number }; dir: string }
  >((resolve, reject) => {
    const rl = readline.createInterface({ input: p.stdout });
    rl.on('line', (l) => {
      if (!l.startsWith('{"')) return;
      const e = JSON.parse(l) as Record<string, unknown>;
      if (e['event'] === 'keep') resolve(e as never);
      if (e['event'] === 'step' && e['ok'] === false) reject(new Error(`step failed: ${l}`));
    });
    void exited.then((c) => reject(new Error(`the demo exited (${c}) before --keep: ${stderr}`)));
  });
  t.true(fs.existsSync(keep.dir));
  const sub = await new Promise<string>((resolve) => {
    const s = spawn('mosquitto_sub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(keep.mqtt.port),
      '--cafile',
      keep.mqtt.ca,
      '--cert',
      keep.mqtt.cert,
      '--key',
      keep.mqtt.key,
      '-i',
      'camwire-demo-watch',
      '-t',
      'cameras/+/status',
      '-v',
      '-C',
      '1',
      '-W',
      '10',
    ]);
    let out = '';
    s.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    s.on('close', () => resolve(out.trim()));
  });
  t.is(sub, 'cameras/camwire-demo-cam/status online');
  const home = path.join(tmp, 'home');
  fs.mkdirSync(home);
  const g = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const s = spawn('gphoto2', ['--port', `ptpip:127.0.0.1:${keep.ptp.port}:${keep.ptp.port}`, '--list-files'], { env: { ...process.env, HOME: home } });
    let out = '';
    s.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    s.on('close', (code) => resolve({ code, out }));
  });
  t.is(g.code, 0);
  t.regex(g.out, /DSC00001\.JPG[\s\S]*trailer\.mp4/);
  p.kill('SIGINT');
  t.is(await exited, 0, stderr);
  t.false(fs.existsSync(keep.dir));
});

test.serial('--keep prints commands that run exactly as printed, with camwire not on PATH (as after npm install in a clone)', async (t) => {
  const tmp = path.join(dir, 'keep-commands');
  fs.mkdirSync(tmp);
  const p = spawn(process.execPath, [CLI, 'demo', '--json', '--keep', '--stream-seconds', '2'], {
    env: { ...process.env, TMPDIR: tmp },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  p.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const exited = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
  t.teardown(() => {
    if (p.exitCode === null) p.kill('SIGINT');
  });
  const keep = await new Promise<{ commands: string[]; s3: { bucket: string } }>((resolve, reject) => {
    const rl = readline.createInterface({ input: p.stdout });
    rl.on('line', (l) => {
      if (!l.startsWith('{"')) return;
      const e = JSON.parse(l) as Record<string, unknown>;
      if (e['event'] === 'keep') resolve(e as never);
    });
    void exited.then((c) => reject(new Error(`the demo exited (${c}) before --keep: ${stderr}`)));
  });
  t.not(run('sh', ['-c', 'command -v camwire']).status, 0, 'camwire is not on PATH here');
  const cwd = path.join(tmp, 'cwd');
  const home = path.join(tmp, 'home');
  fs.mkdirSync(cwd);
  fs.mkdirSync(home);
  const sh = (cmd: string) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const s = spawn('bash', ['-c', cmd], { cwd, env: { ...process.env, HOME: home } });
      let out = '';
      s.stdout.on('data', (b: Buffer) => {
        out += b.toString();
      });
      s.stderr.on('data', (b: Buffer) => {
        out += b.toString();
      });
      s.on('close', (code) => resolve({ code, out }));
    });
  const [watch, gphoto, ls, presign, pub, aws, kvs] = keep.commands;
  t.is(keep.commands.length, 7);
  t.regex(ls!, /^node \/\S+\/bin\/camwire\.js ptp ls/, 'the absolute path of bin/camwire.js, not a bare camwire');
  // The subscriber runs until stopped: 4 s of it must show the camera's retained status.
  const w = await sh(`timeout -s INT 4 ${watch!}`);
  t.regex(w.out, /cameras\/camwire-demo-cam\/status online/);
  for (const [cmd, expect] of [
    [gphoto, /DSC00001\.JPG/],
    [ls, /DSC00001\.JPG/],
    [presign, /^$/],
    [pub, /^$/],
  ] as const) {
    const r = await sh(cmd!);
    t.is(r.code, 0, `${cmd}\n${r.out}`);
    t.regex(r.out, expect, cmd);
  }
  t.true(fs.existsSync(path.join(cwd, 'target.json')));
  // The target went over MQTT to the camera, which uploads it: the aws CLI sees it.
  let listing = '';
  for (let i = 0; i < 40 && !/again\//.test(listing); i++) {
    const r = await sh(aws!);
    t.is(r.code, 0, r.out);
    listing = r.out;
    if (!/again\//.test(listing)) await new Promise((res) => setTimeout(res, 250));
  }
  t.regex(listing, /devices\/camwire-demo-cam\/again\/DSC00001\.JPG/);
  const k = await sh(kvs!);
  t.is(k.code, 0, k.out);
  p.kill('SIGINT');
  t.is(await exited, 0, stderr);
});

test.serial('Ctrl-C during the checks ends the demo: exit 1 with DEMO_INTERRUPTED, services stopped, temp files (keys too) removed', async (t) => {
  const tmp = path.join(dir, 'interrupted');
  fs.mkdirSync(tmp);
  const p = spawn(process.execPath, [CLI, 'demo', '--json', '--stream-seconds', '60'], {
    env: { ...process.env, TMPDIR: tmp },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  p.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const exited = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    p.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      if (stdout.includes('"step":"camera","ok":true')) resolve();
    });
    void exited.then((c) => reject(new Error(`exited (${c}) before the camera step: ${stderr}`)));
  });
  t.is(leftovers(tmp).length, 1);
  p.kill('SIGINT');
  t.is(await exited, 1);
  t.regex(stdout, /DEMO_INTERRUPTED/);
  t.deepEqual(leftovers(tmp), []);
});

test('the I_PCM H.264 writer makes a stream ffmpeg decodes without errors: frame count, key frames, size', (t) => {
  const file = path.join(dir, 'pcm.h264');
  fs.writeFileSync(file, pcmH264({ width: 176, height: 144, fps: 25, frames: 60, gop: 25 }));
  const decode = run('ffmpeg', ['-v', 'error', '-xerror', '-i', file, '-f', 'null', '-']);
  t.is(decode.status, 0, decode.stderr);
  t.is(decode.stderr, '');
  const p = probe(file);
  t.is(p.frames, 60);
  t.deepEqual(p.keyframes, [0, 25, 50]);
  t.deepEqual([p.width, p.height], [176, 144]);
  t.throws(() => pcmH264({ width: 100, height: 144, fps: 25, frames: 1 }), { message: /multiples of 16/ });
  // Fractional rates are exact in the VUI timing.
  const ntsc = path.join(dir, 'ntsc.h264');
  fs.writeFileSync(ntsc, pcmH264({ width: 32, height: 32, fps: 29.97, frames: 3 }));
  t.is(run('ffprobe', ['-v', 'error', '-show_entries', 'stream=r_frame_rate', '-of', 'default=nw=1:nk=1', ntsc]).stdout.trim(), '2997/100');
});
