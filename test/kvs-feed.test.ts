/**
 * feedAnnexB, the file-as-live-camera source of `camwire device` and
 * `camwire kvs stream --realtime`: played at its frame rate (never more
 * than a few hundred milliseconds of frames ahead of the wall clock, however
 * low the bit rate), to the end of a file read in several chunks (the last
 * chunk may still be going in when the file stream has ended), and stopped
 * by its abort signal when looping.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { KvsStream, LocalKvsEndpoint } from '../ts/kvs';
import { feedAnnexB } from '../ts/kvs/feed';
import { makeClip } from './helpers/h264';
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
  const started = Date.now();
  let worstLeadMs = -Infinity;
  const sample = setInterval(() => {
    const m = s.metrics();
    const lead = ((m.framesStored + m.queuedFrames) * 1000) / 30 - (Date.now() - started);
    worstLeadMs = Math.max(worstLeadMs, lead);
  }, 20);
  await feedAnnexB(s, open(clip.file), { fps: 30, realtime: true, what: clip.file });
  clearInterval(sample);
  const { metrics } = await s.close();
  t.is(metrics.framesStored, 90);
  t.is(metrics.fragmentsPersisted, 3);
  // The frames went in at the clip's pace: never half a second of video ahead of the clock.
  t.true(worstLeadMs < 500, `lead of ${worstLeadMs.toFixed(0)} ms`);
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
