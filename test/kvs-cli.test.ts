/**
 * `camwire kvs stream` to the network, as a user runs it: ffmpeg pipes H.264
 * in, the CLI streams it to a KVS endpoint (the local one here) with
 * credentials from the environment, and publishes stream events on
 * cameras/{thing}/streams over mutual TLS to a real Mosquitto.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CertificateAuthority } from '../ts/pki';
import { DeviceConnection } from '../ts/mqtt';
import { LocalKvsEndpoint } from '../ts/local';
import { device } from './helpers/pki';
import { makeClip, Clip } from './helpers/h264';
import { MosquittoBroker } from './helpers/mosquitto';
import { CLI } from './helpers/run';
import { tempDir } from './helpers/tmp';
import { until } from './helpers/until';

const dir = tempDir('kvs-cli');
const creds = { accessKeyId: 'AKIDCLISTREAM', secretAccessKey: 'cli-stream-secret' };
let ca: CertificateAuthority;
let broker: MosquittoBroker;
let ep: LocalKvsEndpoint;
let watcher: DeviceConnection;
const events: Array<Record<string, unknown>> = [];
let clip: Clip;

test.before(async () => {
  ca = (await CertificateAuthority.create({ keyType: 'ec' })).ca;
  fs.mkdirSync(path.join(dir, 'mqtt'));
  broker = await MosquittoBroker.start({ dir: path.join(dir, 'mqtt'), ca });
  ep = new LocalKvsEndpoint({ dir: path.join(dir, 'kvs'), credentials: [creds], region: 'eu-west-1' });
  await ep.start();
  watcher = new DeviceConnection({ url: broker.url('plain'), thing: 'backend', status: false });
  await watcher.connect({ timeoutMs: 5000 });
  watcher.on('message', (_t, p) => events.push(JSON.parse(p.toString()) as Record<string, unknown>));
  await watcher.subscribe('cameras/+/streams');
  clip = makeClip(dir, { seconds: 5, fps: 25, gop: 25 });
});
test.after.always(async () => {
  await watcher?.close();
  await ep?.stop();
  await broker?.stop();
});

/** Runs a shell pipeline without blocking this process (the endpoint lives here). */
function sh(cmd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn('sh', ['-c', cmd], { env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function eventsOf(stream: string, until: (e: Array<Record<string, unknown>>) => boolean): Promise<Array<Record<string, unknown>>> {
  for (let i = 0; i < 100; i++) {
    const mine = events.filter((e) => e['stream'] === stream);
    if (until(mine)) return mine;
    await new Promise((r) => setTimeout(r, 50));
  }
  return events.filter((e) => e['stream'] === stream);
}

test.serial('ffmpeg | camwire kvs stream --input -: every frame reaches KVS, and the stream events arrive over mutual TLS', async (t) => {
  const cam = await device(ca, dir, 'camera001');
  const env = { ...process.env, AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey };
  const ffmpeg =
    'ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc=size=320x240:rate=25 -t 5 -pix_fmt yuv420p -c:v libx264 -preset ultrafast -bf 0 -g 25 -keyint_min 25 -sc_threshold 0 -f h264 -';
  const r = await sh(
    `${ffmpeg} | ${process.execPath} ${CLI} --json kvs stream --input - --stream lobby --region eu-west-1 --endpoint ${ep.url} ` +
      `--fps 25 --fragment-ms 1000 --url ${broker.url('tls')} --thing camera001 --cert ${cam.chain} --key ${cam.key} --ca ${path.join(dir, 'mqtt', 'ca.pem')}`,
    env,
  );
  t.is(r.code, 0, r.stdout + r.stderr);
  const out = JSON.parse(r.stdout) as { frames: number; fragmentsPersisted: number; dropped: number };
  t.like(out, { frames: clip.frames.length, fragmentsPersisted: 5, dropped: 0 });
  const sessions = ep.sessions.filter((s) => s.stream === 'lobby');
  t.is(sessions.length, 1);
  t.is(sessions[0]!.frames, clip.frames.length);
  t.is(sessions[0]!.endedBy, 'client');
  const mine = await eventsOf('lobby', (e) => e.some((x) => x['event'] === 'stopped'));
  t.deepEqual(
    mine.map((e) => e['event']),
    ['started', 'connected', 'stopped'],
  );
  t.like(mine[0], { version: 1, thing: 'camera001', stream: 'lobby', region: 'eu-west-1', endpoint: ep.url });
  t.like(mine[2], { status: 'ok', metrics: { framesStored: clip.frames.length, fragmentsPersisted: 5 } });
});

test.serial('a wrong secret: exit 1 with KVS_NOT_AUTHORIZED, and a failed `stopped` event', async (t) => {
  const env = { ...process.env, AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: 'not-the-secret' };
  const r = await sh(
    `${process.execPath} ${CLI} kvs stream --input ${clip.file} --stream denied --region eu-west-1 --endpoint ${ep.url} --url ${broker.url('plain')} --thing camera002`,
    env,
  );
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(r.stderr, /KVS_NOT_AUTHORIZED: .*403/);
  t.false(r.stderr.includes('not-the-secret'));
  const mine = await eventsOf('denied', (e) => e.some((x) => x['event'] === 'stopped'));
  t.like(
    mine.find((e) => e['event'] === 'stopped'),
    { status: 'failed', error: { code: 'KVS_NOT_AUTHORIZED' } },
  );
  t.true(mine.some((e) => e['event'] === 'error'));
});

test.serial('garbage or empty input to an endpoint fails with KVS_NO_CODEC_DATA, as it does with --out', async (t) => {
  const env = { ...process.env, AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey };
  const garbage = path.join(dir, 'garbage.h264');
  fs.writeFileSync(garbage, crypto.randomBytes(256 * 1024));
  const empty = path.join(dir, 'empty.h264');
  fs.writeFileSync(empty, '');
  for (const input of [garbage, empty]) {
    const offline = await sh(`${process.execPath} ${CLI} kvs stream --input ${input} --out ${path.join(dir, 'garbage.mkv')}`, env);
    t.is(offline.code, 1, offline.stdout + offline.stderr);
    t.regex(offline.stderr, /KVS_NO_CODEC_DATA/);
    const r = await sh(`${process.execPath} ${CLI} kvs stream --input ${input} --stream garbage --region eu-west-1 --endpoint ${ep.url}`, env);
    t.is(r.code, 1, r.stdout + r.stderr);
    t.regex(r.stderr, /KVS_NO_CODEC_DATA: .*held no H\.264 frames/);
  }
});

test.serial('kvs stream without --stream or --out explains itself', async (t) => {
  const r = await sh(`${process.execPath} ${CLI} kvs stream --input ${clip.file} --region eu-west-1`, process.env);
  t.is(r.code, 1);
  t.regex(r.stderr, /CLI_USAGE: kvs stream needs --stream NAME/);
});

test.serial('camwire kvs serve-local --drop-after 3: a drop at full speed loses no acks; every frame arrives over several connections', async (t) => {
  // Before, the endpoint reset the socket in the same turn it wrote the acks: 90 of
  // 600 frames stored and KVS_PERSIST_TIMEOUT. A drop must be only a drop.
  const clip600 = makeClip(dir, { seconds: 20, fps: 30, gop: 30, name: 'c600.h264' });
  const sessions = path.join(dir, 'serve-local');
  const env = { ...process.env, AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey };
  const server = spawn(
    process.execPath,
    [CLI, 'kvs', 'serve-local', '--dir', sessions, '--port', '0', '--region', 'eu-west-1', '--drop-after', '3', '--json'],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.teardown(() => {
    if (server.exitCode === null) server.kill('SIGKILL');
  });
  let out = '';
  server.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await until(() => out.includes('"url"') && out.trimEnd().endsWith('}'), 15_000);
  const url = (JSON.parse(out) as { url: string }).url;
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const r = await sh(
    `${process.execPath} ${CLI} kvs stream --input ${clip600.file} --stream drops --region eu-west-1 --endpoint ${url} --fragment-ms 1000`,
    env,
  );
  server.kill('SIGTERM');
  await new Promise((resolve) => server.once('exit', resolve));
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stderr, /KVS_CONNECTION_DROPPED/);
  t.regex(r.stdout, /600 frames in 20 fragment\(s\) PERSISTED over [6-9] connection\(s\)/);
  const stored = new Map<number, number>();
  const files = fs.readdirSync(path.join(sessions, 'drops')).filter((f) => f.endsWith('.json'));
  for (const f of files) {
    const rec = JSON.parse(fs.readFileSync(path.join(sessions, 'drops', f), 'utf8')) as {
      fragments: Array<{ timecode: number; frames: number }>;
      endedBy: string;
    };
    for (const g of rec.fragments) stored.set(g.timecode, Math.max(stored.get(g.timecode) ?? 0, g.frames));
  }
  t.is(
    [...stored.values()].reduce((a, b) => a + b, 0),
    600,
  );
  t.true(files.length >= 6, `${files.length} sessions`);
});
