/**
 * KVS soak: one live stream at real time for a long while, through faults,
 * and whether every frame arrives and the producer's memory stays flat.
 *
 * The input is 60 s of 640x360 H.264 at 30 fps, GOP 30, no B-frames, about
 * 1 Mbit/s (libx264 ultrafast, an AUD before every frame), cut into access
 * units and looped: frame i goes out with pts = start + round(i * 1000 / 30),
 * one putFrame every 33.3 ms on a drift-corrected timer (never faster than
 * real time; a putFrame that returns false waits for 'drain', and is counted).
 *
 * A LocalKvsEndpoint runs in a child process with a FaultProxy in front of
 * it (both on 127.0.0.1, so neither's CPU is counted as the producer's). The
 * endpoint answers every 20th distinct fragment ERROR once (faults.errorAcks
 * every 20) and keeps it when it is re-sent; every 30 s the proxy resets
 * every open connection (the PutMedia one). The endpoint keeps what it
 * receives in a temporary directory (not discard: the frame timecodes are
 * needed), and at the end the child reports the distinct timecodes of the
 * frames in fragments it kept (PERSISTED), which are compared, one by one,
 * with the pts put.
 *
 * Every 10 s it prints this process's RSS and CPU (% of one core), the
 * endpoint's CPU, and the producer's metrics. At the end: frames lost, drops,
 * cuts, ERROR acks, connections, warnings by code, RSS at the start (after a
 * 10 s warm-up), end and max, its least-squares slope in MiB/min, and whether
 * memory is flat (under 5 MiB of growth over the last 80% of the run); the
 * last line of stdout is the same summary as JSON, prefixed `SOAK `. Exits 1
 * if any frame was lost (memory is reported, never failed on).
 *   node --import tsx bench/kvs-soak.ts [--seconds N]   (default 600)
 */
import { ChildProcess, fork, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { KvsStream } from '../ts/kvs/stream';
import type { KvsMetrics } from '../ts/kvs/stream';
import { FaultProxy } from '../ts/local/faults';
import { LocalKvsEndpoint } from '../ts/local/kvs-endpoint';

const creds = { accessKeyId: 'AKIDSOAK', secretAccessKey: 'soak-secret' };
const FPS = 30;
const SAMPLE_MS = 10_000;
const CUT_MS = 30_000;
const WARMUP_S = 10;
const FLAT_MIB = 5;
const ERROR_EVERY = 20;
const MiB = 1048576;

/** Messages between this process and the endpoint's. */
type ToChild = { id: number; cmd: 'cut' | 'stats' | 'final' };
type FromChild =
  | { type: 'ready'; url: string }
  | { type: 'cut'; id: number; links: number }
  | { type: 'stats'; id: number; cpuUs: number; rss: number; sessions: number; proxyConnections: number }
  | {
      type: 'final';
      id: number;
      cpuUs: number;
      sessions: number;
      endedBy: Record<string, number>;
      errorAcksInjected: number;
      proxyConnections: number;
      framesReceived: number;
      /** Distinct frame timecodes in fragments the endpoint kept (acknowledged PERSISTED). */
      kept: number[];
    };

if (process.argv[2] === '--child') {
  void child(process.argv[3]!);
} else {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}

/** The endpoint and its proxy, in their own process, answering the parent over IPC. */
async function child(dir: string): Promise<void> {
  // The parent gone (killed, crashed): nothing is left behind.
  process.on('disconnect', () => process.exit(0));
  const endpoint = new LocalKvsEndpoint({
    dir,
    credentials: [creds],
    region: 'us-east-1',
    faults: { errorAcks: { every: ERROR_EVERY } },
  });
  await endpoint.start();
  const proxy = new FaultProxy({ port: endpoint.port });
  await proxy.start();
  // GetDataEndpoint names the proxy, so PutMedia goes through it too.
  endpoint.publicUrl = `http://${proxy.url}`;
  const send = (m: FromChild) => process.send!(m);
  process.on('message', (m: ToChild) => {
    const cpu = process.cpuUsage();
    const cpuUs = cpu.user + cpu.system;
    if (m.cmd === 'cut') send({ type: 'cut', id: m.id, links: proxy.drop() });
    else if (m.cmd === 'stats')
      send({ type: 'stats', id: m.id, cpuUs, rss: process.memoryUsage().rss, sessions: endpoint.sessions.length, proxyConnections: proxy.connections });
    else {
      const kept = new Set<number>();
      const endedBy: Record<string, number> = {};
      let framesReceived = 0;
      for (const s of endpoint.sessions) {
        endedBy[s.endedBy] = (endedBy[s.endedBy] ?? 0) + 1;
        framesReceived += s.frames;
        // Fragments are acknowledged PERSISTED in order: the first `persisted` of the session were kept,
        // and their frames are the first ones of frameTimecodes.
        let n = 0;
        for (const f of s.fragments.slice(0, s.persisted ?? 0)) n += f.frames;
        for (const t of s.frameTimecodes.slice(0, n)) kept.add(t);
      }
      send({
        type: 'final',
        id: m.id,
        cpuUs,
        sessions: endpoint.sessions.length,
        endedBy,
        errorAcksInjected: endedBy['fault-error'] ?? 0,
        proxyConnections: proxy.connections,
        framesReceived,
        kept: [...kept].sort((a, b) => a - b),
      });
    }
  });
  send({ type: 'ready', url: `http://${proxy.url}` });
}

/** Access units of an Annex-B stream encoded with AUDs (x264 aud=1): split at each delimiter. */
function framesOf(h264: Buffer): Buffer[] {
  const aud = Buffer.from([0, 0, 0, 1, 9]);
  const idx: number[] = [];
  for (let i = h264.indexOf(aud); i >= 0; i = h264.indexOf(aud, i + 5)) idx.push(i);
  return idx.map((s, k) => h264.subarray(s, idx[k + 1] ?? h264.length));
}

function encode(file: string): void {
  const r = spawnSync('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=640x360:rate=${FPS}`,
    '-t',
    '60',
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
    '-keyint_min',
    '30',
    '-sc_threshold',
    '0',
    '-b:v',
    '1M',
    '-maxrate',
    '1M',
    '-bufsize',
    '1M',
    '-x264-params',
    'aud=1',
    '-f',
    'h264',
    file,
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg failed (apt-get install ffmpeg): ${r.stderr}`);
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den > 0 ? num / den : 0;
}

interface Sample {
  t: number;
  rssMiB: number;
  cpuPct: number;
  endpointCpuPct: number;
  put: number;
  m: KvsMetrics;
}

async function main(): Promise<number> {
  const arg = process.argv.indexOf('--seconds');
  const seconds = arg > 0 ? Number(process.argv[arg + 1]) : 600;
  if (!(seconds >= 1)) throw new Error('--seconds N: N >= 1');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-bench-soak-'));
  const held: { proc?: ChildProcess } = {};
  const cleanup = () => {
    const proc = held.proc;
    if (proc?.pid !== undefined && proc.exitCode === null && proc.signalCode === null) {
      try {
        process.kill(proc.pid, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', cleanup);
  process.on('SIGINT', () => {
    console.error('interrupted');
    process.exit(130);
  });

  console.log(`encoding 60 s of 640x360p${FPS} at ~1 Mbit/s (libx264 ultrafast, GOP 30, no B-frames, AUDs) ...`);
  const clip = path.join(dir, 'in.h264');
  encode(clip);
  const frames = framesOf(fs.readFileSync(clip));
  const clipBytes = fs.statSync(clip).size;
  console.log(`input: ${frames.length} frames, ${((clipBytes * 8) / 60 / 1e6).toFixed(2)} Mbit/s, looped for ${seconds} s`);

  // ---- the endpoint and its proxy, in a child ----
  const child = fork(__filename, ['--child', path.join(dir, 'kvs')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  held.proc = child;
  let nextId = 1;
  const pending = new Map<number, (m: FromChild) => void>();
  let readyUrl: ((url: string) => void) | undefined;
  child.on('message', (m: FromChild) => {
    if (m.type === 'ready') readyUrl?.(m.url);
    else {
      const r = pending.get(m.id);
      pending.delete(m.id);
      r?.(m);
    }
  });
  const childGone = new Promise<never>((_, reject) => child.once('exit', (code, sig) => reject(new Error(`the endpoint's process exited (${code ?? sig})`))));
  childGone.catch(() => undefined);
  const ask = <T extends FromChild['type']>(cmd: ToChild['cmd'] & T): Promise<Extract<FromChild, { type: T }>> => {
    const id = nextId++;
    const p = new Promise<FromChild>((resolve) => pending.set(id, resolve));
    child.send({ id, cmd } satisfies ToChild);
    return Promise.race([p, childGone]) as Promise<Extract<FromChild, { type: T }>>;
  };
  const url = await Promise.race([new Promise<string>((r) => (readyUrl = r)), childGone]);
  console.log(`endpoint (child process ${child.pid}) behind a FaultProxy at ${url}; ERROR ack every ${ERROR_EVERY}th fragment; cut every ${CUT_MS / 1000} s`);

  // ---- the stream ----
  const s = new KvsStream({
    streamName: 'soak',
    region: 'us-east-1',
    endpoint: url,
    credentials: creds,
    fragmentDurationMs: 2000,
  });
  const warnings: Record<string, number> = {};
  const acks: Record<string, number> = {};
  let droppedFrames = 0;
  let dropEvents = 0;
  let connectedEvents = 0;
  let errorAcksSeen = 0;
  let fatal: Error | undefined;
  s.on('warning', (e) => (warnings[e.code] = (warnings[e.code] ?? 0) + 1));
  s.on('ack', (a) => {
    acks[a.type] = (acks[a.type] ?? 0) + 1;
    if (a.type === 'ERROR') errorAcksSeen++;
  });
  s.on('dropped', (d) => {
    dropEvents++;
    droppedFrames += d.frames;
  });
  s.on('connected', () => connectedEvents++);
  s.on('error', (e) => (fatal = e));

  const total = Math.round(seconds * FPS);
  const start = Date.now();
  const ptsOf = (i: number) => start + Math.round((i * 1000) / FPS);
  let put = 0;
  let drainWaits = 0;
  let drainMs = 0;
  let maxLag = 0;
  let cuts = 0;
  let linksCut = 0;

  const samples: Sample[] = [];
  const t0 = performance.now();
  let lastCpu = process.cpuUsage();
  let lastAt = t0;
  const stats0 = await ask('stats');
  let lastChildCpu = stats0.cpuUs;
  const cpuStart = lastCpu;
  const childCpuStart = stats0.cpuUs;
  const sample = async (): Promise<void> => {
    const now = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    lastCpu = process.cpuUsage();
    const st = await ask('stats');
    const wall = now - lastAt;
    lastAt = now;
    const m = s.metrics();
    const smp: Sample = {
      t: (now - t0) / 1000,
      rssMiB: process.memoryUsage().rss / MiB,
      cpuPct: ((cpu.user + cpu.system) / 1000 / wall) * 100,
      endpointCpuPct: ((st.cpuUs - lastChildCpu) / 1000 / wall) * 100,
      put,
      m,
    };
    lastChildCpu = st.cpuUs;
    samples.push(smp);
    const w = Object.values(warnings).reduce((a, b) => a + b, 0);
    console.log(
      `t=${smp.t.toFixed(0).padStart(4)} s  put ${String(put).padStart(6)}  RSS ${smp.rssMiB.toFixed(1)} MiB  CPU ${smp.cpuPct.toFixed(1)}% (endpoint ${smp.endpointCpuPct.toFixed(1)}%)  ` +
        `stored ${m.framesStored} dropped ${m.framesDropped} persisted ${m.fragmentsPersisted} frag  store ${(m.storeBytes / MiB).toFixed(2)} MiB/${m.storeFragments} frag  ` +
        `conn ${m.connections}  acks ERROR ${m.acksError}  cuts ${cuts}  warnings ${w}  drain waits ${drainWaits}  lag max ${maxLag.toFixed(0)} ms`,
    );
  };
  let sampling = Promise.resolve();
  const sampleTimer = setInterval(() => (sampling = sampling.then(sample)), SAMPLE_MS);
  const cutTimer = setInterval(() => {
    cuts++;
    void ask('cut').then((r) => (linksCut += r.links));
  }, CUT_MS);

  console.log(`streaming ${total} frames at ${FPS} fps ...`);
  let origin = t0;
  try {
    for (let i = 0; i < total; i++) {
      if (fatal) throw fatal;
      const wait = origin + (i * 1000) / FPS - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      else maxLag = Math.max(maxLag, -wait);
      const ok = s.putFrame(frames[i % frames.length]!, { pts: ptsOf(i) });
      put++;
      if (!ok) {
        drainWaits++;
        const w0 = performance.now();
        await once(s, 'drain');
        const waited = performance.now() - w0;
        drainMs += waited;
        // The schedule moves on by the wait: no burst to catch up, never faster than real time.
        origin += waited;
      }
    }
  } finally {
    clearInterval(sampleTimer);
    clearInterval(cutTimer);
  }
  await sampling;
  if (!samples.length || samples[samples.length - 1]!.t < (performance.now() - t0) / 1000 - 1) await sample();
  const streamWall = (performance.now() - t0) / 1000;
  const cpuAll = process.cpuUsage(cpuStart);
  const childCpuEnd = (await ask('stats')).cpuUs;

  console.log('closing (waiting for every fragment to be PERSISTED) ...');
  const c0 = performance.now();
  let closeError: Error | undefined;
  let final: KvsMetrics;
  try {
    final = (await s.close()).metrics;
  } catch (e) {
    closeError = e as Error;
    final = s.metrics();
  }
  const closeMs = performance.now() - c0;
  const fin = await ask('final');
  child.kill('SIGTERM');

  // ---- frames: put vs distinct received (kept) ----
  const kept = new Set(fin.kept);
  let lost = 0;
  let firstLost: number | undefined;
  const putSet = new Set<number>();
  for (let i = 0; i < put; i++) {
    const p = ptsOf(i);
    putSet.add(p);
    if (!kept.has(p)) {
      lost++;
      firstLost ??= i;
    }
  }
  let extra = 0;
  for (const t of kept) if (!putSet.has(t)) extra++;

  // ---- memory ----
  const after = samples.filter((x) => x.t >= WARMUP_S - 0.5);
  const rssStart = after[0]?.rssMiB ?? NaN;
  const rssEnd = samples[samples.length - 1]?.rssMiB ?? NaN;
  const rssMax = Math.max(...samples.map((x) => x.rssMiB));
  const growth = rssEnd - rssStart;
  const span = (after[after.length - 1]?.t ?? 0) - (after[0]?.t ?? 0);
  const slopeMin = slope(
    after.map((x) => x.t / 60),
    after.map((x) => x.rssMiB),
  );
  const last80 = samples.filter((x) => x.t >= streamWall * 0.2 - 0.5);
  const growth80 = last80.length ? rssEnd - last80[0]!.rssMiB : NaN;
  const flat = growth80 < FLAT_MIB;
  const cpuPct = ((cpuAll.user + cpuAll.system) / 1e6 / streamWall) * 100;
  const endpointCpuPct = ((childCpuEnd - childCpuStart) / 1e6 / streamWall) * 100;

  const summary = {
    seconds,
    fps: FPS,
    streamWallS: +streamWall.toFixed(1),
    framesPut: put,
    framesDistinctReceived: kept.size,
    framesLost: lost,
    framesExtra: extra,
    framesReceivedWithResends: fin.framesReceived,
    droppedFrames,
    dropEvents,
    metricsFramesDropped: final.framesDropped,
    drainWaits,
    drainWaitMs: Math.round(drainMs),
    maxLagMs: Math.round(maxLag),
    cuts,
    linksCut,
    errorAcksInjected: fin.errorAcksInjected,
    errorAcksSeen,
    connections: final.connections,
    connectedEvents,
    proxyConnections: fin.proxyConnections,
    sessions: fin.sessions,
    sessionsEndedBy: fin.endedBy,
    fragmentsPersisted: final.fragmentsPersisted,
    acks,
    warnings,
    closeMs: Math.round(closeMs),
    closeError: closeError?.message,
    rssStartMiB: +rssStart.toFixed(1),
    rssEndMiB: +rssEnd.toFixed(1),
    rssMaxMiB: +rssMax.toFixed(1),
    rssGrowthMiB: +growth.toFixed(2),
    rssGrowthMiBPerMin: span > 0 ? +((growth / span) * 60).toFixed(3) : 0,
    rssSlopeMiBPerMin: +slopeMin.toFixed(3),
    rssGrowthLast80pctMiB: +growth80.toFixed(2),
    memoryFlat: flat,
    cpuPctOneCore: +cpuPct.toFixed(1),
    endpointCpuPctOneCore: +endpointCpuPct.toFixed(1),
    endpointInChild: true,
  };

  console.log(`\n# KVS soak: ${seconds} s at ${FPS} fps, one stream, endpoint + FaultProxy in a child process`);
  console.log(
    `frames put ${put}; distinct received (in kept fragments) ${kept.size}; lost ${lost}${firstLost !== undefined ? ` (first: frame ${firstLost})` : ''}; not put ${extra}; received with re-sends ${fin.framesReceived}`,
  );
  console.log(
    `dropped frames ${droppedFrames} (${dropEvents} events); drain waits ${drainWaits} (${summary.drainWaitMs} ms); feeder max lag ${summary.maxLagMs} ms`,
  );
  console.log(
    `cuts ${cuts} (${linksCut} connections reset); ERROR acks injected ${fin.errorAcksInjected}, seen ${errorAcksSeen}; PutMedia connections ${final.connections}; proxy connections ${fin.proxyConnections}; sessions ${fin.sessions} ${JSON.stringify(fin.endedBy)}`,
  );
  console.log(
    `acks ${JSON.stringify(acks)}; warnings ${JSON.stringify(warnings)}; fragments PERSISTED ${final.fragmentsPersisted}; close ${summary.closeMs} ms${closeError ? ` (${closeError.message})` : ''}`,
  );
  console.log(
    `RSS start (after ${WARMUP_S} s) ${rssStart.toFixed(1)} MiB, end ${rssEnd.toFixed(1)} MiB, max ${rssMax.toFixed(1)} MiB; growth ${growth.toFixed(2)} MiB (${summary.rssGrowthMiBPerMin} MiB/min); ` +
      `slope ${slopeMin.toFixed(3)} MiB/min (least squares); last 80% ${growth80.toFixed(2)} MiB: ${flat ? 'memory flat' : `memory NOT flat (>= ${FLAT_MIB} MiB)`}`,
  );
  console.log(`CPU: producer (this process) ${cpuPct.toFixed(1)}% of one core; endpoint + proxy (child) ${endpointCpuPct.toFixed(1)}%`);
  console.log(`SOAK ${JSON.stringify(summary)}`);
  return lost > 0 || closeError || fatal ? 1 : 0;
}
