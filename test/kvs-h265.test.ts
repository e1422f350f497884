/**
 * H.265 end to end: libx265 output packaged by camwire (offline and by the
 * live producer), read back by ffprobe/ffmpeg, and streamed through PutMedia
 * into the SigV4-checking local endpoint with every fragment acknowledged.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { KvsStream, packageAnnexB } from '../ts/kvs';
import { LocalKvsEndpoint } from '../ts/local';
import { frameMd5s, makeHevcClip, probe, Clip } from './helpers/h264';
import { camwireAsync, CLI } from './helpers/run';
import { tempDir } from './helpers/tmp';

const dir = tempDir('kvs-h265');
const creds = { accessKeyId: 'AKIDHEVC', secretAccessKey: 'hevc-secret' };
let clip: Clip;
let ep: LocalKvsEndpoint;

test.before(async () => {
  clip = makeHevcClip(dir, { frames: 300, fps: 30, gop: 30, size: '640x360' });
  ep = new LocalKvsEndpoint({ dir: path.join(dir, 'kvs'), credentials: [creds], region: 'eu-west-1' });
  await ep.start();
});
test.after.always(() => ep?.stop());

const cli = (args: string[], env: NodeJS.ProcessEnv = process.env) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env });
const env = () => ({ ...process.env, AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey });

test('camwire kvs stream --out: ffprobe reads 300 H.265 frames with 10 key frames, and every decoded frame equals the raw stream', (t) => {
  t.is(clip.frames.length, 300);
  for (const codec of ['auto', 'h265']) {
    const out = path.join(dir, `offline-${codec}.mkv`);
    const r = cli(['--json', 'kvs', 'stream', '--input', clip.file, '--out', out, '--codec', codec, '--fragment-ms', '2000']);
    t.is(r.status, 0, r.stderr);
    t.like(JSON.parse(r.stdout), { frames: 300, fragments: 5, width: 640, height: 360, codec: 'h265' });
    const p = probe(out);
    t.is(p.frames, 300);
    t.deepEqual(
      p.keyframes,
      Array.from({ length: 10 }, (_, i) => i * 30),
    );
    const codecName = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', out], {
      encoding: 'utf8',
    });
    t.is(codecName.stdout.trim(), 'hevc');
    const decode = spawnSync('ffmpeg', ['-v', 'error', '-i', out, '-f', 'null', '-'], { encoding: 'utf8' });
    t.is(decode.status, 0);
    t.is(decode.stderr, '', 'no decode error');
    t.deepEqual(frameMd5s(out), frameMd5s(clip.file));
  }
});

test('an H.265 stream given as --codec h264 is refused with a clear error, not packaged as garbage', (t) => {
  const r = cli(['kvs', 'stream', '--input', clip.file, '--out', path.join(dir, 'wrong.mkv'), '--codec', 'h264']);
  t.is(r.status, 1);
  t.regex(r.stderr, /KVS_NO_CODEC_DATA: the H\.264 stream has no SPS and PPS/);
});

test('packageAnnexB in the library: the hvcC record parses back (ffprobe profile Main, level) and the result names the codec', async (t) => {
  const r = await packageAnnexB(clip.h264, { fps: 30 });
  t.is(r.codec, 'h265');
  const file = path.join(dir, 'lib.mkv');
  fs.writeFileSync(file, r.mkv);
  const s = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=profile,level,pix_fmt', '-of', 'json', file], {
    encoding: 'utf8',
  });
  const st = (JSON.parse(s.stdout) as { streams: Array<{ profile: string; level: number; pix_fmt: string }> }).streams[0]!;
  t.is(st.profile, 'Main');
  t.is(st.pix_fmt, 'yuv420p');
  t.true(st.level > 0);
});

test.serial('camwire kvs stream: the H.265 stream goes through PutMedia into the SigV4-checking endpoint, every fragment acknowledged', async (t) => {
  const r = await camwireAsync(
    [
      '--json',
      'kvs',
      'stream',
      '--input',
      clip.file,
      '--stream',
      'hevc-cli',
      '--region',
      'eu-west-1',
      '--endpoint',
      ep.url,
      '--fps',
      '30',
      '--fragment-ms',
      '2000',
    ],
    { env: env() },
  ).done;
  t.is(r.code, 0, r.stderr);
  t.like(JSON.parse(r.stdout), { frames: 300, fragmentsPersisted: 5, dropped: 0 });
  const sessions = ep.sessions.filter((s) => s.stream === 'hevc-cli');
  t.is(sessions.length, 1);
  t.is(sessions[0]!.frames, 300);
  t.is(sessions[0]!.persisted, 5);
  t.is(ep.authFailures.length, 0);
  const stored = path.join(ep.dir, 'hevc-cli', 'session-' + sessions[0]!.session + '.mkv');
  t.is(probe(stored).frames, 300);
  t.deepEqual(frameMd5s(stored), frameMd5s(clip.file));
});

test.serial(
  'KvsStream.putFrame with H.265 access units (codec found from the first VPS/SPS/PPS): every frame PERSISTED, key frames at the IRAPs',
  async (t) => {
    const s = new KvsStream({ streamName: 'hevc-lib', region: 'eu-west-1', endpoint: ep.url, credentials: creds, fragmentDurationMs: 1000 });
    let pts = Date.now();
    for (const f of clip.frames) {
      while (!s.putFrame(f, { pts })) await new Promise<void>((r) => s.once('drain', () => r()));
      pts += 34; // a GOP of 30 spans 1020 ms: one fragment each
    }
    const summary = await s.close();
    t.is(summary.metrics.framesStored, 300);
    t.is(summary.metrics.fragmentsPersisted, 10);
    const rec = ep.sessions.filter((x) => x.stream === 'hevc-lib');
    t.is(
      rec.reduce((a, x) => a + x.frames, 0),
      300,
    );
    t.deepEqual(
      rec.flatMap((x) => x.fragments.map((f) => f.keyframes)),
      Array(10).fill(1),
    );
  },
);

test('a resolution change mid-stream (640x360, then 320x240, parameter sets in band): all 600 frames packaged and decoded', (t) => {
  const small = makeHevcClip(dir, { frames: 300, fps: 30, gop: 30, size: '320x240', name: 'small.h265' });
  const both = path.join(dir, 'both.h265');
  fs.writeFileSync(both, Buffer.concat([clip.h264, small.h264]));
  const out = path.join(dir, 'both.mkv');
  const r = cli(['--json', 'kvs', 'stream', '--input', both, '--out', out]);
  t.is(r.status, 0, r.stderr);
  t.like(JSON.parse(r.stdout), { frames: 600, width: 640, height: 360 });
  const decode = spawnSync('ffmpeg', ['-v', 'error', '-i', out, '-f', 'null', '-'], { encoding: 'utf8' });
  t.is(decode.status, 0, decode.stderr);
  t.is(frameMd5s(out).length, 600);
});
