/**
 * feedAnnexB, the file-as-live-camera source of `camwire device` and
 * `camwire kvs stream --realtime`: played at its frame rate (never more
 * than a few hundred milliseconds of frames ahead of the wall clock, however
 * low the bit rate), to the end of a file read in several chunks (the last
 * chunk may still be going in when the file stream has ended), and stopped
 * by its abort signal when looping. And the agent's synthetic source.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { CamwireError } from '../ts/errors';
import { KvsMetrics, KvsStream } from '../ts/kvs';
import { LocalKvsEndpoint } from '../ts/local';
import { feedAnnexB } from '../ts/kvs/feed';
import { DeviceAgent } from '../ts/orchestrator/agent';
import { parseAgentConfig } from '../ts/orchestrator/config';
import { CertificateAuthority } from '../ts/pki';
import { makeClip, probe } from './helpers/h264';
import { MosquittoBroker } from './helpers/mosquitto';
import { tempDir } from './helpers/tmp';

const dir = tempDir('kvs-feed');
const creds = { accessKeyId: 'AKIDFEED', secretAccessKey: 'feed-secret' };
let ep: LocalKvsEndpoint;

test.before(async () => {
  ep = new LocalKvsEndpoint({ dir: path.join(dir, 'kvs'), credentials: [creds], region: 'us-east-1' });
  await ep.start();
});
test.after.always(() => ep?.stop());

const open = (file: string) => () => fs.createReadStream(file, { highWaterMark: 8 << 10 });

test('realtime: a low-bit-rate clip in many chunks is played at its frame rate, to its last frame, all PERSISTED', async (t) => {
  const clip = makeClip(dir, { seconds: 3, fps: 30, size: '640x360', name: 'low.h264' });
  t.true(clip.h264.length > 3 * (8 << 10), 'the file spans several read chunks');
  const s = new KvsStream({ streamName: 'feed-realtime', region: 'us-east-1', endpoint: ep.url, credentials: creds, fps: 30, fragmentDurationMs: 1000 });
  // A clock of its own: each wait the pacing asks for moves it on at once, so
  // the test reads the schedule the feed keeps, not how fast this machine is.
  let now = 0;
  const waits: number[] = [];
  const clock = {
    now: () => now,
    wait: (ms: number, go: () => void) => {
      waits.push(ms);
      now += ms;
      setImmediate(go);
    },
  };
  await feedAnnexB(s, open(clip.file), { fps: 30, realtime: true, what: clip.file, clock });
  const { metrics } = await s.close();
  t.is(metrics.framesStored, 90);
  t.is(metrics.fragmentsPersisted, 3);
  // It waited whenever it was ahead, never with more than half a second of video in hand,
  // and those waits add up to the clip's length (3 s, less the lead it may end with).
  t.true(waits.length > 5, `${waits.length} waits`);
  t.true(Math.max(...waits) < 500, `largest lead ${Math.max(...waits).toFixed(0)} ms`);
  t.true(now >= 3000 - 500 && now <= 3000, `${now.toFixed(0)} ms of clip time waited`);
});

test('not realtime: as fast as it goes; looping stops on the abort signal', async (t) => {
  const clip = makeClip(dir, { seconds: 1, fps: 30, name: 'loop.h264' });
  const fast = new KvsStream({ streamName: 'feed-fast', region: 'us-east-1', endpoint: ep.url, credentials: creds, fps: 30, fragmentDurationMs: 1000 });
  await feedAnnexB(fast, open(clip.file), { fps: 30, realtime: false, what: clip.file });
  t.is((await fast.close()).metrics.framesStored, 30);
  const looped = new KvsStream({ streamName: 'feed-loop', region: 'us-east-1', endpoint: ep.url, credentials: creds, fps: 30, fragmentDurationMs: 1000 });
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 1500);
  await feedAnnexB(looped, open(clip.file), { fps: 30, realtime: true, loop: true, signal: stop.signal, what: clip.file });
  const { metrics } = await looped.close();
  t.true(metrics.framesStored > 30, `${metrics.framesStored} frames: more than one pass`);
  t.is(metrics.framesDropped, 0);
});

test('the device agent streams synthetic frames (kvs.source.synthetic) until stopped: all PERSISTED, and ffprobe decodes what the endpoint stored', async (t) => {
  const root = path.join(dir, 'agent');
  fs.mkdirSync(path.join(root, 'storage'), { recursive: true });
  // The agent without IoT credentials uses the standard AWS chain: here, the environment.
  process.env['AWS_ACCESS_KEY_ID'] = creds.accessKeyId;
  process.env['AWS_SECRET_ACCESS_KEY'] = creds.secretAccessKey;
  const config = parseAgentConfig(
    {
      thing: 'synthcam',
      storage: 'storage',
      ptp: { host: '127.0.0.1', port: 0 },
      kvs: {
        streamName: 'synthetic-live',
        region: 'us-east-1',
        endpoint: ep.url,
        fragmentDurationMs: 1000,
        source: { synthetic: { width: 96, height: 64 }, fps: 20 },
      },
    },
    root,
  );
  const agent = new DeviceAgent(config);
  const stopped = new Promise<{ metrics: KvsMetrics; error?: Error }>((resolve) => agent.once('stream-stopped', resolve));
  await agent.start();
  // Stop once two fragments have arrived (however busy the machine is).
  const deadline = Date.now() + 30_000;
  while (ep.sessions.filter((s) => s.stream === 'synthetic-live').reduce((n, s) => n + s.fragments.length, 0) < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  await agent.stop(10_000);
  const { metrics, error } = await stopped;
  t.is(error, undefined);
  t.true(metrics.framesStored >= 20, `${metrics.framesStored} frames`);
  t.true(metrics.fragmentsPersisted >= 2);
  t.is(metrics.framesDropped, 0);
  const sessions = ep.sessions.filter((s) => s.stream === 'synthetic-live');
  t.is(
    sessions.reduce((n, s) => n + s.frames, 0),
    metrics.framesStored,
  );
  t.is(
    metrics.fragmentsPersisted,
    sessions.reduce((n, s) => n + s.fragments.length, 0),
  );
  const mkv = path.join(ep.dir, 'synthetic-live', `session-${sessions[0]!.session}.mkv`);
  const p = probe(mkv);
  t.deepEqual([p.width, p.height], [96, 64]);
  t.is(p.frames, sessions[0]!.frames);
});

test('kvs.source: exactly one of file and synthetic; synthetic sizes are multiples of 16', (t) => {
  const base = { thing: 'synthcam', storage: '.', ptp: { host: '127.0.0.1', port: 0 }, kvs: { streamName: 's', region: 'us-east-1' } };
  const problems = (source: unknown) => {
    try {
      parseAgentConfig({ ...base, kvs: { ...base.kvs, source } }, dir);
      return [];
    } catch (e) {
      return ((e as CamwireError).details as { problems: string[] }).problems;
    }
  };
  t.deepEqual(problems({ synthetic: true }), []);
  t.true(problems({}).some((p) => /exactly one of file and synthetic/.test(p)));
  t.true(problems({ synthetic: true, file: 'x.h264' }).some((p) => /exactly one of file and synthetic/.test(p)));
  t.true(problems({ synthetic: { width: 100, height: 64 } }).some((p) => /multiples of 16/.test(p)));
  t.true(problems({ synthetic: true, fps: 200 }).some((p) => /1-60 with synthetic frames/.test(p)));
});

test('the agent stops within its bound when the broker died mid-stream (stream events cannot be acknowledged)', async (t) => {
  const root = path.join(dir, 'agent-no-broker');
  fs.mkdirSync(path.join(root, 'storage'), { recursive: true });
  const { ca } = await CertificateAuthority.create({ keyType: 'ec' });
  const mosquitto = await MosquittoBroker.start({ dir: fs.mkdtempSync(path.join(dir, 'mosq-')), ca });
  t.teardown(() => mosquitto.stop());
  process.env['AWS_ACCESS_KEY_ID'] = creds.accessKeyId;
  process.env['AWS_SECRET_ACCESS_KEY'] = creds.secretAccessKey;
  const agent = new DeviceAgent(
    parseAgentConfig(
      {
        thing: 'orphan',
        storage: 'storage',
        mqtt: { url: mosquitto.url('plain') },
        kvs: { streamName: 'orphan-live', region: 'us-east-1', endpoint: ep.url, fragmentDurationMs: 1000, source: { synthetic: true, fps: 10 } },
      },
      root,
    ),
  );
  agent.on('warning', () => undefined);
  await agent.start();
  const deadline = Date.now() + 30_000;
  while (!ep.sessions.some((s) => s.stream === 'orphan-live' && s.fragments.length > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await mosquitto.kill();
  // Bounded by 1.5 s for the stream and its events, then the connection's own close bounds (2 s + 5 s):
  // a stop that waited for the dead broker would never end, and this test's own timeout fails it.
  t.timeout(60_000);
  await agent.stop(1500);
  t.true(ep.sessions.some((s) => s.stream === 'orphan-live' && s.endedBy === 'client'));
});
