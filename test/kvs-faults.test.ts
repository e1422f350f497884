/**
 * The producer against an endpoint whose clock disagrees with the camera's
 * (a camera without NTP), and against ERROR acks for named fragments: the
 * real native producer, the local KVS endpoint checking SigV4 by its own clock.
 */
import test from 'ava';
import path from 'node:path';
import { KvsStream } from '../ts/kvs';
import { LocalKvsEndpoint } from '../ts/local';
import { makeClip, Clip } from './helpers/h264';
import { camwireAsync } from './helpers/run';
import { tempDir } from './helpers/tmp';

const dir = tempDir('kvs-faults');
const creds = { accessKeyId: 'AKIDFAULTS', secretAccessKey: 'faults-secret' };
let clip: Clip;

test.before(() => {
  clip = makeClip(dir, { seconds: 5, fps: 25, gop: 25 });
});

const env = () => ({ ...process.env, AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey });

for (const [name, offsetMs, words] of [
  ['15 minutes ahead', 15 * 60_000, /Signature expired/],
  ['15 minutes behind', -15 * 60_000, /Signature not yet current/],
] as const) {
  test.serial(`an endpoint whose clock is ${name}: camwire kvs stream corrects its signing clock, warns once, and every fragment is PERSISTED`, async (t) => {
    const ep = new LocalKvsEndpoint({ dir: path.join(dir, `skew${offsetMs}`), credentials: [creds], region: 'eu-west-1', clockOffsetMs: offsetMs });
    await ep.start();
    t.teardown(() => ep.stop());
    const r = await camwireAsync(
      [
        '--json',
        'kvs',
        'stream',
        '--input',
        clip.file,
        '--stream',
        'skewed',
        '--region',
        'eu-west-1',
        '--endpoint',
        ep.url,
        '--fps',
        '25',
        '--fragment-ms',
        '1000',
      ],
      { env: env() },
    ).done;
    t.is(r.code, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout) as {
      frames: number;
      fragmentsPersisted: number;
      dropped: number;
      clockOffsetMs: number;
      warnings: Array<{ code: string; message: string }>;
    };
    t.like(out, { frames: clip.frames.length, fragmentsPersisted: 5, dropped: 0 });
    // Date headers have whole seconds: the measured offset is within a second or so of the real one.
    t.true(Math.abs(out.clockOffsetMs - offsetMs) <= 1500, `measured ${out.clockOffsetMs} ms`);
    const warnings = out.warnings.filter((w) => w.code === 'KVS_CLOCK_SKEW');
    t.is(warnings.length, 1, r.stdout);
    t.regex(warnings[0]!.message, new RegExp(`15 min \\d+ s ${offsetMs > 0 ? 'behind' : 'ahead of'} the service's`));
    // Only the first request was refused (GetDataEndpoint), with AWS's words for it.
    t.is(ep.authFailures.length, 1);
    t.regex(ep.authFailures[0]!.message, words);
    const sessions = ep.sessions.filter((s) => s.stream === 'skewed');
    t.is(sessions.length, 1);
    t.is(sessions[0]!.frames, clip.frames.length);
  });
}

test.serial('the clock moves while streaming: the producer measures the new offset and goes on; nothing is lost', async (t) => {
  const ep = new LocalKvsEndpoint({ dir: path.join(dir, 'moving'), credentials: [creds], region: 'eu-west-1', faults: { dropAfterFragments: 2 } });
  await ep.start();
  t.teardown(() => ep.stop());
  const s = new KvsStream({ streamName: 'moving', region: 'eu-west-1', endpoint: ep.url, credentials: creds, fragmentDurationMs: 1000 });
  const warnings: string[] = [];
  s.on('warning', (e) => warnings.push(`${e.code}: ${e.message}`));
  let pts = Date.now();
  for (const [i, f] of clip.frames.entries()) {
    // After two fragments the service's clock jumps 20 minutes; the drop makes the producer sign again.
    if (i === 50) ep.setClockOffset(20 * 60_000);
    while (!s.putFrame(f, { pts })) await new Promise<void>((r) => s.once('drain', () => r()));
    pts += 40;
    if (i % 25 === 0) await new Promise((r) => setTimeout(r, 20));
  }
  const summary = await s.close();
  t.is(summary.metrics.framesStored, clip.frames.length);
  t.is(summary.metrics.framesDropped, 0);
  t.is(summary.metrics.fragmentsPersisted, 5);
  t.true(Math.abs(summary.metrics.clockOffsetMs - 20 * 60_000) <= 1500, `${summary.metrics.clockOffsetMs}`);
  t.is(warnings.filter((w) => w.startsWith('KVS_CLOCK_SKEW')).length, 1, warnings.join('\n'));
  const stored = new Map<number, number>();
  for (const rec of ep.sessions.filter((x) => x.stream === 'moving'))
    for (const g of rec.fragments) stored.set(g.timecode, Math.max(stored.get(g.timecode) ?? 0, g.frames));
  t.is(
    [...stored.values()].reduce((a, b) => a + b, 0),
    clip.frames.length,
  );
});

test.serial('a skew refusal without a Date header is an ordinary 403: the producer stops after its retries, naming the clock', async (t) => {
  const ep = new LocalKvsEndpoint({ dir: path.join(dir, 'nodate'), credentials: [creds], region: 'eu-west-1', clockOffsetMs: 15 * 60_000 });
  // A proxy that strips Date: the answer cannot be measured.
  ep.httpFaults.add({
    status: 403,
    count: Infinity,
    match: (req) => req.url === '/getDataEndpoint',
    body: JSON.stringify({ message: 'Signature expired: 20260101T000000Z is now earlier than 20260101T001000Z (20260101T001500Z - 5 min.)' }),
    headers: { 'content-type': 'application/json', 'x-amzn-errortype': 'InvalidSignatureException', date: '' },
  });
  await ep.start();
  t.teardown(() => ep.stop());
  const r = await camwireAsync(['kvs', 'stream', '--input', clip.file, '--stream', 'nodate', '--region', 'eu-west-1', '--endpoint', ep.url], { env: env() })
    .done;
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(r.stderr, /KVS_NOT_AUTHORIZED: .*Signature expired.*clock/);
  t.notRegex(r.stderr, /KVS_CLOCK_SKEW/);
});

test.serial('ERROR acks for named fragments (2 and 4): each is re-sent and kept; every frame arrives', async (t) => {
  const ep = new LocalKvsEndpoint({ dir: path.join(dir, 'named'), credentials: [creds], region: 'eu-west-1', faults: { errorAcks: { fragments: [2, 4] } } });
  await ep.start();
  t.teardown(() => ep.stop());
  const r = await camwireAsync(
    [
      '--json',
      'kvs',
      'stream',
      '--input',
      clip.file,
      '--stream',
      'named',
      '--region',
      'eu-west-1',
      '--endpoint',
      ep.url,
      '--fps',
      '25',
      '--fragment-ms',
      '1000',
    ],
    { env: env() },
  ).done;
  t.is(r.code, 0, r.stdout + r.stderr);
  const out = JSON.parse(r.stdout) as { frames: number; warnings: Array<{ code: string; message: string }> };
  t.like(out, { frames: clip.frames.length, fragmentsPersisted: 5, dropped: 0 });
  t.is(out.warnings.filter((w) => w.code === 'KVS_ACK_ERROR').length, 2, r.stdout);
  const sessions = ep.sessions.filter((s) => s.stream === 'named');
  t.deepEqual(
    sessions.map((s) => s.endedBy),
    ['fault-error', 'fault-error', 'client'],
  );
  const stored = new Map<number, number>();
  for (const rec of sessions) for (const g of rec.fragments) stored.set(g.timecode, Math.max(stored.get(g.timecode) ?? 0, g.frames));
  t.is(stored.size, 5);
  t.is(
    [...stored.values()].reduce((a, b) => a + b, 0),
    clip.frames.length,
  );
});
