/**
 * KVS ingest, packaging part: the same H.264 input packaged to MKV by camwire
 * (native core, in memory and to a file) and by ffmpeg -c copy -f matroska and
 * mkvmerge as whole processes, timed in the same run.
 *   node --import tsx bench/ingest.ts [--quick]
 * Input: 60 s of 1080p30 at about 20 Mbit/s, no B-frames (10 s with --quick).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageAnnexB } from '../ts/kvs';

const quick = process.argv.includes('--quick');
const seconds = quick ? 10 : 60;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-bench-ingest-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

function timed(cmd: string, args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function best(n: number, f: () => Promise<number> | number): Promise<number> {
  let b = Infinity;
  for (let i = 0; i < n; i++) b = Math.min(b, await f());
  return b;
}

(async () => {
  const input = path.join(dir, 'in.h264');
  console.log(`encoding ${seconds} s of 1080p30 at ~20 Mbit/s (libx264 ultrafast, no B-frames) ...`);
  const enc = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=30', '-t', String(seconds),
    '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', '-bf', '0', '-g', '60', '-b:v', '20M', '-maxrate', '20M', '-bufsize', '40M', '-f', 'h264', input]);
  if (enc.status !== 0) throw new Error(`ffmpeg encode failed: ${enc.stderr}`);
  const bytes = fs.statSync(input).size;
  const data = fs.readFileSync(input);
  const mb = bytes / 1e6;
  console.log(`input: ${mb.toFixed(1)} MB, ${(bytes * 8 / seconds / 1e6).toFixed(1)} Mbit/s`);

  let frames = 0;
  const memMs = await best(5, async () => {
    const t0 = process.hrtime.bigint();
    const r = await packageAnnexB(data, { fps: 30 });
    frames = r.frames;
    return Number(process.hrtime.bigint() - t0) / 1e6;
  });
  const fileMs = await best(3, async () => {
    const t0 = process.hrtime.bigint();
    const r = await packageAnnexB(fs.readFileSync(input), { fps: 30 });
    fs.writeFileSync(path.join(dir, 'camwire.mkv'), r.mkv);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  });
  const ffMs = await best(3, () => timed('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-framerate', '30', '-i', input, '-c', 'copy', '-f', 'matroska', path.join(dir, 'ff.mkv')]));
  const hasMkvmerge = spawnSync('sh', ['-c', 'command -v mkvmerge']).status === 0;
  const mmMs = hasMkvmerge ? await best(3, () => timed('mkvmerge', ['-q', '-o', path.join(dir, 'mm.mkv'), '--default-duration', '0:30fps', input])) : NaN;
  const row = (name: string, ms: number, peer?: number) => console.log(`${name.padEnd(48)} ${(mb / (ms / 1000)).toFixed(0).padStart(7)} MB/s${peer ? `  ${(peer / ms).toFixed(1)}x ffmpeg` : ''}`);
  console.log(`\n# packaging ${frames} frames to MKV`);
  row('camwire packageAnnexB, in memory', memMs, ffMs);
  row('camwire packageAnnexB, file to file', fileMs, ffMs);
  row('  peer: ffmpeg -c copy -f matroska (process)', ffMs);
  if (hasMkvmerge) row('  peer: mkvmerge (process)', mmMs);
  const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
  console.log(`peak RSS ${(Number(hwm) / 1024).toFixed(0)} MiB (input and output held whole in memory for the in-memory case)`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
