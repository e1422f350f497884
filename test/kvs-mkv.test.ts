/**
 * camwire's MKV, checked by ffmpeg and ffprobe: a known H.264 stream made
 * here (lavfi testsrc + libx264, no B-frames) is packaged by the native core
 * and must decode without a single error, with the input's frame count, key
 * frame positions, dimensions and duration.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { packageAnnexB, packageFile } from '../ts/kvs';
import { CamwireError } from '../ts/errors';
import { makeClip } from './helpers/h264';
import { run } from './helpers/run';
import { tempDir } from './helpers/tmp';

const dir = tempDir('mkv');

function requireTool(name: string): void {
  if (run('sh', ['-c', `command -v ${name}`]).status !== 0) throw new Error(`${name} is not installed: apt-get install ffmpeg (tests need the real tool)`);
}

function encode(name: string, args: string[]): string {
  requireTool('ffmpeg');
  const out = path.join(dir, name);
  const r = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args, '-f', 'h264', out]);
  if (r.status !== 0) throw new Error(`ffmpeg: ${r.stderr}`);
  return out;
}

function probe(file: string): { frames: number; keyframes: number[]; width: number; height: number; duration: number; codec: string } {
  requireTool('ffprobe');
  const r = run('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=codec_name,width,height:frame=key_frame,pts_time:format=duration',
    '-of',
    'json',
    file,
  ]);
  if (r.status !== 0) throw new Error(`ffprobe: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as {
    streams: Array<{ codec_name: string; width: number; height: number }>;
    frames: Array<{ key_frame: number; pts_time?: string }>;
    format: { duration?: string };
  };
  // A live MKV (unknown-size Segment) has no Duration: take the span of the frame timestamps.
  const pts = j.frames.map((f) => Number(f.pts_time)).filter((x) => Number.isFinite(x));
  const span = pts.length > 1 ? pts[pts.length - 1]! - pts[0]! + (pts[1]! - pts[0]!) : NaN;
  return {
    codec: j.streams[0]!.codec_name,
    width: j.streams[0]!.width,
    height: j.streams[0]!.height,
    frames: j.frames.length,
    keyframes: j.frames.flatMap((f, i) => (f.key_frame ? [i] : [])),
    duration: span,
  };
}

const cases = [
  {
    name: 'baseline 640x360, GOP 30, 5 s',
    file: 'base.h264',
    fps: 30,
    seconds: 5,
    args: [
      '-f',
      'lavfi',
      '-i',
      'testsrc=size=640x360:rate=30',
      '-t',
      '5',
      '-c:v',
      'libx264',
      '-pix_fmt',
      'yuv420p',
      '-profile:v',
      'baseline',
      '-preset',
      'ultrafast',
      '-g',
      '30',
      '-keyint_min',
      '30',
      '-sc_threshold',
      '0',
      '-x264-params',
      'repeat-headers=1',
    ],
  },
  {
    name: 'high 1920x1080 (cropped SPS), GOP 25, 2 s',
    file: 'high.h264',
    fps: 25,
    seconds: 2,
    args: [
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=1920x1080:rate=25',
      '-t',
      '2',
      '-c:v',
      'libx264',
      '-pix_fmt',
      'yuv420p',
      '-profile:v',
      'high',
      '-bf',
      '0',
      '-preset',
      'ultrafast',
      '-g',
      '25',
      '-keyint_min',
      '25',
      '-sc_threshold',
      '0',
    ],
  },
];

for (const c of cases) {
  test(`${c.name}: the MKV decodes cleanly and matches the input`, async (t) => {
    const input = encode(c.file, c.args);
    const expected = probe(input);
    const { mkv, frames, fragments, width, height } = await packageAnnexB(fs.readFileSync(input), { fps: c.fps, fragmentDurationMs: 1000 });
    const out = path.join(dir, `${c.file}.mkv`);
    fs.writeFileSync(out, mkv);
    const decode = run('ffmpeg', ['-v', 'error', '-i', out, '-f', 'null', '-']);
    t.is(decode.status, 0);
    t.is(decode.stderr, '', 'ffmpeg reports nothing');
    const got = probe(out);
    t.is(got.codec, 'h264');
    t.deepEqual([got.width, got.height], [expected.width, expected.height]);
    t.deepEqual([width, height], [expected.width, expected.height]);
    t.is(got.frames, expected.frames);
    t.is(frames, expected.frames);
    t.deepEqual(got.keyframes, expected.keyframes);
    t.is(fragments, expected.keyframes.length, 'one fragment per key frame at 1 s fragments');
    t.true(Math.abs(got.duration - c.seconds) < 0.1, `duration ${got.duration}`);
  });
}

test('absolute timecodes: the first cluster carries the epoch time of the first frame', async (t) => {
  const input = fs.readFileSync(
    encode('abs.h264', [
      '-f',
      'lavfi',
      '-i',
      'testsrc=size=320x240:rate=10',
      '-t',
      '1',
      '-pix_fmt',
      'yuv420p',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-bf',
      '0',
      '-g',
      '10',
    ]),
  );
  const startMs = 1_795_680_000_000;
  const { mkv } = await packageAnnexB(input, { fps: 10, absoluteTimecodes: true, startMs });
  const cluster = mkv.indexOf(Buffer.from([0x1f, 0x43, 0xb6, 0x75]));
  t.true(cluster > 0);
  // Cluster (unknown size 0xFF) then Timecode E7 88 + 8 bytes.
  t.deepEqual([...mkv.subarray(cluster + 5, cluster + 7)], [0xe7, 0x88]);
  t.is(Number(mkv.readBigUInt64BE(cluster + 7)), startMs);
  const file = path.join(dir, 'abs.mkv');
  fs.writeFileSync(file, mkv);
  t.is(run('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-']).stderr, '');
});

test('input without SPS/PPS, and bad options, are clear errors', async (t) => {
  const e = await t.throwsAsync<CamwireError>(packageAnnexB(Buffer.from('not h264 at all')));
  t.true(e instanceof CamwireError);
  t.is(e!.code, 'KVS_NO_CODEC_DATA');
  t.regex(e!.stack ?? '', /kvs-mkv\.test/, 'the stack points at the caller');
  t.is((await t.throwsAsync<CamwireError>(packageAnnexB(Buffer.alloc(10), { fps: 0 })))!.code, 'KVS_BAD_OPTIONS');
});

test('camwire kvs stream --input - --out: ffmpeg pipes H.264 in, a decodable MKV comes out', (t) => {
  const input = encode('pipe.h264', [
    '-f',
    'lavfi',
    '-i',
    'testsrc=size=320x240:rate=15',
    '-t',
    '2',
    '-pix_fmt',
    'yuv420p',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-bf',
    '0',
    '-g',
    '15',
  ]);
  const out = path.join(dir, 'pipe.mkv');
  const r = run('sh', ['-c', `cat ${input} | node bin/camwire.js --json kvs stream --input - --out ${out} --fps 15 --fragment-ms 1000`]);
  t.is(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { frames: number; fragments: number; width: number; height: number };
  t.deepEqual([res.frames, res.fragments, res.width, res.height], [30, 2, 320, 240]);
  t.is(run('ffmpeg', ['-v', 'error', '-i', out, '-f', 'null', '-']).stderr, '');
});

/** The MKV with its random SegmentUID (73 A4, size 0x90, 16 bytes) zeroed, to compare two runs. */
function withoutUid(mkv: Buffer): Buffer {
  const b = Buffer.from(mkv);
  const at = b.indexOf(Buffer.from([0x73, 0xa4, 0x90]));
  if (at >= 0) b.fill(0, at + 3, at + 19);
  return b;
}

test('packageAnnexB into a buffer the caller reuses: the same MKV, clip after clip; too small and overlapping are clear errors', async (t) => {
  const a = fs.readFileSync(makeClip(dir, { seconds: 4, fps: 30, size: '640x360', gop: 30, name: 'into-a.h264' }).file);
  const b = fs.readFileSync(makeClip(dir, { seconds: 2, fps: 30, size: '320x240', gop: 15, name: 'into-b.h264' }).file);
  const into = Buffer.alloc(a.length * 2);
  for (const clip of [a, b, a]) {
    const fresh = await packageAnnexB(clip, { fragmentDurationMs: 1000 });
    const reused = await packageAnnexB(clip, { fragmentDurationMs: 1000, into });
    t.is(reused.bytes, fresh.mkv.length);
    t.is(reused.mkv.buffer, into.buffer, "the MKV is a view of the caller's buffer");
    t.is(reused.mkv.length, reused.bytes);
    t.true(withoutUid(reused.mkv).equals(withoutUid(fresh.mkv)), 'byte for byte the fresh MKV');
    t.like(reused, { frames: fresh.frames, fragments: fresh.fragments, width: fresh.width, codec: 'h264' });
  }
  const small = await t.throwsAsync<CamwireError>(packageAnnexB(a, { into: Buffer.alloc(1000) }));
  t.is(small!.code, 'KVS_BAD_OPTIONS');
  t.regex(small!.message, /options\.into holds 1000 bytes; this MKV needs \d+/);
  const shared = Buffer.alloc(a.length * 3);
  a.copy(shared);
  const overlap = await t.throwsAsync<CamwireError>(packageAnnexB(shared.subarray(0, a.length), { into: shared.subarray(a.length / 2) }));
  t.is(overlap!.code, 'KVS_BAD_OPTIONS');
  t.regex(overlap!.message, /into may not share memory with the input/);
  // Apart in one allocation is fine.
  const apart = await packageAnnexB(shared.subarray(0, a.length), { into: shared.subarray(a.length) });
  t.is(apart.frames, 120);
  t.is((await t.throwsAsync<CamwireError>(packageAnnexB(a, { into: 'x' as unknown as Buffer })))!.code, 'KVS_BAD_OPTIONS');
});

test('packageFile: file to file natively, the same bytes as packageAnnexB; a failure leaves the output as it was', async (t) => {
  const input = makeClip(dir, { seconds: 6, fps: 30, size: '640x360', gop: 30, name: 'file.h264' }).file;
  const out = path.join(dir, 'file.mkv');
  const r = await packageFile(input, out, { fragmentDurationMs: 1000 });
  const mem = await packageAnnexB(fs.readFileSync(input), { fragmentDurationMs: 1000 });
  t.like(r, { frames: 180, fragments: 6, width: 640, height: 360, codec: 'h264', bytes: mem.mkv.length });
  t.false('mkv' in r);
  t.true(withoutUid(fs.readFileSync(out)).equals(withoutUid(mem.mkv)), 'byte for byte the in-memory MKV');
  t.is(probe(out).frames, 180);
  // The CLI takes this path for files: the same frames, and nothing left beside the output.
  const cli = run('node', ['bin/camwire.js', '--json', 'kvs', 'stream', '--input', input, '--out', out, '--fragment-ms', '1000']);
  t.is(cli.status, 0, cli.stderr);
  t.like(JSON.parse(cli.stdout), { frames: 180, fragments: 6, bytes: mem.mkv.length });
  t.deepEqual(
    fs.readdirSync(dir).filter((f) => f.includes('.camwire-')),
    [],
  );
  // Bad input: the output keeps its old bytes, no temporary file stays.
  const before = fs.readFileSync(out);
  const garbage = path.join(dir, 'garbage.h264');
  fs.writeFileSync(garbage, Buffer.alloc(50_000, 9));
  t.is((await t.throwsAsync<CamwireError>(packageFile(garbage, out)))!.code, 'KVS_NO_CODEC_DATA');
  t.true(fs.readFileSync(out).equals(before));
  t.deepEqual(
    fs.readdirSync(dir).filter((f) => f.includes('.camwire-')),
    [],
  );
  const missing = await t.throwsAsync<CamwireError>(packageFile(path.join(dir, 'nope.h264'), out));
  t.is(missing!.code, 'CLI_FILE_NOT_FOUND');
  t.regex(missing!.message, /cannot read .*nope\.h264: ENOENT/);
  const noDir = await t.throwsAsync<CamwireError>(packageFile(input, path.join(dir, 'no', 'such', 'dir', 'x.mkv')));
  t.is(noDir!.code, 'KVS_FILE_IO');
  t.regex(noDir!.message, /cannot create .*x\.mkv\.camwire-\d+\.tmp: ENOENT/);
});
