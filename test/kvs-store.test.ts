/**
 * The disk-backed store (--store-dir): an outage and a killed producer lose
 * nothing. The real CLI against the local KVS endpoint, killed with SIGKILL.
 */
import test from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { KvsStream } from '../ts/kvs';
import { LocalKvsEndpoint } from '../ts/local';
import { makeClip, Clip } from './helpers/h264';
import { camwireAsync } from './helpers/run';
import { tempDir } from './helpers/tmp';

const dir = tempDir('kvs-store');
const creds = { accessKeyId: 'AKIDSTORE', secretAccessKey: 'store-secret' };
let clip: Clip;

test.before(() => {
  clip = makeClip(dir, { seconds: 8, fps: 25, gop: 25 });
});

const env = () => ({ ...process.env, AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey });

/** A port on 127.0.0.1 where nothing listens (the endpoint is down). */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

test.serial(
  'endpoint down, producer killed after 5 s, restarted with the same --store-dir once the endpoint is up: every frame of both runs is delivered',
  async (t) => {
    const store = path.join(dir, 'store');
    const port = await deadPort();
    const first = camwireAsync(
      [
        'kvs',
        'stream',
        '--input',
        clip.file,
        '--realtime',
        '--fps',
        '25',
        '--fragment-ms',
        '1000',
        '--stream',
        'outage',
        '--region',
        'eu-west-1',
        '--endpoint',
        `http://127.0.0.1:${port}`,
        '--store-dir',
        store,
      ],
      { env: env() },
    );
    await new Promise((r) => setTimeout(r, 5000));
    first.child.kill('SIGKILL');
    const r1 = await first.done;
    t.is(r1.signal, 'SIGKILL', r1.stderr);
    t.regex(r1.stderr, /KVS_UNREACHABLE/);
    t.true(fs.readdirSync(store).some((f) => f.endsWith('.kvsfrag')));

    const ep = new LocalKvsEndpoint({ dir: path.join(dir, 'kvs'), credentials: [creds], region: 'eu-west-1' });
    await ep.start();
    t.teardown(() => ep.stop());
    const second = camwireAsync(
      [
        '--json',
        'kvs',
        'stream',
        '--input',
        clip.file,
        '--fps',
        '25',
        '--fragment-ms',
        '1000',
        '--stream',
        'outage',
        '--region',
        'eu-west-1',
        '--endpoint',
        ep.url,
        '--store-dir',
        store,
      ],
      { env: env() },
    );
    const r2 = await second.done;
    t.is(r2.code, 0, r2.stdout + r2.stderr);
    const out = JSON.parse(r2.stdout) as { frames: number; framesRecovered: number; dropped: number; warnings: Array<{ code: string; message: string }> };
    t.is(out.frames, clip.frames.length);
    t.is(out.dropped, 0);
    // About 5 s at 25 fps were packaged before the kill (less the start-up).
    t.true(out.framesRecovered >= 75 && out.framesRecovered <= 130, `${out.framesRecovered} recovered`);
    t.truthy(out.warnings.find((w) => w.code === 'KVS_STORE_RECOVERED'));

    const timecodes = new Set<number>();
    for (const s of ep.sessions.filter((x) => x.stream === 'outage')) for (const tc of s.frameTimecodes) timecodes.add(tc);
    t.is(timecodes.size, out.framesRecovered + clip.frames.length, 'every frame of both runs, each once');
    // Run 1's frames are contiguous (40 ms apart) from its first key frame, and sent before run 2's.
    const all = [...timecodes].sort((a, b) => a - b);
    const run1 = all.slice(0, out.framesRecovered);
    const gaps = run1.flatMap((tc, i) => (i > 0 && tc - run1[i - 1]! !== 40 ? [`${i}: +${tc - run1[i - 1]!}`] : []));
    t.deepEqual(gaps, [], `run 1: ${run1.length} frames from ${run1[0]}`);
    const firstSession = ep.sessions.find((x) => x.stream === 'outage')!;
    t.is(firstSession.frameTimecodes[0], run1[0]);
    // What was delivered is gone from the store.
    t.deepEqual(
      fs.readdirSync(store).filter((f) => f.endsWith('.kvsfrag')),
      [],
    );
  },
);

test.serial(
  'a long outage with a small disk bound: the oldest fragments are dropped with KVS_STORE_EVICTED, RAM holds about one fragment, the rest stays on disk',
  async (t) => {
    const store = path.join(dir, 'small');
    const port = await deadPort();
    const s = new KvsStream({
      streamName: 'evict',
      region: 'eu-west-1',
      dataEndpoint: `http://127.0.0.1:${port}`,
      credentials: creds,
      fragmentDurationMs: 1000,
      storeBytes: 1 << 20,
      storeDir: store,
      backoffMaxMs: 200,
      persistTimeoutMs: 500,
    });
    const warnings: string[] = [];
    s.on('warning', (e) => warnings.push(e.code));
    const big = makeClip(dir, { seconds: 20, fps: 25, gop: 25, bitrate: '800k', name: 'big.h264' });
    let pts = Date.now();
    let maxInMemory = 0;
    for (const f of big.frames) {
      s.putFrame(f, { pts });
      pts += 40;
      if (pts % 400 === 0) await new Promise((r) => setTimeout(r, 5));
      maxInMemory = Math.max(maxInMemory, s.metrics().storeBytesInMemory);
    }
    await new Promise((r) => setTimeout(r, 300));
    const m = s.metrics();
    t.true(warnings.includes('KVS_STORE_EVICTED'), warnings.join(','));
    t.true(m.storeBytes <= 1 << 20);
    t.true(m.framesDropped > 0);
    t.true(maxInMemory < 512 << 10, `RAM held ${maxInMemory} bytes of a 1 MiB store`);
    await s.close().catch(() => undefined); // the endpoint never came up: KVS_PERSIST_TIMEOUT, the rest stays on disk
    t.true(fs.readdirSync(store).filter((f) => f.endsWith('.kvsfrag')).length > 0);
  },
);

test.serial('a second producer on the same --store-dir is refused with KVS_STORE_LOCKED', (t) => {
  const store = path.join(dir, 'locked');
  const a = new KvsStream({ streamName: 'a', region: 'eu-west-1', dataEndpoint: 'http://127.0.0.1:9', credentials: creds, storeDir: store });
  t.teardown(() => a.abort());
  const err = t.throws(() => new KvsStream({ streamName: 'b', region: 'eu-west-1', dataEndpoint: 'http://127.0.0.1:9', credentials: creds, storeDir: store }));
  t.is((err as { code?: string }).code, 'KVS_STORE_LOCKED');
});
