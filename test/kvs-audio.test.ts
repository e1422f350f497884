/**
 * An audio track beside the video: H.264 + ADTS AAC (and G.711) packaged by
 * camwire, read back by ffprobe and decoded by ffmpeg, the audio as long as
 * its input; bad audio input refused with its own code.
 */
import test, { ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { KvsStream, packageAnnexB } from '../ts/kvs';
import { LocalKvsEndpoint } from '../ts/local';
import { makeClip, Clip } from './helpers/h264';
import { CLI, camwireAsync, run } from './helpers/run';
import { tempDir } from './helpers/tmp';

const dir = tempDir('kvs-audio');
let clip: Clip;
const aac = path.join(dir, 'a.aac');
const alaw = path.join(dir, 'a.alaw');

function ffmpeg(args: string[]): void {
  const r = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args]);
  if (r.status !== 0) throw new Error(r.stderr);
}
/** Decoded PCM samples per channel of the first audio stream (s16, as ffmpeg decodes it). */
function samples(file: string, channels: number): number {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-map', '0:a:0', '-f', 's16le', '-acodec', 'pcm_s16le', '-'], { maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(r.stderr.toString());
  return r.stdout.length / 2 / channels;
}
function streams(file: string): Array<Record<string, string | number>> {
  const r = run('ffprobe', ['-v', 'error', '-show_entries', 'stream=index,codec_type,codec_name,sample_rate,channels', '-of', 'json', file]);
  return (JSON.parse(r.stdout) as { streams: Array<Record<string, string | number>> }).streams;
}
const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

test.before(() => {
  clip = makeClip(dir, { seconds: 10, fps: 30, gop: 30 });
  ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=10', '-ac', '2', '-c:a', 'aac', '-b:a', '96k', '-f', 'adts', aac]);
  ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=300:sample_rate=8000:duration=10', '-c:a', 'pcm_alaw', '-f', 'alaw', alaw]);
});

test('H.264 + ADTS AAC: both tracks, both decode cleanly, and the audio is as long as its input', (t) => {
  const out = path.join(dir, 'av.mkv');
  const r = cli(['--json', 'kvs', 'stream', '--input', clip.file, '--audio', aac, '--out', out, '--fragment-ms', '2000']);
  t.is(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { frames: number; fragments: number; audio: { frames: number; ms: number; rate: number; channels: number } };
  t.is(res.frames, 300);
  t.is(res.fragments, 5);
  t.like(res.audio, { rate: 48000, channels: 2 });
  const st = streams(out);
  t.deepEqual(
    st.map((s) => [s['codec_type'], s['codec_name']]),
    [
      ['video', 'h264'],
      ['audio', 'aac'],
    ],
  );
  t.is(st[1]!['sample_rate'], '48000');
  t.is(st[1]!['channels'], 2);
  const decode = spawnSync('ffmpeg', ['-v', 'error', '-i', out, '-map', '0', '-f', 'null', '-'], { encoding: 'utf8' });
  t.is(decode.status, 0);
  t.is(decode.stderr, '', 'no decode error in either track');
  // As long as its input: the same decoded samples as the ADTS file itself, every frame kept.
  t.is(samples(out, 2), samples(aac, 2));
  t.is(res.audio.frames * 1024, samples(aac, 2));
  t.true(Math.abs(res.audio.ms - (res.audio.frames * 1024 * 1000) / 48000) <= 1);
  // Fragments still start at video key frames, and audio blocks are interleaved by time.
  const pk = run('ffprobe', ['-v', 'error', '-show_entries', 'packet=stream_index,pts_time,flags', '-of', 'csv=p=0', out]);
  const packets = pk.stdout
    .trim()
    .split('\n')
    .map((l) => l.split(','))
    .map(([s, p]) => ({ stream: Number(s), pts: Number(p) }));
  let lastVideo = -1;
  let outOfOrder = 0;
  for (const p of packets) {
    if (p.stream === 0) lastVideo = p.pts;
    else if (p.pts + 0.05 < lastVideo) outOfOrder++;
  }
  t.is(outOfOrder, 0, 'no audio block more than 50 ms behind the video before it');
});

test('H.264 + G.711 A-law (A_MS/ACM): ffprobe sees pcm_alaw at 8 kHz and every sample decodes', (t) => {
  const out = path.join(dir, 'alaw.mkv');
  const r = cli(['--json', 'kvs', 'stream', '--input', clip.file, '--audio', alaw, '--audio-format', 'alaw', '--audio-rate', '8000', '--out', out]);
  t.is(r.status, 0, r.stderr);
  const st = streams(out);
  t.like(st[1], { codec_type: 'audio', codec_name: 'pcm_alaw', sample_rate: '8000', channels: 1 });
  t.is(samples(out, 1), fs.statSync(alaw).size);
});

test('packageAnnexB({ audio }) in the library gives the same track; an AAC configuration change mid-stream is AAC_CONFIG_CHANGED', async (t) => {
  const audio = fs.readFileSync(aac);
  const r = await packageAnnexB(clip.h264, { fps: 30, audio });
  t.is(r.audioRate, 48000);
  t.is(r.audioChannels, 2);
  t.true(r.audioFrames > 400);
  const other = path.join(dir, 'b.aac');
  ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100:duration=1', '-c:a', 'aac', '-f', 'adts', other]);
  const err = await t.throwsAsync(packageAnnexB(clip.h264, { fps: 30, audio: Buffer.concat([audio, fs.readFileSync(other)]) }));
  t.is((err as { code?: string }).code, 'AAC_CONFIG_CHANGED');
  t.regex(err!.message, /48000 Hz.*44100 Hz|44100 Hz.*48000 Hz/);
});

test('audio that is not ADTS is refused with a clear error, offline and live', async (t) => {
  const garbage = path.join(dir, 'garbage.aac');
  fs.writeFileSync(garbage, Buffer.alloc(100_000, 7));
  const r = cli(['kvs', 'stream', '--input', clip.file, '--audio', garbage, '--out', path.join(dir, 'g.mkv')]);
  t.is(r.status, 1);
  t.regex(r.stderr, /AAC_NO_SYNC/);
  const { ep, env } = await liveEndpoint(t, 'eu-west-1');
  const live = await camwireAsync(['kvs', 'stream', '--input', clip.file, '--audio', garbage, '--stream', 'g', '--region', 'eu-west-1', '--endpoint', ep.url], {
    env,
  }).done;
  t.is(live.code, 1);
  t.regex(live.stderr, /AAC_NO_SYNC: .*garbage\.aac holds no ADTS frame in its first 64 KiB/);
});

const liveCreds = { accessKeyId: 'AKIDAUDIO', secretAccessKey: 'audio-secret' };
async function liveEndpoint(t: ExecutionContext, region: string): Promise<{ ep: LocalKvsEndpoint; env: NodeJS.ProcessEnv }> {
  const ep = new LocalKvsEndpoint({ dir: path.join(dir, `kvs-${region}`), credentials: [liveCreds], region });
  await ep.start();
  t.teardown(() => ep.stop());
  return { ep, env: { ...process.env, AWS_ACCESS_KEY_ID: liveCreds.accessKeyId, AWS_SECRET_ACCESS_KEY: liveCreds.secretAccessKey } };
}

for (const mode of [
  { name: 'as fast as it goes', args: [] as string[], format: 'adts' },
  { name: '--realtime, G.711 A-law from stdin', args: ['--realtime'], format: 'alaw' },
]) {
  test.serial(
    `live CLI: kvs stream --audio (${mode.name}) — both tracks through PutMedia, every audio sample of the video's length, decoded cleanly`,
    async (t) => {
      const { ep, env } = await liveEndpoint(t, 'ap-south-1');
      const stream = `cli-${mode.format}`;
      // A 4 s video beside 10 s of audio: the audio is cut at the video's end.
      const short = makeClip(dir, { seconds: 4, fps: 30, gop: 30, name: `short-${mode.format}.h264` });
      const args = [
        '--json',
        'kvs',
        'stream',
        '--input',
        short.file,
        '--stream',
        stream,
        '--region',
        'ap-south-1',
        '--endpoint',
        ep.url,
        '--fragment-ms',
        '1000',
      ];
      const audioArgs = mode.format === 'adts' ? ['--audio', aac] : ['--audio', '-', '--audio-format', 'alaw', '--audio-rate', '8000'];
      const run = camwireAsync([...args, ...audioArgs, ...mode.args], { env });
      if (mode.format === 'alaw') fs.createReadStream(alaw).pipe(run.child.stdin!);
      const r = await run.done;
      t.is(r.code, 0, r.stderr);
      const res = JSON.parse(r.stdout) as { frames: number; audioFrames: number; audioDropped: number; fragmentsPersisted: number; warnings: unknown[] };
      t.is(res.frames, 120);
      t.is(res.audioDropped, 0);
      t.deepEqual(res.warnings, []);
      // Audio frames cover the video's 4 s, and run on past its end by less than the feed's lead (kept just ahead of the video).
      const frameMs = mode.format === 'adts' ? (1024 * 1000) / 48000 : 20;
      const audioMs = res.audioFrames * frameMs;
      t.true(audioMs >= 4000 - frameMs && audioMs <= 4000 + 400, `${res.audioFrames} audio frames = ${audioMs.toFixed(0)} ms`);
      const sessions = ep.sessions.filter((x) => x.stream === stream);
      t.is(sessions.length, 1);
      t.is(sessions[0]!.frames, 120);
      t.is(sessions[0]!.audioFrames, res.audioFrames);
      const file = path.join(ep.dir, stream, `session-${sessions[0]!.session}.mkv`);
      t.deepEqual(
        streams(file).map((x) => [x['codec_type'], x['codec_name']]),
        [
          ['video', 'h264'],
          ['audio', mode.format === 'adts' ? 'aac' : 'pcm_alaw'],
        ],
      );
      const decode = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-map', '0', '-f', 'null', '-'], { encoding: 'utf8' });
      t.is(decode.stderr, '', 'both tracks decode cleanly');
      const perFrame = mode.format === 'adts' ? 1024 : 160;
      t.is(samples(file, mode.format === 'adts' ? 2 : 1), res.audioFrames * perFrame);
    },
  );
}

/** ADTS frames of a file, cut at their frame lengths (the producer validates each header). */
function adtsFrames(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i + 7 <= buf.length;) {
    const len = ((buf[i + 3]! & 3) << 11) | (buf[i + 4]! << 3) | (buf[i + 5]! >> 5);
    out.push(buf.subarray(i, i + len));
    i += len;
  }
  return out;
}

test.serial(
  'live: KvsStream.putAudio with ADTS frames beside putFrame — PutMedia carries both tracks, the session decodes, every audio frame arrives',
  async (t) => {
    const creds = { accessKeyId: 'AKIDAUDIO', secretAccessKey: 'audio-secret' };
    const ep = new LocalKvsEndpoint({ dir: path.join(dir, 'kvs'), credentials: [creds], region: 'eu-west-1' });
    await ep.start();
    t.teardown(() => ep.stop());
    const s = new KvsStream({ streamName: 'av', region: 'eu-west-1', endpoint: ep.url, credentials: creds, fragmentDurationMs: 1000, audio: { codec: 'aac' } });
    const audio = adtsFrames(fs.readFileSync(aac));
    const start = Date.now();
    let a = 0;
    for (const [i, f] of clip.frames.entries()) {
      const vpts = start + Math.round((i * 1000) / 30);
      // Audio up to this video frame's time, as an encoder hands both out.
      for (; a < audio.length && start + Math.round((a * 1024 * 1000) / 48000) <= vpts; a++)
        s.putAudio(audio[a]!, { pts: start + Math.round((a * 1024 * 1000) / 48000) });
      while (!s.putFrame(f, { pts: vpts })) await new Promise<void>((r) => s.once('drain', () => r()));
    }
    for (; a < audio.length; a++) s.putAudio(audio[a]!, { pts: start + Math.round((a * 1024 * 1000) / 48000) });
    const summary = await s.close();
    t.is(summary.metrics.framesStored, 300);
    const sessions = ep.sessions.filter((x) => x.stream === 'av');
    t.is(sessions.length, 1);
    t.is(sessions[0]!.frames, 300);
    // Audio after the last video frame's cluster start still fits its cluster; nothing before the first frame exists.
    t.is(summary.metrics.audioFramesStored + summary.metrics.audioFramesDropped, audio.length);
    t.is(summary.metrics.audioFramesDropped, 0);
    t.is(sessions[0]!.audioFrames, audio.length);
    const file = path.join(ep.dir, 'av', `session-${sessions[0]!.session}.mkv`);
    t.deepEqual(
      streams(file).map((x) => [x['codec_type'], x['codec_name']]),
      [
        ['video', 'h264'],
        ['audio', 'aac'],
      ],
    );
    const decode = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-map', '0', '-f', 'null', '-'], { encoding: 'utf8' });
    t.is(decode.stderr, '', 'both tracks decode cleanly');
    t.is(samples(file, 2), samples(aac, 2));
  },
);

test('putAudio without the audio option, and G.711 without a rate, are clear errors', async (t) => {
  const s = new KvsStream({
    streamName: 'noaudio',
    region: 'eu-west-1',
    dataEndpoint: 'http://127.0.0.1:9',
    credentials: { accessKeyId: 'A', secretAccessKey: 'B' },
  });
  t.teardown(() => s.abort());
  const err = t.throws(() => s.putAudio(Buffer.alloc(10), { pts: 1 }));
  t.is((err as { code?: string }).code, 'KVS_BAD_OPTIONS');
  t.throws(
    () =>
      new KvsStream({
        streamName: 'x',
        region: 'eu-west-1',
        dataEndpoint: 'http://127.0.0.1:9',
        credentials: { accessKeyId: 'A', secretAccessKey: 'B' },
        audio: { codec: 'alaw' },
      }),
    {
      message: /audio needs a rate/,
    },
  );
});
