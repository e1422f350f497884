/**
 * camwire/local's LocalCloud: the four stand-ins started at once, each behind
 * its FaultProxy, and every fault kind shown acting on real peers (Mosquitto's
 * clients, curl) and on camwire's own clients: refuse, stall, delay, cut,
 * drop, and HTTP error answers.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isCamwireError } from '../ts/errors';
import { IotCredentialsProvider, KvsStream } from '../ts/kvs';
import { LocalCloud } from '../ts/local';
import { DeviceConnection } from '../ts/mqtt';
import { CertificateAuthority } from '../ts/pki';
import { presignPut } from '../ts/upload/presign';
import { Uploader } from '../ts/upload';
import { makeClip } from './helpers/h264';
import { device, DeviceFiles } from './helpers/pki';
import { tempDir } from './helpers/tmp';
import { until } from './helpers/until';

const dir = tempDir('cloud');
const keys = { accessKeyId: 'AKIDLOCALCLOUD', secretAccessKey: 'local-cloud-secret' };
let cloud: LocalCloud;
let caFile: string;
let cam: DeviceFiles;

test.before(async () => {
  const made = await CertificateAuthority.create({ commonName: 'local cloud test CA', keyType: 'ec' });
  caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, made.certPem);
  const server = await made.ca.issueServer('127.0.0.1', ['127.0.0.1'], { keyType: 'ec' });
  cam = await device(made.ca, dir, 'cam-faults', { keyType: 'ec' });
  cloud = await LocalCloud.start({ dir, tls: { cert: server.certPem, key: server.keyPem, ca: made.certPem }, keys, buckets: ['media'], roleAlias: 'cam-role' });
});
test.after.always(async () => {
  await cloud?.stop();
});
test.afterEach.always(() => cloud.clearFaults());

function run(cmd: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 30_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

/** The device under test over MQTT through the proxy: its own certificate, the bench CA. */
function camera(backoff?: { baseMs: number; capMs: number }): DeviceConnection {
  return new DeviceConnection({
    url: cloud.urls.mqtt!,
    thing: 'cam-faults',
    cert: fs.readFileSync(cam.cert),
    key: fs.readFileSync(cam.key),
    ca: fs.readFileSync(caFile),
    ...(backoff ? { backoff } : {}),
  });
}

const mqttPort = () => String(cloud.proxies.mqtt!.port);
const pub = (topic: string) =>
  run('mosquitto_pub', [
    '-h',
    '127.0.0.1',
    '-p',
    mqttPort(),
    '--cafile',
    caFile,
    '--cert',
    cam.cert,
    '--key',
    cam.key,
    '-i',
    'cam-faults',
    '-q',
    '1',
    '-t',
    topic,
    '-m',
    'x',
  ]);

test.serial("every service is up behind its own proxy, and the URLs handed out are the proxies'", (t) => {
  for (const name of ['mqtt', 's3', 'kvs', 'iot-credentials'] as const) t.truthy(cloud.proxies[name], name);
  t.is(cloud.urls.mqtt, `mqtts://127.0.0.1:${cloud.proxies.mqtt!.port}`);
  t.not(cloud.proxies.mqtt!.port, cloud.broker!.port);
  t.is(cloud.urls.s3, `http://127.0.0.1:${cloud.proxies.s3!.port}`);
  t.is(cloud.urls.kvs, `https://127.0.0.1:${cloud.proxies.kvs!.port}`);
  t.is(cloud.urls.iotCredentials, `https://127.0.0.1:${cloud.proxies['iot-credentials']!.port}`);
});

test.serial(
  'refuse: a device cannot connect through the proxy (each attempt reset); pass: mosquitto_pub publishes (mutual TLS ends at the broker)',
  async (t) => {
    // Not mosquitto_pub for the refusal: a reset during its TLS handshake makes it spin until killed (mosquitto 2.0.11).
    const published: string[] = [];
    const on = (p: { topic: string }) => published.push(p.topic);
    cloud.broker!.on('published', on);
    t.teardown(() => cloud.broker!.off('published', on));
    const refusedBefore = cloud.proxies.mqtt!.connections;
    const kinds: string[] = [];
    const onConn = (c: { fault: string }) => kinds.push(c.fault);
    cloud.proxies.mqtt!.on('connection', onConn);
    t.teardown(() => cloud.proxies.mqtt!.off('connection', onConn));
    cloud.proxies.mqtt!.set({ kind: 'refuse' });
    const conn = camera({ baseMs: 50, capMs: 100 });
    const errors: string[] = [];
    conn.on('error', (e) => errors.push(e.code));
    // connect() gives up with the last attempt's cause: the reset.
    const e = await t.throwsAsync(conn.connect({ timeoutMs: 2000 }));
    t.true(isCamwireError(e, 'MQTT_CONNECTION_LOST'), String(e));
    t.regex(e!.message, /ECONNRESET/);
    await conn.close();
    t.true(cloud.proxies.mqtt!.connections - refusedBefore >= 2, 'it kept retrying');
    t.true(kinds.length >= 2 && kinds.every((k) => k === 'refuse'), kinds.join());
    t.true(errors.length >= 2 && errors.every((c) => c === 'MQTT_CONNECTION_LOST' || c === 'MQTT_TLS' || c === 'MQTT_UNREACHABLE'), errors.join());
    t.false(published.includes('cameras/cam-faults/telemetry'));
    cloud.proxies.mqtt!.set({ kind: 'pass' });
    const ok = await pub('cameras/cam-faults/telemetry');
    t.is(ok.status, 0, ok.stderr);
    await until(() => published.includes('cameras/cam-faults/telemetry'));
  },
);

test.serial('stall: a connect through a stalled link times out; once it passes, the same client connects', async (t) => {
  cloud.proxies.mqtt!.set({ kind: 'stall' });
  const conn = camera();
  conn.on('error', () => undefined);
  const e = await t.throwsAsync(conn.connect({ timeoutMs: 1500 }));
  t.true(isCamwireError(e, 'MQTT_CONNECT_TIMEOUT'), String(e));
  await conn.close();
  cloud.proxies.mqtt!.set({ kind: 'pass' });
  const again = camera();
  let connected = 0;
  again.on('connect', () => {
    connected++;
  });
  await again.connect({ timeoutMs: 10_000 });
  t.is(connected, 1, 'the second client got its CONNACK through the released link');
  await again.close();
});

test.serial('drop: every open connection is reset; the device reconnects by itself and its QoS 1 message arrives', async (t) => {
  const conn = camera({ baseMs: 50, capMs: 200 });
  const errors: string[] = [];
  conn.on('error', (e) => errors.push(e.code));
  let connects = 0;
  conn.on('connect', () => {
    connects++;
  });
  await conn.connect({ timeoutMs: 10_000 });
  const published: string[] = [];
  const on = (p: { topic: string }) => published.push(p.topic);
  cloud.broker!.on('published', on);
  t.teardown(() => cloud.broker!.off('published', on));
  t.is(cloud.proxies.mqtt!.drop(), 1);
  await conn.publish('cameras/cam-faults/after-drop', 'x', { qos: 1 });
  await until(() => published.includes('cameras/cam-faults/after-drop'), 10_000);
  t.true(connects >= 2, `${connects} connects`);
  t.true(errors.includes('MQTT_CONNECTION_LOST'), errors.join());
  await conn.close();
});

test.serial('cut and delay: curl through the S3 proxy gets a cut-off body after the cut, the whole body through a delay', async (t) => {
  const body = crypto.randomBytes(256 << 10);
  const putTarget = await presignPut({
    endpoint: cloud.urls.s3!,
    region: 'us-east-1',
    bucket: 'media',
    key: 'cut/object.bin',
    credentials: keys,
    contentType: 'application/octet-stream',
  });
  const file = path.join(dir, 'object.bin');
  fs.writeFileSync(file, body);
  await new Uploader().upload(file, putTarget);
  const get = await presignGet('cut/object.bin');
  cloud.proxies.s3!.set({ kind: 'cut', afterBytes: 64 << 10 });
  const cut = await run('curl', ['-sS', '-o', path.join(dir, 'cut.bin'), '-w', '%{size_download}', get]);
  t.not(cut.status, 0, 'curl sees the connection reset');
  t.true(Number(cut.stdout) < body.length, `${cut.stdout} bytes`);
  cloud.proxies.s3!.set({ kind: 'delay', ms: 20 });
  const slow = await run('curl', ['-sS', '-o', path.join(dir, 'slow.bin'), get]);
  t.is(slow.status, 0, slow.stderr);
  t.true(fs.readFileSync(path.join(dir, 'slow.bin')).equals(body));
  // Switched while chunks are held: what was delayed still goes first, in order, nothing lost.
  cloud.proxies.s3!.set({ kind: 'delay', ms: 30 });
  const switching = run('curl', ['-sS', '-o', path.join(dir, 'switch.bin'), get]);
  await new Promise((r) => setTimeout(r, 100));
  cloud.proxies.s3!.set({ kind: 'pass' });
  const switched = await switching;
  t.is(switched.status, 0, switched.stderr);
  t.true(fs.readFileSync(path.join(dir, 'switch.bin')).equals(body));
});

async function presignGet(key: string): Promise<string> {
  const { S3Client, GetObjectCommand } = await import('@aws-sdk/client-s3');
  const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
  const s3 = new S3Client({ region: 'us-east-1', endpoint: cloud.urls.s3!, forcePathStyle: true, credentials: keys });
  return getSignedUrl(s3, new GetObjectCommand({ Bucket: 'media', Key: key }), { expiresIn: 600 });
}

test.serial('HTTP error answers: two 503s to PUT are retried by the uploader; curl meets the injected answer first', async (t) => {
  const file = path.join(dir, 'retry.bin');
  fs.writeFileSync(file, crypto.randomBytes(10_000));
  const target = await presignPut({
    endpoint: cloud.urls.s3!,
    region: 'us-east-1',
    bucket: 'media',
    key: 'retry/x.bin',
    credentials: keys,
    contentType: 'application/octet-stream',
  });
  const faults = cloud.faults.s3!;
  const before = faults.answered;
  faults.add({ status: 503, count: 2, match: (req) => req.method === 'PUT' });
  const retries: string[] = [];
  const up = new Uploader({ backoff: { baseMs: 10, capMs: 50 } });
  up.on('retry', (r) => retries.push(r.error));
  const result = await up.upload(file, target);
  t.is(result.status, 'uploaded');
  t.is(retries.length, 2, retries.join(' | '));
  t.is(faults.answered - before, 2);
  faults.add({ status: 500, body: 'injected', headers: { 'content-type': 'text/plain' } });
  const curl = await run('curl', ['-s', '-o', '-', '-w', ' %{http_code}', `${cloud.urls.s3!}/media/retry/x.bin`]);
  t.is(curl.stdout, 'injected 500');
});

test.serial(
  'drop mid-stream: the KVS producer reconnects through the proxy and every frame is PERSISTED; credentials from the proxied provider, an injected 503 refused',
  async (t) => {
    const provider = new IotCredentialsProvider({
      endpoint: cloud.urls.iotCredentials!,
      roleAlias: 'cam-role',
      thing: 'cam-faults',
      cert: fs.readFileSync(cam.cert),
      key: fs.readFileSync(cam.key),
      ca: fs.readFileSync(caFile),
    });
    cloud.faults.iotCredentials!.add({ status: 503 });
    const denied = await t.throwsAsync(provider.get());
    t.true(isCamwireError(denied, 'KVS_CREDENTIALS_FAILED'), String(denied));
    const clip = makeClip(dir, { seconds: 4, fps: 30, name: 'drop.h264' });
    const s = new KvsStream({
      streamName: 'through-proxy',
      region: 'us-east-1',
      endpoint: cloud.urls.kvs!,
      caFile,
      credentials: provider,
      fps: 30,
      fragmentDurationMs: 1000,
      backoffBaseMs: 50,
      backoffMaxMs: 200,
    });
    const warnings: string[] = [];
    s.on('warning', (e) => warnings.push(e.code));
    const half = Math.floor(clip.h264.length / 2);
    s.putAnnexB(clip.h264.subarray(0, half));
    await until(() => s.metrics().fragmentsPersisted >= 1, 15_000);
    t.true(cloud.proxies.kvs!.drop() >= 1, 'a PutMedia connection was open');
    s.putAnnexB(clip.h264.subarray(half));
    const { metrics } = await s.close();
    t.is(metrics.framesStored, 120);
    t.is(metrics.fragmentsPersisted, 4);
    t.true(metrics.connections >= 2, `${metrics.connections} connections`);
    t.true(
      warnings.some((w) => w === 'KVS_CONNECTION_DROPPED' || w === 'KVS_CONNECTION_ENDED'),
      warnings.join(),
    );
    const frames = cloud
      .kvs!.sessions.filter((x) => x.stream === 'through-proxy')
      .flatMap((x) => x.fragments)
      .reduce((n, f) => n + f.frames, 0);
    t.true(frames >= 120, `${frames} frames at the endpoint (re-sent ones counted twice)`);
  },
);
