/**
 * The native KVS producer end to end against the local PutMedia endpoint:
 * GetDataEndpoint, one long chunked PutMedia signed with SigV4, acks read as
 * they stream, every fragment PERSISTED; and what happens when things go
 * wrong: dropped connections, ERROR acks, stale connections, bad secrets,
 * a full store, rotation. The stored sessions are checked frame by frame.
 */
import test, { ExecutionContext } from 'ava';
import crypto from 'node:crypto';
import path from 'node:path';
import { KvsAck, KvsMetrics, KvsStream, KvsStreamOptions } from '../ts/kvs';
import { LocalKvsEndpoint, LocalKvsFaults } from '../ts/local';
import { CamwireError } from '../ts/errors';
import { Clip, makeClip, probe } from './helpers/h264';
import { run } from './helpers/run';
import { tempDir } from './helpers/tmp';

const dir = tempDir('kvs-producer');
const creds = { accessKeyId: 'AKIDPRODUCERTEST', secretAccessKey: 'producer-secret-0123456789' };
const T0 = 1_760_000_000_000;
let clip: Clip;

test.before(() => {
  // 12 s at 30 fps, a key frame every second: 12 fragments of 1 s.
  clip = makeClip(dir, { seconds: 12, fps: 30 });
});

async function endpoint(t: ExecutionContext, faults: LocalKvsFaults = {}): Promise<LocalKvsEndpoint> {
  const ep = new LocalKvsEndpoint({ dir: path.join(dir, crypto.randomUUID()), credentials: [creds], region: 'us-east-1', faults });
  await ep.start();
  t.teardown(() => ep.stop());
  return ep;
}

function stream(ep: LocalKvsEndpoint, o: Partial<KvsStreamOptions> = {}): KvsStream {
  return new KvsStream({
    streamName: 'cam-1',
    region: 'us-east-1',
    endpoint: ep.url,
    credentials: creds,
    fragmentDurationMs: 1000,
    backoffBaseMs: 20,
    backoffMaxMs: 200,
    ...o,
  });
}

/** Every frame of the clip with its timestamp (33/34 ms steps from T0). */
function feedFrames(s: KvsStream, frames = clip.frames): number[] {
  const pts: number[] = [];
  frames.forEach((f, i) => {
    const p = T0 + Math.round((i * 1000) / clip.fps);
    s.putFrame(f, { pts: p });
    pts.push(p);
  });
  return pts;
}

/** Frame timecodes the endpoint stored over all sessions, re-sent fragments counted once. */
function storedFrames(ep: LocalKvsEndpoint): number[] {
  const byFragment = new Map<number, number[]>();
  for (const s of ep.sessions) {
    let cur: number | undefined;
    let k = 0;
    for (const f of s.fragments) {
      const tcs = s.frameTimecodes.slice(k, k + f.frames);
      k += f.frames;
      cur = f.timecode;
      // A fragment cut short by a dropped connection is kept only if nothing longer exists.
      if ((byFragment.get(cur)?.length ?? 0) < tcs.length) byFragment.set(cur, tcs);
    }
  }
  return [...byFragment.values()].flat().sort((a, b) => a - b);
}

test('putFrame: every fragment PERSISTED in order, every frame stored, ffmpeg decodes each session', async (t) => {
  const ep = await endpoint(t);
  const s = stream(ep);
  const acks: KvsAck[] = [];
  const warnings: CamwireError[] = [];
  s.on('ack', (a: KvsAck) => acks.push(a));
  s.on('warning', (w: CamwireError) => warnings.push(w));
  const pts = feedFrames(s);
  const summary = await s.close();
  t.deepEqual(
    warnings.map((w) => w.code),
    [],
  );
  const persisted = acks.filter((a) => a.type === 'PERSISTED').map((a) => a.timecode!);
  const fragmentStarts = pts.filter((_, i) => i % clip.gop === 0);
  t.deepEqual(persisted, fragmentStarts, 'one PERSISTED per fragment, in order');
  t.is(ep.sessions.length, 1);
  t.is(ep.sessions[0]!.endedBy, 'client');
  t.deepEqual(ep.sessions[0]!.frameTimecodes, pts);
  t.is(summary.metrics.framesStored, clip.frames.length);
  t.is(summary.metrics.framesDropped, 0);
  t.is(summary.metrics.fragmentsPersisted, fragmentStarts.length);
  const mkv = path.join(ep.dir, 'cam-1', 'session-1.mkv');
  t.is(run('ffmpeg', ['-v', 'error', '-i', mkv, '-f', 'null', '-']).stderr, '');
  const p = probe(mkv);
  t.is(p.frames, clip.frames.length);
  t.deepEqual(
    p.keyframes,
    fragmentStarts.map((_, i) => i * clip.gop),
  );
  t.deepEqual([p.width, p.height], [320, 240]);
});

test('putAnnexB and the Writable: a raw stream in odd-sized pieces comes out frame for frame', async (t) => {
  const ep = await endpoint(t);
  const s = stream(ep, { startMs: T0, fps: 30 });
  const w = s.writable();
  for (let off = 0; off < clip.h264.length; off += 4093) w.write(clip.h264.subarray(off, off + 4093));
  await new Promise<void>((resolve, reject) => w.end((e?: Error | null) => (e ? reject(e) : resolve())));
  const expected = clip.frames.map((_, i) => T0 + Math.round((i * 1000) / 30));
  t.deepEqual(storedFrames(ep), expected);
});

test('dropped every 5 fragments and ERROR acks in some sessions: reconnects, re-sends, the stored stream holds every frame', async (t) => {
  const ep = await endpoint(t, { dropAfterFragments: 5, errorAck: { afterFragments: 2, errorId: 5000, errorCode: 'INTERNAL_ERROR', sessions: [2, 4] } });
  const s = stream(ep);
  const warnings: string[] = [];
  s.on('warning', (w: CamwireError) => warnings.push(w.code));
  const pts = feedFrames(s);
  await s.close();
  t.deepEqual(storedFrames(ep), pts);
  // A drop (session 1), an ERROR ack (session 2), then the rest: at least 3 sessions.
  t.true(ep.sessions.length >= 3, `${ep.sessions.length} sessions`);
  t.true(ep.sessions.some((x) => x.endedBy === 'fault-drop'));
  t.true(ep.sessions.some((x) => x.endedBy === 'fault-error'));
  t.true(warnings.includes('KVS_CONNECTION_DROPPED'), warnings.join());
  t.true(warnings.includes('KVS_ACK_ERROR'), warnings.join());
  // Each session is a valid MKV stream on its own (a fresh header every time).
  for (const x of ep.sessions) {
    const f = path.join(ep.dir, 'cam-1', `session-${x.session}.mkv`);
    if (x.frames > 0) t.is(probe(f).frames >= 1, true);
  }
});

test('a bad secret: a clear, fatal KVS_NOT_AUTHORIZED, and close() rejects with it', async (t) => {
  const ep = await endpoint(t);
  const s = stream(ep, { credentials: { ...creds, secretAccessKey: 'wrong' }, maxAuthFailures: 2 });
  const errors: CamwireError[] = [];
  s.on('error', (e: CamwireError) => errors.push(e));
  feedFrames(s, clip.frames.slice(0, 60));
  const e = await t.throwsAsync(s.close());
  t.is((e as CamwireError).code, 'KVS_NOT_AUTHORIZED');
  t.regex(e!.message, /HTTP 403.*signature/i);
  t.is(errors.length, 1);
  t.throws(() => s.putFrame(clip.frames[0]!, { pts: T0 + 100_000 }), { code: 'KVS_NOT_AUTHORIZED' });
  t.false(e!.message.includes('wrong'), 'the secret is not in the message');
});

test('a full store drops frames up to the next key frame, reports them, and does not crash', async (t) => {
  const ep = await endpoint(t, { stallAcks: true });
  const s = stream(ep, { storeDurationMs: 3000, persistTimeoutMs: 300, staleAfterMs: 60_000 });
  const dropped: Array<{ timecode: number; frames: number }> = [];
  s.on('dropped', (d: { timecode: number; frames: number }) => dropped.push(d));
  feedFrames(s);
  const e = await t.throwsAsync(s.close());
  t.is((e as CamwireError).code, 'KVS_PERSIST_TIMEOUT');
  const total = dropped.reduce((n, d) => n + d.frames, 0);
  t.true(total > 0);
  const m = s.metrics();
  t.is(m.framesDropped, total);
  t.is(m.framesStored + m.framesDropped, clip.frames.length);
  // A drop run lasts up to the next key frame (or the end): what is kept always starts on one.
  // (A long run may be reported in parts: adjacent reports are joined.)
  const runs: Array<{ start: number; frames: number }> = [];
  for (const d of dropped) {
    const start = Math.round(((d.timecode - T0) * clip.fps) / 1000);
    const last = runs[runs.length - 1];
    if (last && last.start + last.frames === start) last.frames += d.frames;
    else runs.push({ start, frames: d.frames });
  }
  for (const d of runs) {
    const end = d.start + d.frames;
    t.true(end % clip.gop === 0 || end === clip.frames.length, `run at frame ${d.start} of ${d.frames} frames ends at frame ${end}`);
  }
});

test('a stale connection (no BUFFERING acks) is replaced', async (t) => {
  const ep = await endpoint(t, { stallAcks: true });
  const s = stream(ep, { staleAfterMs: 300, persistTimeoutMs: 500 });
  const warnings: string[] = [];
  s.on('warning', (w: CamwireError) => warnings.push(w.code));
  feedFrames(s, clip.frames.slice(0, 90));
  await new Promise((r) => setTimeout(r, 1000));
  await t.throwsAsync(s.close(), { code: 'KVS_PERSIST_TIMEOUT' });
  t.true(warnings.includes('KVS_CONNECTION_STALE'), warnings.join());
  t.true(ep.sessions.length >= 2);
});

test('an endpoint that answers 200 and never acknowledges gets the backoff, not a storm, and close() does not report success', async (t) => {
  const ep = await endpoint(t, { answerWithoutAcks: true });
  // The default backoff (100 ms doubling to 10 s): about 7 connections in 8 s. Before,
  // each answer sent the producer straight back with the same fragments (thousands).
  const s = stream(ep, { backoffBaseMs: 100, backoffMaxMs: 10_000, persistTimeoutMs: 8000 });
  const warnings: CamwireError[] = [];
  s.on('warning', (w: CamwireError) => warnings.push(w));
  feedFrames(s, clip.frames.slice(0, 90));
  await t.throwsAsync(s.close(), { code: 'KVS_PERSIST_TIMEOUT' });
  const ended = warnings.filter((w) => w.code === 'KVS_CONNECTION_ENDED');
  t.true(ended.length >= 2, warnings.map((w) => w.code).join());
  t.regex(ended[0]!.message, /not acknowledged as PERSISTED; re-sending after a backoff/);
  t.true(ep.sessions.length >= 2 && ep.sessions.length <= 20, `${ep.sessions.length} PutMedia sessions in 8 s`);
});

test('non-increasing timestamps, B-frames and non-Annex-B input are refused at once with clear errors', async (t) => {
  const ep = await endpoint(t);
  const s = stream(ep);
  s.putFrame(clip.frames[0]!, { pts: T0 });
  t.throws(() => s.putFrame(clip.frames[1]!, { pts: T0 }), { code: 'KVS_TIMESTAMP_NOT_INCREASING' });
  t.throws(() => s.putFrame(clip.frames[1]!, { pts: T0 + 66, dts: T0 + 33 }), { code: 'KVS_B_FRAMES_UNSUPPORTED' });
  t.throws(() => s.putFrame(Buffer.from('not h264'), { pts: T0 + 99 }), { code: 'KVS_NOT_ANNEXB' });
  t.throws(() => s.putAnnexB(clip.h264), { code: 'KVS_MIXED_INPUT' });
  await s.close();
});

test('the connection is rotated on time: a fresh header per connection, nothing lost', async (t) => {
  const ep = await endpoint(t);
  const s = stream(ep, { rotateAfterMs: 700 });
  const connected: number[] = [];
  s.on('connected', (c: { connection: number }) => connected.push(c.connection));
  // About 3 s of media fed over about 1.5 s.
  const frames = clip.frames.slice(0, 90);
  const pts: number[] = [];
  for (let i = 0; i < frames.length; i++) {
    const p = T0 + Math.round((i * 1000) / 30);
    s.putFrame(frames[i]!, { pts: p });
    pts.push(p);
    if (i % 5 === 4) await new Promise((r) => setTimeout(r, 80));
  }
  await s.close();
  t.true(connected.length >= 2, `${connected.length} connections`);
  t.true(
    ep.sessions.every((x) => x.endedBy === 'client'),
    ep.sessions.map((x) => x.endedBy).join(),
  );
  t.deepEqual(storedFrames(ep), pts);
});

test('a data endpoint that stops answering is replaced: GetDataEndpoint is asked again', async (t) => {
  const ep = await endpoint(t, { deadDataEndpoint: 1 });
  const s = stream(ep);
  const warnings: string[] = [];
  s.on('warning', (w: CamwireError) => warnings.push(w.code));
  const pts = feedFrames(s, clip.frames.slice(0, 90));
  await s.close();
  t.deepEqual(warnings, ['KVS_UNREACHABLE', 'KVS_UNREACHABLE', 'KVS_UNREACHABLE']);
  t.is(ep.dataEndpointCalls, 2);
  t.deepEqual(storedFrames(ep), pts);
});

test('a stream-level ERROR ack (4008, stream not active) stops the stream with KVS_ACK_ERROR', async (t) => {
  const ep = await endpoint(t, { errorAck: { afterFragments: 1, errorId: 4008, errorCode: 'STREAM_NOT_ACTIVE' } });
  const s = stream(ep);
  const acks: KvsAck[] = [];
  s.on('ack', (a: KvsAck) => acks.push(a));
  s.on('error', () => undefined);
  feedFrames(s, clip.frames.slice(0, 90));
  const e = await t.throwsAsync<CamwireError>(s.close());
  t.is(e!.code, 'KVS_ACK_ERROR');
  t.regex(e!.message, /4008 STREAM_NOT_ACTIVE/);
  t.like(
    acks.find((a) => a.type === 'ERROR'),
    { errorId: 4008, errorCode: 'STREAM_NOT_ACTIVE' },
  );
  t.is(ep.sessions.length, 1, 'no retry after a stream-level error');
});

test("overflow 'block': nothing is dropped, putFrame says when to wait, and 'drain' says when to go on", async (t) => {
  const ep = await endpoint(t);
  const s = stream(ep, { overflow: 'block', storeDurationMs: 2000, highWaterMark: 64 << 10, metricsIntervalMs: 50 });
  let refusals = 0;
  const pts: number[] = [];
  for (let i = 0; i < clip.frames.length; i++) {
    const p = T0 + Math.round((i * 1000) / clip.fps);
    pts.push(p);
    if (!s.putFrame(clip.frames[i]!, { pts: p })) {
      refusals++;
      await new Promise<void>((r) => s.once('drain', r));
    }
  }
  // A metrics event carries the same counters as metrics().
  const live = await new Promise<KvsMetrics>((r) => s.once('metrics', r));
  t.is(live.framesStored + live.queuedFrames, clip.frames.length);
  const { metrics } = await s.close();
  t.true(refusals > 0, 'the queue went above highWaterMark at least once');
  t.is(metrics.framesDropped, 0);
  t.is(metrics.framesStored, clip.frames.length);
  t.true(metrics.storeDurationMs <= 2000 + 1000);
  t.deepEqual(storedFrames(ep), pts);
});
