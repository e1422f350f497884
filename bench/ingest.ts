/**
 * KVS ingest, in one run on the same input:
 *  1. packaging: camwire (native core, in memory and file to file) vs
 *     ffmpeg -c copy -f matroska and mkvmerge as whole processes;
 *  2. PutMedia: the whole input streamed by the native producer into a
 *     discarding local endpoint (another process) over loopback, vs raw
 *     loopback TCP from this process into a discarding Node process;
 *  3. the cost of one putFrame call from JS;
 *  4. N concurrent live streams (30 fps, about 2 Mbit/s each) in this
 *     process: whether every fragment is PERSISTED without drops, the CPU
 *     and the memory it takes;
 * and the process's peak RSS.
 *   node --import tsx bench/ingest.ts [--quick] [--streams N]
 * Input: 60 s of 1080p30 at about 20 Mbit/s, no B-frames (10 s with --quick).
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KvsStream, packageAnnexB, packageFile } from '../ts/kvs';
import { best, cliEnv, describeCliEnv, rawLoopbackTcpMs } from './common';

const quick = process.argv.includes('--quick');
const streamsArg = process.argv.indexOf('--streams');
const concurrent = streamsArg > 0 ? Number(process.argv[streamsArg + 1]) : 100;
const creds = { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret' };
const ROOT = path.resolve(__dirname, '..');
const seconds = quick ? 10 : 60;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-bench-ingest-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

(async () => {
  const input = path.join(dir, 'in.h264');
  console.log(`encoding ${seconds} s of 1080p30 at ~20 Mbit/s (libx264 ultrafast, no B-frames) ...`);
  const enc = spawnSync('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=1920x1080:rate=30',
    '-t',
    String(seconds),
    '-pix_fmt',
    'yuv420p',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-bf',
    '0',
    '-g',
    '60',
    '-b:v',
    '20M',
    '-maxrate',
    '20M',
    '-bufsize',
    '40M',
    '-x264-params',
    'aud=1',
    '-f',
    'h264',
    input,
  ]);
  if (enc.status !== 0) throw new Error(`ffmpeg encode failed: ${enc.stderr}`);
  const bytes = fs.statSync(input).size;
  const data = fs.readFileSync(input);
  const mb = bytes / 1e6;
  console.log(`input: ${mb.toFixed(1)} MB, ${((bytes * 8) / seconds / 1e6).toFixed(1)} Mbit/s`);

  let frames = 0;
  const memMs = await best(5, async () => {
    const t0 = process.hrtime.bigint();
    const r = await packageAnnexB(data, { fps: 30 });
    frames = r.frames;
    return Number(process.hrtime.bigint() - t0) / 1e6;
  });
  // Into a buffer reused from call to call (options.into): the loop without first touches of fresh memory.
  const into = Buffer.alloc(data.length + (data.length >> 4) + (1 << 20));
  const intoMs = await best(5, async () => {
    const t0 = process.hrtime.bigint();
    await packageAnnexB(data, { fps: 30, into });
    return Number(process.hrtime.bigint() - t0) / 1e6;
  });
  const hotMs = await best(5, () => {
    const t0 = process.hrtime.bigint();
    data.copy(into);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  });
  // The in-memory loop's own peer: a copy of the input into a fresh buffer of its size (what any API returning new bytes pays).
  const copyMs = await best(5, () => {
    const t0 = process.hrtime.bigint();
    data.copy(Buffer.allocUnsafeSlow(data.length));
    return Number(process.hrtime.bigint() - t0) / 1e6;
  });
  const bufferMs = await best(3, async () => {
    const t0 = process.hrtime.bigint();
    const r = await packageAnnexB(fs.readFileSync(input), { fps: 30 });
    fs.writeFileSync(path.join(dir, 'camwire.mkv'), r.mkv);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  });
  const fileMs = await best(5, async () => {
    const t0 = process.hrtime.bigint();
    await packageFile(input, path.join(dir, 'camwire.mkv'), { fps: 30 });
    return Number(process.hrtime.bigint() - t0) / 1e6;
  });
  // What a user runs: the whole CLI process (Node's start, camwire's load, the packaging), best of 5 each, interleaved.
  const cliRuns: number[] = [];
  const cliHostRuns: number[] = [];
  const ffRuns: number[] = [];
  const { env, hostEnv } = cliEnv();
  const cliArgs = [path.join(__dirname, '..', 'bin', 'camwire.js'), 'kvs', 'stream', '--input', input, '--out', path.join(dir, 'cli.mkv')];
  for (let i = 0; i < 5; i++) {
    cliRuns.push(timed(process.execPath, cliArgs, env));
    if (hostEnv) cliHostRuns.push(timed(process.execPath, cliArgs, hostEnv));
    ffRuns.push(
      timed('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-framerate', '30', '-i', input, '-c', 'copy', '-f', 'matroska', path.join(dir, 'ff.mkv')]),
    );
  }
  const cliMs = Math.min(...cliRuns);
  const ffMs = Math.min(...ffRuns);
  const hasMkvmerge = spawnSync('sh', ['-c', 'command -v mkvmerge']).status === 0;
  const mmMs = hasMkvmerge ? await best(3, () => timed('mkvmerge', ['-q', '-o', path.join(dir, 'mm.mkv'), '--default-duration', '0:30fps', input])) : NaN;
  const row = (name: string, ms: number, peer?: number) =>
    console.log(`${name.padEnd(48)} ${(mb / (ms / 1000)).toFixed(0).padStart(7)} MB/s${peer ? `  ${(peer / ms).toFixed(1)}x ffmpeg` : ''}`);
  console.log(`\n# packaging ${frames} frames to MKV (${describeCliEnv()})`);
  row('camwire packageAnnexB, in memory', memMs, ffMs);
  console.log(`  peer: memcpy into a fresh buffer ${(mb / (copyMs / 1000)).toFixed(0).padStart(21)} MB/s  (in memory: ${(copyMs / memMs).toFixed(2)}x it)`);
  row('camwire packageAnnexB, in memory, into a reused buffer', intoMs, ffMs);
  console.log(`  peer: memcpy into that buffer ${(mb / (hotMs / 1000)).toFixed(0).padStart(24)} MB/s  (into: ${(hotMs / intoMs).toFixed(2)}x it)`);
  row('camwire packageAnnexB, read/package/write', bufferMs, ffMs);
  row('camwire packageFile, file to file (native)', fileMs, ffMs);
  row('camwire kvs stream --input F --out F (process)', cliMs, ffMs);
  if (cliHostRuns.length) row("  the same with this host's NODE_EXTRA_CA_CERTS", Math.min(...cliHostRuns), ffMs);
  row('  peer: ffmpeg -c copy -f matroska (process)', ffMs);
  if (hasMkvmerge) row('  peer: mkvmerge (process)', mmMs);

  console.log(
    `peak RSS while packaging ${peakMiB().toFixed(0)} MiB (packageAnnexB holds input and output whole; packageFile maps the input, a few MiB besides)`,
  );

  // ---- 2. PutMedia vs raw loopback TCP ----
  const endpoint = await startEndpoint();
  resetPeak();
  try {
    /** Streams the whole input through a store of storeBytes (overflow: block); milliseconds and MKV bytes sent. */
    const putMedia = async (streamName: string, storeBytes: number) => {
      const t0 = process.hrtime.bigint();
      const s = new KvsStream({
        streamName,
        region: 'us-east-1',
        endpoint: endpoint.url,
        credentials: creds,
        overflow: 'block',
        storeBytes,
        storeDurationMs: 3_600_000,
        startMs: 1_760_000_000_000,
        fps: 30,
        metricsIntervalMs: 0,
      });
      for (let off = 0; off < data.length; off += 1 << 20) {
        if (!s.putAnnexB(data.subarray(off, off + (1 << 20)))) await new Promise<void>((r) => s.once('drain', r));
      }
      const { metrics } = await s.close();
      return { ms: Number(process.hrtime.bigint() - t0) / 1e6, sent: metrics.bytesSent };
    };
    let sent = 0;
    // Interleaved rounds: the host's load moves between runs, so each round's pair is
    // measured back to back, and the best of each is compared. A round takes about 0.2 s;
    // nine of them (five before) because the peer itself moves by 40% from round to round here.
    const rawRuns: number[] = [];
    const pmRuns: number[] = [];
    const ROUNDS = 9;
    for (let i = 0; i < ROUNDS; i++) {
      rawRuns.push(await rawLoopbackTcpMs(data));
      const r = await putMedia('bench-bulk', 1 << 30);
      sent = r.sent;
      pmRuns.push(r.ms);
    }
    const rawMs = Math.min(...rawRuns);
    const pmMs = Math.min(...pmRuns);
    const roundRatios = pmRuns.map((m, i) => sent / m / (bytes / rawRuns[i]!)).sort((a, b) => a - b);
    console.log(
      `\n# PutMedia over loopback into a discarding local endpoint (another process), ${(sent / 1e6).toFixed(1)} MB of MKV, best of ${ROUNDS} interleaved`,
    );
    console.log(
      `camwire producer: frames in -> every fragment PERSISTED      ${(sent / 1e6 / (pmMs / 1000)).toFixed(0).padStart(7)} MB/s  ${(sent / pmMs / (bytes / rawMs)).toFixed(2)}x raw TCP`,
    );
    console.log(`  peer: raw loopback TCP, Node socket -> discarding Node      ${(mb / (rawMs / 1000)).toFixed(0).padStart(7)} MB/s`);
    console.log(`  each round's ratio: ${roundRatios.map((r) => r.toFixed(2)).join(' ')} (median ${roundRatios[ROUNDS >> 1]!.toFixed(2)}x)`);
    console.log(`peak RSS ${peakMiB().toFixed(0)} MiB (the whole input in memory, and in the store until PERSISTED)`);
    // The same input through a 16 MiB store (overflow: block, the feeder waits for acks): the
    // producer's memory follows the store's size, not the input's.
    resetPeak();
    const before = rssMiB();
    const bounded = await putMedia('bench-bounded', 16 << 20);
    console.log(
      `with a 16 MiB store: ${(bounded.sent / 1e6).toFixed(0)} MB sent at ${(bounded.sent / 1e3 / bounded.ms).toFixed(0)} MB/s, ` +
        `RSS grew ${Math.max(0, peakMiB() - before).toFixed(0)} MiB over the ${before.toFixed(0)} MiB before (bounded by the store, not the ${mb.toFixed(0)} MB input)`,
    );

    // ---- 3. the cost of putFrame ----
    const [key, frameBuf] = framesOf(data, 2) as [Buffer, Buffer];
    const s = new KvsStream({
      streamName: 'bench-putframe',
      region: 'us-east-1',
      endpoint: endpoint.url,
      credentials: creds,
      metricsIntervalMs: 0,
      storeBytes: 256 << 20,
      highWaterMark: 1 << 30,
    });
    const n = 200_000;
    s.putFrame(key, { pts: 1 });
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) s.putFrame(frameBuf, { pts: 2 + i });
    const ns = Number(process.hrtime.bigint() - t0) / n;
    s.abort();
    await new Promise((r) => s.once('close', r));
    console.log(`\n# putFrame from JS (a ${frameBuf.length}-byte frame, pinned not copied): ${(ns / 1000).toFixed(2)} us per call over ${n} calls`);

    // ---- 4. concurrent live streams ----
    resetPeak();
    await liveStreams(endpoint.url, dir, concurrent, quick ? 10 : 20);
  } finally {
    endpoint.proc.kill('SIGTERM');
  }
})().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);

/** The RSS now (MiB). */
function rssMiB(): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;
}
/** Peak RSS since the last reset (MiB); resetPeak() starts a new phase (Linux clear_refs 5). */
function peakMiB(): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;
}
function resetPeak(): void {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    /* not Linux, or not allowed: the peak then covers the whole run */
  }
}

/** The local endpoint in its own process, discarding what it receives. */
async function startEndpoint(): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin', 'camwire.js'), '--json', 'kvs', 'serve-local', '--dir', path.join(dir, 'kvs'), '--discard'], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      try {
        resolve((JSON.parse(out) as { url: string }).url);
      } catch {
        /* not complete yet */
      }
    });
    proc.on('exit', (code) => reject(new Error(`serve-local exited ${code}`)));
  });
  return { url, proc };
}

/** Access units of an Annex-B stream encoded with AUDs (x264 aud=1): split at each delimiter. */
function framesOf(h264: Buffer, max = Infinity): Buffer[] {
  const aud = Buffer.from([0, 0, 0, 1, 9]);
  const idx: number[] = [];
  for (let i = h264.indexOf(aud); i >= 0 && idx.length <= max; i = h264.indexOf(aud, i + 5)) idx.push(i);
  return idx.slice(0, max).map((s, k) => h264.subarray(s, idx[k + 1] ?? h264.length));
}

/** N live streams at 30 fps, about 2 Mbit/s each, for `seconds`: all PERSISTED? CPU and memory. */
async function liveStreams(url: string, tmp: string, n: number, seconds: number): Promise<void> {
  const clip = path.join(tmp, 'live.h264');
  const enc = spawnSync('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=640x360:rate=30',
    '-t',
    '10',
    '-pix_fmt',
    'yuv420p',
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-bf',
    '0',
    '-g',
    '30',
    '-b:v',
    '2M',
    '-maxrate',
    '2M',
    '-bufsize',
    '2M',
    '-x264-params',
    'aud=1',
    '-f',
    'h264',
    clip,
  ]);
  if (enc.status !== 0) throw new Error(`ffmpeg: ${enc.stderr}`);
  const frames = framesOf(fs.readFileSync(clip));
  const streams = Array.from(
    { length: n },
    (_, i) =>
      new KvsStream({
        streamName: `live-${i}`,
        region: 'us-east-1',
        endpoint: url,
        credentials: creds,
        fragmentDurationMs: 1000,
        metricsIntervalMs: 0,
        storeBytes: 16 << 20,
      }),
  );
  let dropped = 0;
  let warnings = 0;
  for (const s of streams) {
    s.on('dropped', (d: { frames: number }) => (dropped += d.frames));
    s.on('warning', () => warnings++);
  }
  const total = seconds * 30;
  const base = process.memoryUsage().rss / 1048576;
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  let maxLag = 0;
  for (let f = 0; f < total; f++) {
    const due = t0 + (f * 1000) / 30;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    else maxLag = Math.max(maxLag, -wait);
    const frame = frames[f % frames.length]!;
    for (const s of streams) s.putFrame(frame, { pts: 1_760_000_000_000 + Math.round((f * 1000) / 30) });
  }
  const wall = (Date.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const results = await Promise.allSettled(streams.map((s) => s.close()));
  const ok = results.filter((r) => r.status === 'fulfilled').length;
  const persisted = streams.reduce((a, s) => a + s.metrics().fragmentsPersisted, 0);
  const latency = Math.max(...streams.map((s) => s.metrics().persistLatencyMs));
  console.log(
    `\n# ${n} live streams x 30 fps x ${((fs.statSync(clip).size * 8) / 10 / 1e6).toFixed(1)} Mbit/s for ${seconds} s, one process, endpoint in another`,
  );
  console.log(`closed cleanly ${ok}/${n}; fragments PERSISTED ${persisted}/${n * seconds}; frames dropped ${dropped}; warnings ${warnings}`);
  console.log(
    `CPU of this process ${(((cpu.user + cpu.system) / 1e6 / wall) * 100).toFixed(0)}% of one core; feeder max lag ${maxLag.toFixed(0)} ms; last persist latency max ${latency} ms; peak RSS ${peakMiB().toFixed(0)} MiB (${base.toFixed(0)} MiB before the streams started)`,
  );
}
