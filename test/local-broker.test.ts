/**
 * The embedded broker (aedes behind mutual TLS) with Mosquitto's own clients
 * and camwire's DeviceConnection as peers: a camera reaches only its own
 * topics, the client id must be the certificate CN, a client without a
 * certificate from the CA cannot connect, the retained status and last will
 * work, an operator certificate sees every camera.
 */
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CertificateAuthority } from '../ts/pki';
import mqtt from 'mqtt';
import net from 'node:net';
import tls from 'node:tls';
import { DeviceConnection } from '../ts/mqtt';
import { LocalBroker } from '../ts/local';
import { device, DeviceFiles } from './helpers/pki';
import { tempDir } from './helpers/tmp';

const dir = tempDir('broker');
let broker: LocalBroker;
let ca: CertificateAuthority;
let caFile: string;
let cam: DeviceFiles;
let other: DeviceFiles;
let third: DeviceFiles;
let app: DeviceFiles;
const refused: string[] = [];

test.before(async () => {
  const made = await CertificateAuthority.create({ commonName: 'broker test CA' });
  ca = made.ca;
  caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, made.certPem);
  const server = await ca.issueServer('127.0.0.1', ['127.0.0.1', 'localhost']);
  cam = await device(ca, dir, 'camera001');
  other = await device(ca, dir, 'camera002');
  third = await device(ca, dir, 'camera003');
  app = await device(ca, dir, 'demo-app');
  broker = new LocalBroker({ cert: server.certPem, key: server.keyPem, ca: made.certPem, operators: ['demo-app'] });
  broker.on('refused', (r) => refused.push(r.reason));
  await broker.start();
});
test.after.always(async () => {
  await broker?.stop();
});

/** Runs a Mosquitto client without blocking the event loop (the broker runs in this process). */
function run(cmd: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

const tlsArgs = (f: DeviceFiles) => ['-h', '127.0.0.1', '-p', String(broker.port), '--cafile', caFile, '--cert', f.cert, '--key', f.key];

/** mosquitto_sub until n messages arrived (or the timeout); `ready` once the broker granted the subscription; `lines` are "topic payload". */
function subscribe(f: DeviceFiles, id: string, filter: string, n: number, timeoutS = 10): { lines: Promise<string[]>; ready: Promise<void> } {
  const ready = new Promise<void>((resolve) => {
    const on = (s: { clientId: string }) => {
      if (s.clientId === id) {
        broker.off('subscribed', on);
        resolve();
      }
    };
    broker.on('subscribed', on);
  });
  const p = spawn('mosquitto_sub', [...tlsArgs(f), '-i', id, '-t', filter, '-v', '-C', String(n), '-W', String(timeoutS)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  p.stdout.on('data', (b: Buffer) => {
    out += b.toString();
  });
  const lines = new Promise<string[]>((resolve) => p.on('close', () => resolve(out.split('\n').filter((l) => l))));
  return { lines, ready };
}

test.serial('a camera publishes under its own topics and the operator receives them; a publish elsewhere is dropped with the client', async (t) => {
  const sub = subscribe(app, 'app-sub-1', 'cameras/+/uploads', 2);
  await sub.ready;
  const pub = (args: string[]) => run('mosquitto_pub', [...tlsArgs(cam), '-i', 'camera001', ...args]);
  // MQTT 3.1.1 has no way to refuse a publish: the broker drops the client (as AWS IoT does).
  await pub(['-t', 'cameras/camera002/uploads', '-m', 'forged', '-q', '0']);
  t.is((await pub(['-t', 'cameras/camera001/uploads', '-m', 'one', '-q', '1'])).status, 0);
  t.is((await pub(['-t', 'cameras/camera001/uploads', '-m', 'two', '-q', '1'])).status, 0);
  const lines = await sub.lines;
  t.deepEqual(lines, ['cameras/camera001/uploads one', 'cameras/camera001/uploads two']);
  t.true(refused.some((r) => /publish to cameras\/camera002\/uploads/.test(r)));
});

test.serial('a camera cannot subscribe to another camera or to wildcards above its own root', async (t) => {
  const r = await run('mosquitto_sub', [...tlsArgs(third), '-i', 'camera003', '-t', 'cameras/camera001/#', '-C', '1', '-W', '2', '-d']);
  t.regex(r.stdout + r.stderr, /Subscribed \(mid: 1\): 128[\s\S]*All subscription requests were denied/);
  t.true(refused.some((x) => /subscribe to cameras\/camera001\/#/.test(x)));
});

test.serial('the client id must be the certificate CN, and a certificate from another CA cannot connect', async (t) => {
  const wrongId = await run('mosquitto_pub', [...tlsArgs(cam), '-i', 'camera002', '-t', 'cameras/camera002/x', '-m', 'x']);
  t.not(wrongId.status, 0);
  t.regex(wrongId.stderr, /identifier rejected|Connection Refused/i);
  const foreign = (await CertificateAuthority.create({ commonName: 'someone else' })).ca;
  const stranger = await device(foreign, dir, 'camera001', {}, 'stranger');
  const r = await run('mosquitto_pub', [
    '-h',
    '127.0.0.1',
    '-p',
    String(broker.port),
    '--cafile',
    caFile,
    '--cert',
    stranger.cert,
    '--key',
    stranger.key,
    '-i',
    'camera001',
    '-t',
    'cameras/camera001/x',
    '-m',
    'x',
  ]);
  t.not(r.status, 0);
  const none = await run('mosquitto_pub', [
    '-h',
    '127.0.0.1',
    '-p',
    String(broker.port),
    '--cafile',
    caFile,
    '-i',
    'camera001',
    '-t',
    'cameras/camera001/x',
    '-m',
    'x',
  ]);
  t.not(none.status, 0);
});

test.serial('DeviceConnection keeps a retained online status, and its last will says offline when the link dies', async (t) => {
  const conn = new DeviceConnection({
    url: broker.url,
    thing: 'camera002',
    cert: fs.readFileSync(other.cert),
    key: fs.readFileSync(other.key),
    ca: fs.readFileSync(caFile),
  });
  await conn.connect({ timeoutMs: 10_000 });
  const retained = await run('mosquitto_sub', [...tlsArgs(app), '-i', 'app-sub-2', '-t', 'cameras/camera002/status', '-v', '-C', '1', '-W', '5']);
  t.is(retained.stdout.trim(), 'cameras/camera002/status online');
  const sub = subscribe(app, 'app-sub-3', 'cameras/camera002/status', 2);
  await sub.ready;
  // Kill the TCP link without DISCONNECT: the broker publishes the will.
  await conn.close({ force: true });
  const lines = await sub.lines;
  t.deepEqual(lines, ['cameras/camera002/status online', 'cameras/camera002/status offline']);
});

test.serial('the last will is delivered when the link is reset (RST), not only on a clean close', async (t) => {
  const sub = subscribe(app, 'app-sub-4', 'cameras/camera003/status', 1);
  await sub.ready;
  // The TLS session runs over a TCP socket of our own, so the test can reset that socket.
  const tcp = net.connect(broker.port, '127.0.0.1');
  const secure = tls.connect({
    socket: tcp,
    ca: fs.readFileSync(caFile),
    cert: fs.readFileSync(third.cert),
    key: fs.readFileSync(third.key),
    servername: 'localhost',
  });
  const client = new mqtt.MqttClient(() => secure, {
    clientId: 'camera003',
    protocolVersion: 4,
    reconnectPeriod: 0,
    will: { topic: 'cameras/camera003/status', payload: Buffer.from('offline'), qos: 1, retain: false },
  });
  client.on('error', () => undefined);
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  tcp.resetAndDestroy();
  t.deepEqual(await sub.lines, ['cameras/camera003/status offline']);
  t.false(refused.some((r) => /camera003\/status/.test(r)));
  client.end(true);
});

test.serial('a camera may use wildcards inside its own subtree, as the IoT policy topicfilter cameras/${thing}/* allows', async (t) => {
  const r = await run('mosquitto_sub', [...tlsArgs(third), '-i', 'camera003', '-t', 'cameras/camera003/#', '-C', '1', '-W', '1', '-d']);
  t.regex(r.stdout + r.stderr, /Subscribed \(mid: 1\): 0/);
});
