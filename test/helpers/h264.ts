import fs from 'node:fs';
import path from 'node:path';
import { run } from './run';

export interface Clip {
  file: string;
  h264: Buffer;
  /** The access units, each starting with its access unit delimiter. */
  frames: Buffer[];
  fps: number;
  gop: number;
}

/**
 * A known H.264 stream made with ffmpeg (lavfi testsrc + libx264, no
 * B-frames, a key frame every `gop` frames, an AUD before every frame so the
 * test can cut frames without a parser of its own).
 */
export function makeClip(dir: string, o: { seconds: number; fps?: number; size?: string; gop?: number; name?: string; bitrate?: string }): Clip {
  const fps = o.fps ?? 30;
  const gop = o.gop ?? fps;
  const file = path.join(dir, o.name ?? `clip-${o.seconds}s-${fps}.h264`);
  const r = run('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `testsrc=size=${o.size ?? '320x240'}:rate=${fps}`,
    '-t',
    String(o.seconds),
    '-pix_fmt',
    'yuv420p',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-bf',
    '0',
    '-g',
    String(gop),
    '-keyint_min',
    String(gop),
    '-sc_threshold',
    '0',
    ...(o.bitrate ? ['-b:v', o.bitrate, '-maxrate', o.bitrate, '-bufsize', o.bitrate] : []),
    '-x264-params',
    'aud=1',
    '-f',
    'h264',
    file,
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg (apt-get install ffmpeg): ${r.stderr}`);
  const h264 = fs.readFileSync(file);
  const aud = Buffer.from([0, 0, 0, 1, 9]);
  const starts: number[] = [];
  for (let i = h264.indexOf(aud); i >= 0; i = h264.indexOf(aud, i + 5)) starts.push(i);
  const frames = starts.map((s, k) => h264.subarray(s, starts[k + 1] ?? h264.length));
  return { file, h264, frames, fps, gop };
}

/** ffprobe's view of a video file: frame count, key-frame indexes, size, duration. */
export function probe(file: string): { frames: number; keyframes: number[]; width: number; height: number; duration: number } {
  const r = run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=key_frame:stream=width,height', '-of', 'json', file]);
  if (r.status !== 0) throw new Error(`ffprobe ${file}: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { frames: Array<{ key_frame: number }>; streams: Array<{ width: number; height: number }> };
  const keyframes = j.frames.flatMap((f, i) => (f.key_frame ? [i] : []));
  const d = run('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', file]);
  return { frames: j.frames.length, keyframes, width: j.streams[0]!.width, height: j.streams[0]!.height, duration: Number(d.stdout.trim()) };
}

/**
 * A known H.265 stream (lavfi testsrc + libx265, no B-frames, an IRAP every
 * `gop` frames, an AUD before every picture), cut into access units at the AUDs.
 */
export function makeHevcClip(dir: string, o: { frames: number; fps?: number; size?: string; gop?: number; name?: string }): Clip {
  const fps = o.fps ?? 30;
  const gop = o.gop ?? fps;
  const file = path.join(dir, o.name ?? `clip-${o.frames}f-${fps}.h265`);
  const r = run('ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc=size=${o.size ?? '320x240'}:rate=${fps}`],
    ...['-frames:v', String(o.frames), '-pix_fmt', 'yuv420p', '-c:v', 'libx265', '-preset', 'ultrafast'],
    ...['-x265-params', `keyint=${gop}:min-keyint=${gop}:scenecut=0:bframes=0:aud=1:repeat-headers=1:log-level=error`, '-f', 'hevc', file],
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg (libx265): ${r.stderr}`);
  const h265 = fs.readFileSync(file);
  // The H.265 AUD: nal_unit_type 35, layer 0, TemporalId + 1 = 1.
  const aud = Buffer.from([0, 0, 0, 1, 0x46, 0x01]);
  const starts: number[] = [];
  for (let i = h265.indexOf(aud); i >= 0; i = h265.indexOf(aud, i + 6)) starts.push(i);
  const frames = starts.map((s, k) => h265.subarray(s, starts[k + 1] ?? h265.length));
  return { file, h264: h265, frames, fps, gop };
}

/** The MD5 of every decoded frame (ffmpeg -f framemd5), to compare two containers of one stream. */
export function frameMd5s(file: string): string[] {
  const r = run('ffmpeg', ['-v', 'error', '-i', file, '-map', '0:v:0', '-f', 'framemd5', '-']);
  if (r.status !== 0) throw new Error(`ffmpeg framemd5 ${file}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(',').pop()!.trim());
}
