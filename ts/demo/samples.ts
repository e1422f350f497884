/**
 * The demo camera's media: a photo and a trailer in its DCIM folder, and the
 * H.264 it streams live. Made with ffmpeg when it is installed (a JPEG, an
 * MP4 with H.264 and AAC, Annex-B H.264); otherwise camwire writes its own
 * (a BMP, and I_PCM H.264 from pcm-h264.ts, played raw), so the demo needs
 * nothing beyond npm install.
 */
import { execFile, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CamwireError } from '../errors';
import { pcmH264 } from '../kvs';

export interface SampleFile {
  /** Path in the camera's storage (what PTP lists and upload targets name). */
  path: string;
  file: string;
  contentType: string;
  size: number;
  sha256: string;
}

export interface DemoSamples {
  madeWith: 'ffmpeg' | 'camwire';
  photo: SampleFile;
  trailer: SampleFile;
  live: { file: string; fps: number; frames: number; width: number; height: number };
}

export function haveFfmpeg(): boolean {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-version'], { stdio: 'ignore' });
  return r.status === 0;
}

function ffmpeg(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { maxBuffer: 1 << 20 }, (err, _out, stderr) => {
      if (err)
        reject(
          new CamwireError('DEMO_FFMPEG_FAILED', `ffmpeg failed: ${String(stderr).trim() || err.message}`, {
            hint: "run with --no-ffmpeg to use camwire's own samples",
          }),
        );
      else resolve();
    });
  });
}

function describe(storage: string, rel: string, contentType: string): SampleFile {
  const file = path.join(storage, rel);
  const data = fs.readFileSync(file);
  return { path: rel, file, contentType, size: data.length, sha256: crypto.createHash('sha256').update(data).digest('hex') };
}

/**
 * Writes the samples: DCIM/100CAMWR/DSC00001.JPG (or .BMP) and trailer.mp4
 * (or trailer.h264) under `storage`, the live source in `workDir`. The
 * trailer is bigger than one 5 MiB part, so it goes up as a multipart upload.
 */
export async function makeSamples(storage: string, workDir: string, o: { streamSeconds: number; useFfmpeg: boolean }): Promise<DemoSamples> {
  const dcim = path.join(storage, 'DCIM', '100CAMWR');
  fs.mkdirSync(dcim, { recursive: true });
  fs.mkdirSync(workDir, { recursive: true });
  const fps = 30;
  const frames = Math.max(1, Math.round(o.streamSeconds * fps));
  const liveFile = path.join(workDir, 'live.h264');
  if (o.useFfmpeg) {
    await Promise.all([
      ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=4000x3000', '-frames:v', '1', '-q:v', '2', path.join(dcim, 'DSC00001.JPG')]),
      ffmpeg([
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=1280x720:rate=30',
        '-f',
        'lavfi',
        '-i',
        'sine=frequency=440:sample_rate=48000',
        '-t',
        '8',
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-pix_fmt',
        'yuv420p',
        '-b:v',
        '8M',
        '-maxrate',
        '8M',
        '-bufsize',
        '8M',
        '-c:a',
        'aac',
        '-b:a',
        '128k',
        '-movflags',
        '+faststart',
        path.join(dcim, 'trailer.mp4'),
      ]),
      ffmpeg([
        '-f',
        'lavfi',
        '-i',
        `testsrc=size=640x360:rate=${fps}`,
        '-frames:v',
        String(frames),
        '-pix_fmt',
        'yuv420p',
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-tune',
        'zerolatency',
        '-bf',
        '0',
        '-g',
        String(fps),
        '-keyint_min',
        String(fps),
        '-sc_threshold',
        '0',
        '-f',
        'h264',
        liveFile,
      ]),
    ]);
    return {
      madeWith: 'ffmpeg',
      photo: describe(storage, 'DCIM/100CAMWR/DSC00001.JPG', 'image/jpeg'),
      trailer: describe(storage, 'DCIM/100CAMWR/trailer.mp4', 'video/mp4'),
      live: { file: liveFile, fps, frames, width: 640, height: 360 },
    };
  }
  fs.writeFileSync(path.join(dcim, 'DSC00001.BMP'), bmpPhoto(1024, 768));
  // 2.5 s of 320x240 I_PCM is about 8.6 MB: two parts.
  fs.writeFileSync(path.join(dcim, 'trailer.h264'), pcmH264({ width: 320, height: 240, fps, frames: 75 }));
  fs.writeFileSync(liveFile, pcmH264({ width: 320, height: 240, fps, frames }));
  return {
    madeWith: 'camwire',
    photo: describe(storage, 'DCIM/100CAMWR/DSC00001.BMP', 'image/bmp'),
    trailer: describe(storage, 'DCIM/100CAMWR/trailer.h264', 'video/h264'),
    live: { file: liveFile, fps, frames, width: 320, height: 240 },
  };
}

/** A 24-bit BMP photo (the still image when ffmpeg is not there to make a JPEG). */
export function bmpPhoto(width: number, height: number): Buffer {
  const row = Math.ceil((width * 3) / 4) * 4;
  const b = Buffer.alloc(54 + row * height);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(width, 18);
  b.writeInt32LE(height, 22); // bottom-up rows
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  b.writeUInt32LE(row * height, 34);
  b.writeInt32LE(2835, 38);
  b.writeInt32LE(2835, 42);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = 54 + y * row + x * 3;
      b[o] = (x * 255) / width; // blue
      b[o + 1] = (y * 255) / height; // green
      b[o + 2] = ((x + y) * 127) / (width + height) + 64; // red
    }
  }
  return b;
}
