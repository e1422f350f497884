/**
 * A camera's MQTT connection against a real Mosquitto with mutual TLS, CN as
 * user name and the ACL cameras/%u/#, certificates from camwire's own PKI.
 */
import test from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { CertificateAuthority } from '../ts/pki';
import { DeviceConnection, DeviceConnectionOptions } from '../ts/mqtt';
import { CamwireError } from '../ts/errors';
import { MosquittoBroker } from './helpers/mosquitto';
import { device, DeviceFiles } from './helpers/pki';
import { freePort } from './helpers/ports';
import { tempDir } from './helpers/tmp';
import { until } from './helpers/until';

const dir = tempDir('mtls');
let ca: CertificateAuthority;
let broker: MosquittoBroker;
const ids: Record<string, DeviceFiles> = {};

test.before(async () => {
  ca = (await CertificateAuthority.create({ commonName: 'camwire test CA' })).ca;
  const foreign = (await CertificateAuthority.create({ commonName: 'someone else CA' })).ca;
  ids['camera001'] = await device(ca, dir, 'camera001');
  ids['camera002'] = await device(ca, dir, 'camera002');
  ids['camera003'] = await device(ca, dir, 'camera003', { keyType: 'ec' });
  ids['foreign'] = await device(foreign, dir, 'camera001', {}, 'foreign-camera001');
  ids['expired'] = await device(ca, dir, 'camera004', { notBefore: new Date(Date.now() - 10 * 86400e3), notAfter: new Date(Date.now() - 86400e3) });
  ids['revoked'] = await device(ca, dir, 'camera005');
  const crlPem = await ca.createCrl([ids['revoked'].issued.serialNumber]);
  broker = await MosquittoBroker.start({ dir, ca, crlPem });
});

test.after.always(async () => {
  await broker?.stop();
});

const caPem = () => fs.readFileSync(path.join(dir, 'ca.pem'));

function opts(name: string, thing = name, extra: Partial<DeviceConnectionOptions> = {}): DeviceConnectionOptions {
  const id = ids[name]!;
  return {
    url: broker.url('tls'),
    thing,
    cert: fs.readFileSync(id.cert),
    key: fs.readFileSync(id.key),
    ca: caPem(),
    backoff: { baseMs: 50, capMs: 200 },
    ...extra,
  };
}

const open = new Set<DeviceConnection>();
test.afterEach.always(async () => {
  await Promise.all([...open].map((c) => c.close({ force: true })));
  open.clear();
});

async function connected(o: DeviceConnectionOptions): Promise<DeviceConnection> {
  const c = new DeviceConnection(o);
  open.add(c);
  c.on('error', () => undefined);
  await c.connect({ timeoutMs: 10_000 });
  return c;
}

function collect(c: DeviceConnection): Array<{ topic: string; payload: string }> {
  const got: Array<{ topic: string; payload: string }> = [];
  c.on('message', (topic, payload) => got.push({ topic, payload: payload.toString() }));
  return got;
}

async function refusal(o: DeviceConnectionOptions): Promise<CamwireError> {
  const c = new DeviceConnection(o);
  c.on('error', () => undefined);
  const err = await c.connect({ timeoutMs: 10_000 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  await c.close({ force: true });
  if (!(err instanceof CamwireError)) throw new Error(`expected a CamwireError, got ${String(err)}`);
  return err;
}

for (const version of [4, 5] as const) {
  test.serial(`MQTT ${version === 4 ? '3.1.1' : '5'}: camera001 talks on its own topics and never receives camera002's`, async (t) => {
    const one = await connected(opts('camera001', 'camera001', { protocolVersion: version }));
    const two = await connected(opts('camera002', 'camera002', { protocolVersion: version }));
    const got = collect(one);
    // A wildcard over every camera: the ACL lets only camera001's own topics through.
    await one.subscribe('cameras/#');
    await two.publish('cameras/camera002/uploads', 'secret-of-camera002');
    await one.publish('cameras/camera001/uploads', 'mine');
    await until(() => got.some((m) => m.payload === 'mine'));
    t.deepEqual(
      got.filter((m) => m.topic.startsWith('cameras/camera002/')),
      [],
    );
    t.true(got.some((m) => m.topic === 'cameras/camera001/status' && m.payload === 'online'));
    await one.close();
    await two.close();
  });
}

test.serial("camera001 cannot publish into camera002's topics (3.1.1 drops it, MQTT 5 names the refusal)", async (t) => {
  const two = await connected(opts('camera002'));
  const got = collect(two);
  await two.subscribe('cameras/camera002/#');
  const one4 = await connected(opts('camera001'));
  await one4.publish('cameras/camera002/upload-targets', 'spoof-3.1.1'); // PUBACKed, silently dropped
  const one5 = await connected(opts('camera001', 'camera001', { protocolVersion: 5 }));
  const err = await t.throwsAsync(one5.publish('cameras/camera002/upload-targets', 'spoof-5'));
  t.is((err as CamwireError).code, 'MQTT_PUBLISH_NOT_AUTHORIZED');
  t.is(one5.pendingCount, 0, 'a refused message does not block the outbox');
  await two.publish('cameras/camera002/upload-targets', 'real');
  await until(() => got.some((m) => m.payload === 'real'));
  t.false(got.some((m) => m.payload.startsWith('spoof')));
  await Promise.all([one4.close(), one5.close(), two.close()]);
});

test.serial('the chain file (device + CA) is accepted, as AWS JITP wants it', async (t) => {
  const c = await connected({ ...opts('camera001'), cert: fs.readFileSync(ids['camera001']!.chain) });
  t.true(c.connected);
  await c.close();
});

test.serial('an EC P-256 device certificate connects and publishes', async (t) => {
  const c = await connected(opts('camera003'));
  const got = collect(c);
  await c.subscribe('cameras/camera003/#');
  await c.publish('cameras/camera003/uploads', 'from-ec');
  await until(() => got.some((m) => m.payload === 'from-ec'));
  t.deepEqual(
    got.filter((m) => m.topic === 'cameras/camera003/uploads').map((m) => m.payload),
    ['from-ec'],
  );
  await c.close();
});

test.serial('a certificate from a foreign CA is refused: MQTT_UNKNOWN_CA', async (t) => {
  const err = await refusal(opts('foreign', 'camera001'));
  t.is(err.code, 'MQTT_UNKNOWN_CA', err.message);
});

test.serial('an expired certificate is refused: MQTT_CERT_EXPIRED', async (t) => {
  const err = await refusal(opts('expired', 'camera004'));
  t.is(err.code, 'MQTT_CERT_EXPIRED', err.message);
});

test.serial('a revoked certificate is refused: MQTT_CERT_REVOKED', async (t) => {
  const err = await refusal(opts('revoked', 'camera005'));
  t.is(err.code, 'MQTT_CERT_REVOKED', err.message);
});

test.serial('a key that does not match the certificate is named before connecting: MQTT_KEY_MISMATCH', (t) => {
  const err = t.throws(() => new DeviceConnection({ ...opts('camera001'), key: fs.readFileSync(ids['camera002']!.key) }));
  t.is((err as CamwireError).code, 'MQTT_KEY_MISMATCH');
  t.regex(err!.message, /camera001/);
});

test.serial('a broker whose certificate does not chain to --ca is refused: MQTT_SERVER_UNTRUSTED', async (t) => {
  const other = (await CertificateAuthority.create({ keyType: 'ec' })).certPem;
  const err = await refusal({ ...opts('camera001'), ca: other });
  t.is(err.code, 'MQTT_SERVER_UNTRUSTED', err.message);
});

test.serial('a broker that refuses the client: MQTT_NOT_AUTHORIZED', async (t) => {
  const err = await refusal({ url: broker.url('noauth'), thing: 'camera001' });
  t.is(err.code, 'MQTT_NOT_AUTHORIZED', err.message);
});

test.serial('nothing listening: MQTT_UNREACHABLE after the retry budget', async (t) => {
  const port = await freePort();
  const c = new DeviceConnection({ url: `mqtt://127.0.0.1:${port}`, thing: 'camera001', backoff: { baseMs: 20, capMs: 100 } });
  let retries = 0;
  c.on('reconnecting', () => retries++);
  c.on('error', () => undefined);
  const err = await t.throwsAsync(c.connect({ timeoutMs: 1500 }));
  t.is((err as CamwireError).code, 'MQTT_UNREACHABLE');
  t.true(retries >= 3, `retried ${retries} times`);
});

test.serial('status: retained online while connected, the will publishes offline when the link dies', async (t) => {
  const watcher = new DeviceConnection({ url: broker.url('plain'), thing: 'watcher', status: false });
  await watcher.connect({ timeoutMs: 5000 });
  const got = collect(watcher);
  const cam = await connected(opts('camera001'));
  await watcher.subscribe('cameras/camera001/status');
  await until(() => got.some((m) => m.payload === 'online'));
  // Kill the TCP connection without DISCONNECT: the broker fires the will.
  (cam as unknown as { client: { stream: net.Socket } }).client.stream.destroy();
  await cam.close({ force: true });
  await until(() => got.some((m) => m.payload === 'offline'));
  t.deepEqual(
    got.map((m) => m.payload),
    ['online', 'offline'],
  );
  await watcher.close();
});

test.serial('a connection dropped right after the TLS handshake (JITP first connect) is retried with backoff', async (t) => {
  // A TCP relay that cuts the first connection once the client has spoken,
  // the way AWS IoT drops the first connection of a just-provisioned thing.
  const port = await freePort();
  let conns = 0;
  const relay = net.createServer((inbound) => {
    conns++;
    const first = conns === 1;
    const outbound = net.connect(broker.tlsPort, '127.0.0.1');
    inbound.pipe(outbound).pipe(inbound);
    let seen = 0;
    inbound.on('data', (d) => {
      seen += d.length;
      if (first && seen > 600) {
        inbound.destroy();
        outbound.destroy();
      }
    });
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  });
  await new Promise<void>((r) => relay.listen(port, '127.0.0.1', r));
  const c = new DeviceConnection({ ...opts('camera001'), url: `mqtts://127.0.0.1:${port}` });
  const events: string[] = [];
  c.on('error', (e) => events.push(e.code));
  c.on('reconnecting', () => events.push('reconnecting'));
  await c.connect({ timeoutMs: 10_000 });
  t.true(conns >= 2, `relay saw ${conns} connections`);
  t.true(events.includes('reconnecting'));
  t.false(
    events.some((e) => ['MQTT_UNKNOWN_CA', 'MQTT_CERT_REJECTED'].includes(e)),
    events.join(),
  );
  await c.close();
  relay.close();
});

test.serial('port 443 offers ALPN x-amzn-mqtt-ca and SNI carries the host name', async (t) => {
  const server = await ca.issueServer('localhost', ['localhost']);
  let seen: { alpn: string | false | null; sni: string | undefined } | undefined;
  const srv = tls.createServer({ cert: server.certPem, key: server.keyPem, ALPNProtocols: ['x-amzn-mqtt-ca'] }, (s) => {
    seen = { alpn: s.alpnProtocol, sni: (s as tls.TLSSocket & { servername?: string }).servername };
    s.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(443, '127.0.0.1', resolve);
  });
  const c = new DeviceConnection({ ...opts('camera001'), url: 'mqtts://localhost:443' });
  c.on('error', () => undefined);
  await c.connect({ timeoutMs: 1500 }).catch(() => undefined);
  await c.close({ force: true });
  srv.close();
  t.deepEqual(seen, { alpn: 'x-amzn-mqtt-ca', sni: 'localhost' });
});
