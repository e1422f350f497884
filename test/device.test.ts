/**
 * The device agent (`camwire device`) against real peers: Mosquitto with
 * mutual TLS and OpenStack Swift's S3 API. One target arrives over MQTT,
 * one over PTP as a ticket file sent by gphoto2; both end in published
 * results whose sha256 matches the stored object. An agent SIGKILLed in the
 * middle of a multipart upload is restarted, finishes that upload, and
 * publishes its result once.
 */
import test, { ExecutionContext } from 'ava';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CertificateAuthority } from '../ts/pki';
import { DeviceConnection } from '../ts/mqtt';
import { presignMultipart, presignPut } from '../ts/upload/presign';
import { loadAgentConfig, parseAgentConfig } from '../ts/orchestrator/config';
import { LocalKvsEndpoint } from '../ts/local';
import { makeClip } from './helpers/h264';
import { MosquittoBroker } from './helpers/mosquitto';
import { device } from './helpers/pki';
import { CLI } from './helpers/run';
import { S3_CREDENTIALS, SwiftS3 } from './helpers/swift';
import { tempDir } from './helpers/tmp';

const dir = tempDir('device');
const storage = path.join(dir, 'storage');
const folder = path.join(storage, 'DCIM', '100CAMWR');
const home = path.join(dir, 'home');
let swift: SwiftS3;
let broker: MosquittoBroker;
let ca: CertificateAuthority;
let backend: DeviceConnection;
let s3: S3Client;
const results: Array<{ id: string; status: string; sha256?: string; source?: string }> = [];

test.before(async () => {
  fs.mkdirSync(folder, { recursive: true });
  fs.mkdirSync(path.join(home, '.gphoto'), { recursive: true });
  fs.writeFileSync(path.join(folder, 'DSC00001.JPG'), crypto.randomBytes(123_457));
  fs.writeFileSync(path.join(folder, 'trailer.mp4'), crypto.randomBytes(11 * 1024 * 1024 + 3));
  fs.writeFileSync(path.join(folder, 'long.mp4'), crypto.randomBytes(60 * 1024 * 1024));
  ca = (await CertificateAuthority.create({ keyType: 'ec' })).ca;
  fs.mkdirSync(path.join(dir, 'mqtt'));
  [swift, broker] = await Promise.all([SwiftS3.start(path.join(dir, 'swift')), MosquittoBroker.start({ dir: path.join(dir, 'mqtt'), ca })]);
  s3 = new S3Client({ region: 'us-east-1', endpoint: swift.endpoint, forcePathStyle: true, credentials: S3_CREDENTIALS });
  await s3.send(new CreateBucketCommand({ Bucket: 'media' }));
  backend = new DeviceConnection({ url: broker.url('plain'), thing: 'backend', status: false });
  await backend.connect({ timeoutMs: 5000 });
  backend.on('message', (topic, p) => {
    if (topic.endsWith('/uploads')) results.push(JSON.parse(p.toString()) as (typeof results)[number]);
  });
  await backend.subscribe('cameras/+/uploads');
});
test.after.always(async () => {
  await backend?.close();
  await Promise.all([swift?.stop(), broker?.stop()]);
});

async function config(name: string, o: { ptpPort?: number } = {}): Promise<string> {
  const cam = await device(ca, dir, 'camera001', { keyType: 'ec' }, `camera001-${name}`);
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(
    file,
    JSON.stringify({
      thing: 'camera001',
      storage,
      mqtt: { url: broker.url('tls'), cert: cam.chain, key: cam.key, ca: path.join(dir, 'mqtt', 'ca.pem'), outboxDir: path.join(dir, name, 'outbox') },
      ...(o.ptpPort !== undefined ? { ptp: { port: o.ptpPort } } : {}),
      upload: { journalDir: path.join(dir, name, 'journal'), jobsDir: path.join(dir, name, 'jobs') },
    }),
  );
  return file;
}

interface Agent {
  proc: ChildProcess;
  lines: Array<Record<string, unknown>>;
  stderr: () => string;
  closed: Promise<number | null>;
}

function startAgent(file: string, env: NodeJS.ProcessEnv = process.env): Agent {
  // CAMWIRE_DEBUG=exit: an agent that lingers after stopping names what held it.
  const proc = spawn(process.execPath, [CLI, '--json', 'device', '--config', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { CAMWIRE_DEBUG: 'exit', ...env },
  });
  const lines: Array<Record<string, unknown>> = [];
  let buf = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    for (const l of parts) if (l.startsWith('{')) lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const closed = new Promise<number | null>((r) => proc.once('close', (c) => r(c)));
  return { proc, lines, stderr: () => err, closed };
}

/** The agent's exit code, or an error with what it printed if it does not end in time (never a hang). */
async function exitOf(t: ExecutionContext, a: Agent, ms = 45_000): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      a.proc.kill('SIGKILL');
      reject(new Error(`the agent did not exit within ${ms} ms\nevents: ${JSON.stringify(a.lines.map((l) => l['event']))}\nstderr: ${a.stderr()}`));
    }, ms);
  });
  try {
    return await Promise.race([a.closed, late]);
  } finally {
    clearTimeout(timer);
    const lingered = /camwire: still open .*/.exec(a.stderr());
    if (lingered) t.log(lingered[0]);
  }
}

async function until<T>(f: () => T | undefined, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function storedSha256(key: string): Promise<string> {
  const r = await s3.send(new GetObjectCommand({ Bucket: 'media', Key: key }));
  return crypto
    .createHash('sha256')
    .update(Buffer.from(await r.Body!.transformToByteArray()))
    .digest('hex');
}

const presignBase = (key: string, id: string) => ({ endpoint: swift.endpoint, bucket: 'media', key, id, credentials: S3_CREDENTIALS });

test('the annotated example configuration in docs/ is valid', (t) => {
  const d = tempDir('device-example');
  for (const f of ['certs/camera001.chain.pem', 'certs/camera001.key', 'certs/broker-ca.pem', 'clips/live.h264']) {
    fs.mkdirSync(path.join(d, path.dirname(f)), { recursive: true });
    fs.writeFileSync(path.join(d, f), 'x');
  }
  fs.mkdirSync(path.join(d, 'store'));
  fs.copyFileSync(path.join(__dirname, '..', 'docs', 'device-config.example.json'), path.join(d, 'camera.json'));
  const c = loadAgentConfig(path.join(d, 'camera.json'));
  t.like(c, { thing: 'camera001', storage: path.join(d, 'store'), ptp: { host: '127.0.0.1', port: 15740, usb: false }, upload: { concurrency: 2 } });
  t.is(c.mqtt?.cert, path.join(d, 'certs', 'camera001.chain.pem'));
  t.like(c.kvs, {
    streamName: 'camera001',
    region: 'eu-west-1',
    source: { file: path.join(d, 'clips', 'live.h264'), fps: 30, loop: true },
    iotCredentials: { roleAlias: 'camera-kvs' },
  });
});

test('the configuration: every problem listed in one error', (t) => {
  const e = t.throws(() => parseAgentConfig({ thing: 'bad thing!', mqtt: { url: 'http://x' }, ptp: { port: 99999 }, extra: 1 }, dir));
  t.is((e as { code?: string }).code, 'CONFIG_INVALID');
  for (const p of ['unknown key "extra"', 'thing', 'storage is required', 'mqtt.url', 'ptp.port']) t.true(e!.message.includes(p), p);
  t.throws(() => loadAgentConfig(path.join(dir, 'missing.json')), { code: 'CONFIG_NOT_FOUND' });
});

test.serial('a target over MQTT and one over PTP (a ticket sent by gphoto2) both end in published results matching the stored objects', async (t) => {
  const file = await config('both', { ptpPort: 0 });
  const agent = startAgent(file);
  t.teardown(() => {
    agent.proc.kill('SIGKILL');
  });
  const ready = await until(() => agent.lines.find((l) => l['event'] === 'ready'));
  const port = (ready['ptp'] as { port: number }).port;
  // From the cloud: a single PUT for the photo.
  const photo = await presignPut({ ...presignBase('devices/camera001/DSC00001.JPG', 'mqtt-photo'), contentType: 'image/jpeg' });
  await backend.publish('cameras/camera001/upload-targets', JSON.stringify({ ...photo, object: { path: 'DCIM/100CAMWR/DSC00001.JPG' } }));
  // From the app over PTP: a multipart target as a ticket file, sent by gphoto2.
  const trailer = await presignMultipart({
    ...presignBase('devices/camera001/trailer.mp4', 'ptp-trailer'),
    size: fs.statSync(path.join(folder, 'trailer.mp4')).size,
    partSize: 5 * 1024 * 1024,
  });
  const ticket = path.join(dir, 'trailer.camwire.json');
  fs.writeFileSync(ticket, JSON.stringify({ ...trailer, object: { path: 'DCIM/100CAMWR/trailer.mp4' } }));
  fs.writeFileSync(path.join(home, '.gphoto', 'settings'), 'ptp2_ip=guid=00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff\n');
  const g = spawnSync('gphoto2', ['--port', `ptpip:127.0.0.1:${port}:${port}`, '--folder', '/store_00010001/DCIM', '--upload-file', ticket], {
    encoding: 'utf8',
    env: { ...process.env, HOME: home },
  });
  t.is(g.status, 0, g.stderr);
  const a = await until(() => results.find((r) => r.id === 'mqtt-photo'));
  const b = await until(() => results.find((r) => r.id === 'ptp-trailer'));
  t.like(a, { status: 'uploaded', source: 'mqtt' });
  t.like(b, { status: 'uploaded', source: 'ptp' });
  t.is(a.sha256, await storedSha256('devices/camera001/DSC00001.JPG'));
  t.is(b.sha256, await storedSha256('devices/camera001/trailer.mp4'));
  t.is(
    a.sha256,
    crypto
      .createHash('sha256')
      .update(fs.readFileSync(path.join(folder, 'DSC00001.JPG')))
      .digest('hex'),
  );
  // The jobs are done: nothing left for a restart.
  // Job files are gone; done/ keeps the results, so a target seen again is not uploaded again.
  t.deepEqual(
    fs.readdirSync(path.join(dir, 'both', 'jobs')).filter((n) => n.endsWith('.json')),
    [],
  );
  t.is(fs.readdirSync(path.join(dir, 'both', 'jobs', 'done')).length, 2);
  // A target naming a file outside the storage is a failed result, not a read of that file.
  const escape = await presignPut(presignBase('devices/camera001/passwd', 'escape'));
  await backend.publish('cameras/camera001/upload-targets', JSON.stringify({ ...escape, object: { path: '../../../../etc/passwd' } }));
  const esc = (await until(() => results.find((r) => r.id === 'escape'))) as { status: string; error?: { code: string } };
  t.like(esc, { status: 'failed', error: { code: 'AGENT_PATH_OUTSIDE_STORAGE' } });
  // Nor through a symlink inside the storage.
  fs.symlinkSync('/etc/hostname', path.join(folder, 'link.jpg'));
  t.teardown(() => fs.rmSync(path.join(folder, 'link.jpg'), { force: true }));
  const linked = await presignPut(presignBase('devices/camera001/link.jpg', 'escape-link'));
  await backend.publish('cameras/camera001/upload-targets', JSON.stringify({ ...linked, object: { path: 'DCIM/100CAMWR/link.jpg' } }));
  const viaLink = (await until(() => results.find((r) => r.id === 'escape-link'))) as { status: string; error?: { code: string } };
  t.like(viaLink, { status: 'failed', error: { code: 'AGENT_PATH_OUTSIDE_STORAGE' } });
  agent.proc.kill('SIGTERM');
  const code = await exitOf(t, agent);
  t.is(code, 0, 'SIGTERM: a clean exit');
});

const stoppedMidUpload = test.macro(async (t, signal: 'SIGKILL' | 'SIGTERM') => {
  const name = signal === 'SIGKILL' ? 'killed' : 'termed';
  const file = await config(name);
  const first = startAgent(file);
  await until(() => first.lines.find((l) => l['event'] === 'ready'));
  const size = fs.statSync(path.join(folder, 'long.mp4')).size;
  const target = await presignMultipart({ ...presignBase(`devices/camera001/${name}.mp4`, `${name}-long`), size, partSize: 5 * 1024 * 1024 });
  await backend.publish('cameras/camera001/upload-targets', JSON.stringify({ ...target, object: { path: 'DCIM/100CAMWR/long.mp4' } }));
  // Kill once the uploader's journal shows parts done.
  const journal = path.join(dir, name, 'journal');
  await until(() => {
    for (const f of fs.existsSync(journal) ? fs.readdirSync(journal) : []) {
      const text = fs.readFileSync(path.join(journal, f), 'utf8');
      if (/"parts":\{"\d+"/.test(text)) return true;
    }
    return undefined;
  });
  first.proc.kill(signal);
  const code = await exitOf(t, first);
  if (signal === 'SIGTERM') {
    // A clean stop: the upload is checkpointed (not finished, not failed), the process exits 0.
    t.is(code, 0);
    t.true(first.lines.some((l) => l['event'] === 'checkpoint' && l['id'] === `${name}-long`));
  }
  t.false(
    results.some((r) => r.id === `${name}-long`),
    'no result before the restart',
  );
  t.is(fs.readdirSync(path.join(dir, name, 'jobs')).filter((n) => n.endsWith('.json')).length, 1, 'the job survived');
  const second = startAgent(file);
  t.teardown(() => {
    second.proc.kill('SIGKILL');
  });
  const r = await until(() => results.find((x) => x.id === `${name}-long`), 60_000);
  t.is(r.status, 'uploaded');
  t.is(r.sha256, await storedSha256(`devices/camera001/${name}.mp4`));
  await new Promise((res) => setTimeout(res, 1500));
  t.is(results.filter((x) => x.id === `${name}-long`).length, 1, 'published once');
  second.proc.kill('SIGTERM');
  await exitOf(t, second);
});

test.serial('an agent SIGKILLed mid-multipart is restarted, finishes that upload, and publishes its result once', stoppedMidUpload, 'SIGKILL');
test.serial(
  'an agent SIGTERMed mid-multipart checkpoints it and exits 0; restarted, it sends the rest and publishes its result once',
  stoppedMidUpload,
  'SIGTERM',
);

test.serial('a target published while the agent is down is delivered when it comes back (persistent session)', async (t) => {
  const file = await config('away');
  const first = startAgent(file);
  await until(() => first.lines.find((l) => l['event'] === 'ready'));
  first.proc.kill('SIGKILL');
  await exitOf(t, first);
  const target = await presignPut(presignBase('devices/camera001/away.jpg', 'sent-while-away'));
  await backend.publish('cameras/camera001/upload-targets', JSON.stringify({ ...target, object: { path: 'DCIM/100CAMWR/DSC00001.JPG' } }));
  await new Promise((r) => setTimeout(r, 300));
  t.false(results.some((r) => r.id === 'sent-while-away'));
  const second = startAgent(file);
  t.teardown(() => {
    second.proc.kill('SIGKILL');
  });
  const r = await until(() => results.find((x) => x.id === 'sent-while-away'));
  t.is(r.status, 'uploaded');
  second.proc.kill('SIGTERM');
  await exitOf(t, second);
});

test.serial('with a kvs section the agent streams live video: stream events on MQTT, every fragment PERSISTED at SIGTERM', async (t) => {
  const kvsCreds = { accessKeyId: 'AKIDAGENT', secretAccessKey: 'agent-secret' };
  const ep = new LocalKvsEndpoint({ dir: path.join(dir, 'kvs'), credentials: [kvsCreds], region: 'us-east-1' });
  await ep.start();
  t.teardown(() => ep.stop());
  const clip = makeClip(dir, { seconds: 2, fps: 10, gop: 10, size: '160x120', name: 'agent.h264' });
  const file = await config('streaming');
  const cfg = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  cfg['kvs'] = { streamName: 'camera001-live', region: 'us-east-1', endpoint: ep.url, fragmentDurationMs: 1000, source: { file: clip.file, fps: 10 } };
  fs.writeFileSync(file, JSON.stringify(cfg));
  const events: Array<Record<string, unknown>> = [];
  const onMessage = (topic: string, p: Buffer) => {
    if (topic === 'cameras/camera001/streams') events.push(JSON.parse(p.toString()) as Record<string, unknown>);
  };
  backend.on('message', onMessage);
  t.teardown(() => {
    backend.off('message', onMessage);
  });
  await backend.subscribe('cameras/+/streams');
  const agent = startAgent(file, { ...process.env, AWS_ACCESS_KEY_ID: kvsCreds.accessKeyId, AWS_SECRET_ACCESS_KEY: kvsCreds.secretAccessKey });
  t.teardown(() => {
    agent.proc.kill('SIGKILL');
  });
  await until(() => agent.lines.find((l) => l['event'] === 'ready'));
  // About 3.5 s of a 2 s clip played in a loop at its frame rate.
  await new Promise((r) => setTimeout(r, 3500));
  agent.proc.kill('SIGTERM');
  t.is(await exitOf(t, agent), 0);
  const stopped = (await until(() => events.find((e) => e['event'] === 'stopped'))) as {
    status: string;
    metrics: { fragmentsPersisted: number; framesStored: number };
  };
  // One connection for the whole run: a second one with no warning was a spurious rotation
  // (a connection opened within a loop turn looked 2^64 ms old); events and sessions say why if it fails.
  const why = `${JSON.stringify(events)}\nsessions: ${JSON.stringify(ep.sessions.map((s) => ({ endedBy: s.endedBy, fragments: s.fragments.length, frames: s.frames })))}`;
  t.deepEqual(
    events.map((e) => e['event']).filter((e) => e !== 'warning'),
    ['started', 'connected', 'stopped'],
    why,
  );
  t.is(stopped.status, 'ok');
  t.true(stopped.metrics.fragmentsPersisted >= 3, `${stopped.metrics.fragmentsPersisted} fragments`);
  const frames = ep.sessions.filter((s) => s.stream === 'camera001-live').reduce((n, s) => n + s.frames, 0);
  t.is(frames, stopped.metrics.framesStored);
  t.true(frames >= 30, `${frames} frames`);
});
