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
import { LocalKvsEndpoint } from '../ts/kvs';
import { device } from './helpers/pki';
import { makeClip, Clip } from './helpers/h264';
import { MosquittoBroker } from './helpers/mosquitto';
import { CLI } from './helpers/run';
import { tempDir } from './helpers/tmp';

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
  const ffmpeg = 'ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc=size=320x240:rate=25 -t 5 -pix_fmt yuv420p -c:v libx264 -preset ultrafast -bf 0 -g 25 -keyint_min 25 -sc_threshold 0 -f h264 -';
  const r = await sh(`${ffmpeg} | ${process.execPath} ${CLI} --json kvs stream --input - --stream lobby --region eu-west-1 --endpoint ${ep.url} ` +
    `--fps 25 --fragment-ms 1000 --url ${broker.url('tls')} --thing camera001 --cert ${cam.chain} --key ${cam.key} --ca ${path.join(dir, 'mqtt', 'ca.pem')}`, env);
  t.is(r.code, 0, r.stdout + r.stderr);
  const out = JSON.parse(r.stdout) as { frames: number; fragmentsPersisted: number; dropped: number };
  t.like(out, { frames: clip.frames.length, fragmentsPersisted: 5, dropped: 0 });
  const sessions = ep.sessions.filter((s) => s.stream === 'lobby');
  t.is(sessions.length, 1);
  t.is(sessions[0]!.frames, clip.frames.length);
  t.is(sessions[0]!.endedBy, 'client');
  const mine = await eventsOf('lobby', (e) => e.some((x) => x['event'] === 'stopped'));
  t.deepEqual(mine.map((e) => e['event']), ['started', 'connected', 'stopped']);
  t.like(mine[0], { version: 1, thing: 'camera001', stream: 'lobby', region: 'eu-west-1', endpoint: ep.url });
  t.like(mine[2], { status: 'ok', metrics: { framesStored: clip.frames.length, fragmentsPersisted: 5 } });
});

test.serial('a wrong secret: exit 1 with KVS_NOT_AUTHORIZED, and a failed `stopped` event', async (t) => {
  const env = { ...process.env, AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: 'not-the-secret' };
  const r = await sh(`${process.execPath} ${CLI} kvs stream --input ${clip.file} --stream denied --region eu-west-1 --endpoint ${ep.url} --url ${broker.url('plain')} --thing camera002`, env);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(r.stderr, /KVS_NOT_AUTHORIZED: .*403/);
  t.false(r.stderr.includes('not-the-secret'));
  const mine = await eventsOf('denied', (e) => e.some((x) => x['event'] === 'stopped'));
  t.like(mine.find((e) => e['event'] === 'stopped'), { status: 'failed', error: { code: 'KVS_NOT_AUTHORIZED' } });
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
