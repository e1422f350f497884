/**
 * The local PutMedia endpoint: SigV4 checked by camwire's signer, the MKV
 * body parsed incrementally by the native reader, acks streamed per fragment,
 * faults injected on request. A small HTTP client in this file plays the
 * producer (chunked body, signed once at connect, as KVS producers do).
 */
import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { packageAnnexB } from '../ts/kvs';
import { LocalKvsEndpoint } from '../ts/local';
import { putMedia as putMediaAt, signedHeaders } from './helpers/putmedia';
import { run } from './helpers/run';
import { tempDir } from './helpers/tmp';

const dir = tempDir('kvs-local');
const creds = { accessKeyId: 'AKIDLOCALTEST0001', secretAccessKey: 'local-secret-key-0123456789' };
let clip: Buffer;
let clipFrames = 0;
let clipFragments = 0;

test.before(async () => {
  const h264 = path.join(dir, 'clip.h264');
  const r = run('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-f',
    'lavfi',
    '-i',
    'testsrc=size=320x240:rate=30',
    '-t',
    '4',
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
    '-f',
    'h264',
    h264,
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg (apt-get install ffmpeg): ${r.stderr}`);
  const p = await packageAnnexB(fs.readFileSync(h264), { fps: 30, fragmentDurationMs: 1000, absoluteTimecodes: true });
  clip = p.mkv;
  clipFrames = p.frames;
  clipFragments = p.fragments;
});

const putMedia = (ep: LocalKvsEndpoint, body: Buffer, o: { stream?: string; secret?: string; chunk?: number } = {}) =>
  putMediaAt(ep.port, body, { ...creds, ...(o.secret ? { secretAccessKey: o.secret } : {}) }, o);

async function endpoint(t: { teardown(f: () => Promise<void>): void }, faults = {}): Promise<LocalKvsEndpoint> {
  const ep = new LocalKvsEndpoint({ dir: path.join(dir, crypto.randomUUID()), credentials: [creds], region: 'us-east-1', faults });
  await ep.start();
  t.teardown(() => ep.stop());
  return ep;
}

test('PutMedia: every fragment BUFFERING, RECEIVED, PERSISTED in order; the stored session holds every frame', async (t) => {
  const ep = await endpoint(t);
  const r = await putMedia(ep, clip, { chunk: 4096 });
  t.is(r.status, 200, r.error);
  const persisted = r.acks.filter((a) => a.EventType === 'PERSISTED');
  t.is(persisted.length, clipFragments);
  const byFragment = new Map<number, string[]>();
  for (const a of r.acks) byFragment.set(a.FragmentTimecode!, [...(byFragment.get(a.FragmentTimecode!) ?? []), a.EventType]);
  for (const types of byFragment.values()) t.deepEqual(types, ['BUFFERING', 'RECEIVED', 'PERSISTED']);
  const tcs = persisted.map((a) => a.FragmentTimecode!);
  t.deepEqual(
    tcs,
    [...tcs].sort((a, b) => a - b),
  );
  t.true(persisted.every((a) => /^\d{40,}$/.test(a.FragmentNumber!)));
  const s = ep.sessions[0]!;
  t.is(s.endedBy, 'client');
  t.is(s.frameTimecodes.length, clipFrames);
  t.is(
    s.fragments.reduce((n, f) => n + f.frames, 0),
    clipFrames,
  );
  // What was stored is what was sent, and ffmpeg decodes it.
  const stored = path.join(ep.dir, 'camera001', 'session-1.mkv');
  t.true(fs.readFileSync(stored).equals(clip));
  t.is(run('ffmpeg', ['-v', 'error', '-i', stored, '-f', 'null', '-']).stderr, '');
});

test('a wrong secret is refused with 403 NotAuthorized before any body is read', async (t) => {
  const ep = await endpoint(t);
  const r = await putMedia(ep, clip, { secret: 'not-the-secret' });
  t.is(r.status, 403);
  t.is(ep.sessions.length, 0);
});

test('GetDataEndpoint: signed over its JSON body; answers the data endpoint', async (t) => {
  const ep = await endpoint(t);
  const body = JSON.stringify({ StreamName: 'camera001', APIName: 'PUT_MEDIA' });
  const call = (sha: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: ep.port,
          path: '/getDataEndpoint',
          method: 'POST',
          headers: signedHeaders(ep.port, '/getDataEndpoint', { 'content-type': 'application/json' }, sha, creds),
        },
        (res) => {
          let b = '';
          res.on('data', (d: Buffer) => {
            b += d.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const ok = await call(crypto.createHash('sha256').update(body).digest('hex'));
  t.is(ok.status, 200);
  t.deepEqual(JSON.parse(ok.body), { DataEndpoint: ep.url });
  const tampered = await call(crypto.createHash('sha256').update('{}').digest('hex'));
  t.is(tampered.status, 403);
});

test('fault: the connection dropped after 2 fragments', async (t) => {
  const ep = await endpoint(t, { dropAfterFragments: 2 });
  const r = await putMedia(ep, clip, { chunk: 2048 });
  t.truthy(r.error ?? (r.acks.length < clipFragments * 3 ? 'short' : undefined));
  t.is(ep.sessions[0]!.endedBy, 'fault-drop');
  t.is(r.acks.filter((a) => a.EventType === 'PERSISTED').length <= 2, true);
});

test('fault: a drop after 2 fragments at full speed still delivers the acks of those 2 (the fault is the drop, not lost acks)', async (t) => {
  const ep = await endpoint(t, { dropAfterFragments: 2 });
  // The whole clip in one write: every cluster is parsed in the same turn as the drop.
  const r = await putMedia(ep, clip);
  t.is(ep.sessions[0]!.endedBy, 'fault-drop');
  const persisted = r.acks.filter((a) => a.EventType === 'PERSISTED').length;
  t.is(persisted, 2, JSON.stringify(r.acks.map((a) => a.EventType)));
  t.is(r.acks.filter((a) => a.EventType === 'RECEIVED').length, 2);
});

test('fault: an ERROR ack with the injected id ends the session', async (t) => {
  const ep = await endpoint(t, { errorAck: { afterFragments: 1, errorId: 5000, errorCode: 'INTERNAL_ERROR' } });
  const r = await putMedia(ep, clip, { chunk: 2048 });
  const err = r.acks.find((a) => a.EventType === 'ERROR');
  t.truthy(err);
  t.is(err!.ErrorId, 5000);
  t.is(ep.sessions[0]!.endedBy, 'fault-error');
});

test('invalid MKV: an ERROR ack 4006 (INVALID_MKV_DATA)', async (t) => {
  const ep = await endpoint(t);
  // A byte that cannot start an element id, where the second cluster begins.
  const second = clip.indexOf(Buffer.from([0x1f, 0x43, 0xb6, 0x75]), clip.indexOf(Buffer.from([0x1f, 0x43, 0xb6, 0x75])) + 4);
  const bad = Buffer.concat([clip.subarray(0, second), Buffer.from([0x00, 0x00]), clip.subarray(second)]);
  const twoSegments = Buffer.concat([clip, clip]);
  for (const body of [bad, twoSegments]) {
    const r = await putMedia(ep, body);
    t.true(
      r.acks.some((a) => a.EventType === 'ERROR' && a.ErrorId === 4006),
      JSON.stringify(r.acks.slice(-2)),
    );
  }
});
