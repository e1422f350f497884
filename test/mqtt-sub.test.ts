/**
 * `camwire mqtt sub` as the docs run it, against a real Mosquitto: a
 * subscriber is not a camera, so it announces nothing on
 * cameras/{thing}/status unless asked (--status), and --count counts only
 * what others publish.
 */
import test, { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { CertificateAuthority } from '../ts/pki';
import { DeviceConnection } from '../ts/mqtt';
import { MosquittoBroker } from './helpers/mosquitto';
import { device, DeviceFiles } from './helpers/pki';
import { CLI, run } from './helpers/run';
import { tempDir } from './helpers/tmp';
import { until } from './helpers/until';

const dir = tempDir('mqtt-sub');
let broker: MosquittoBroker;
const ids: Record<string, DeviceFiles> = {};

test.before(async () => {
  const { ca } = await CertificateAuthority.create({ keyType: 'ec', commonName: 'mqtt sub test CA' });
  for (const thing of ['camera001', 'camera002', 'camera003']) ids[thing] = await device(ca, dir, thing, { keyType: 'ec' });
  broker = await MosquittoBroker.start({ dir, ca });
});

test.after.always(async () => {
  await broker?.stop();
});

/** The docs' form: the subscriber is the camera itself, over mutual TLS. */
const tlsArgs = (thing: string) => [
  '--url',
  broker.url('tls'),
  '--thing',
  thing,
  '--cert',
  ids[thing]!.cert,
  '--key',
  ids[thing]!.key,
  '--ca',
  `${dir}/ca.pem`,
];

interface Sub {
  lines: string[];
  stderr(): string;
  exited: Promise<number | null>;
}

/** Starts `camwire --json mqtt sub …` and resolves once it has subscribed (or has exited trying). */
async function startSub(args: string[]): Promise<Sub> {
  const p = spawn(process.execPath, [CLI, '--json', 'mqtt', 'sub', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  readline.createInterface({ input: p.stdout! }).on('line', (l) => lines.push(l));
  let err = '';
  p.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  let code: number | null | undefined;
  const exited = new Promise<number | null>((r) =>
    p.once('exit', (c) => {
      code = c;
      r(c);
    }),
  );
  process.once('exit', () => p.kill());
  for (let i = 0; i < 400 && code === undefined && !/subscribed to/.test(err); i++) await new Promise((r) => setTimeout(r, 25));
  return { lines, stderr: () => err, exited };
}

/** Another client: mosquitto_pub on the anonymous listener of the same broker. */
function publishFromOther(topic: string, message: string): void {
  const r = run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.plainPort), '-i', 'backend', '-q', '1', '-t', topic, '-m', message]);
  if (r.status !== 0) throw new Error(`mosquitto_pub exited ${r.status}: ${r.stderr}`);
}

/** What the broker keeps retained under a filter, as mosquitto_sub sees it ("topic payload" lines). */
function retained(filter: string): string[] {
  const r = run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(broker.plainPort), '-i', 'retained-check', '-t', filter, '-v', '--retained-only', '-W', '1']);
  // 27 is mosquitto_sub's "timed out", the normal end when nothing (more) is retained.
  if (r.status !== 0 && r.status !== 27) throw new Error(`mosquitto_sub exited ${r.status}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
}

/** A library client on the plain listener that records what reaches the filter. */
async function watch(t: ExecutionContext, id: string, filter: string): Promise<Array<{ topic: string; payload: string }>> {
  const conn = new DeviceConnection({ url: broker.url('plain'), thing: id, status: false });
  t.teardown(() => conn.close({ force: true }));
  await conn.connect({ timeoutMs: 5000 });
  const got: Array<{ topic: string; payload: string }> = [];
  conn.on('message', (topic, payload) => got.push({ topic, payload: payload.toString() }));
  await conn.subscribe(filter);
  return got;
}

const parsed = (lines: string[]) => lines.map((l) => JSON.parse(l) as { topic: string; payload: string });

test.serial("sub --count 1 on the camera's own topics prints the first message another client publishes", async (t) => {
  const sub = await startSub([...tlsArgs('camera001'), '--topic', 'cameras/camera001/#', '--count', '1', '--timeout', '20']);
  publishFromOther('cameras/camera001/upload-targets', '{"id":"t1"}');
  t.is(await sub.exited, 0, sub.stderr());
  t.deepEqual(
    parsed(sub.lines).map((m) => [m.topic, m.payload]),
    [['cameras/camera001/upload-targets', '{"id":"t1"}']],
  );
  t.deepEqual(retained('cameras/camera001/#'), [], 'the subscriber left no retained status behind');
});

test.serial('a subscriber alone publishes nothing of its own: no status, no will, nothing retained', async (t) => {
  const got = await watch(t, 'watcher002', 'cameras/camera002/#');
  const sub = await startSub([...tlsArgs('camera002'), '--topic', 'cameras/camera002/#', '--count', '1', '--timeout', '2']);
  t.is(await sub.exited, 1, sub.stderr());
  // No message lines: stdout is only the error document.
  t.is((JSON.parse(sub.lines.join('\n')) as { error: { code: string } }).error.code, 'MQTT_TIMEOUT', sub.lines.join('\n'));
  // The watcher subscribed first, so it would have seen a live status or will.
  await new Promise((r) => setTimeout(r, 300));
  t.deepEqual(got, []);
  t.deepEqual(retained('cameras/camera002/#'), []);
});

test.serial("--status opts in to the camera's status; the subscriber's own status messages are not counted", async (t) => {
  const got = await watch(t, 'watcher003', 'cameras/camera003/status');
  const sub = await startSub([...tlsArgs('camera003'), '--status', '--topic', 'cameras/camera003/#', '--count', '1', '--timeout', '20']);
  await until(() => got.some((m) => m.payload === 'online'));
  publishFromOther('cameras/camera003/upload-targets', 'from-backend');
  t.is(await sub.exited, 0, sub.stderr());
  t.deepEqual(
    parsed(sub.lines).map((m) => [m.topic, m.payload]),
    [['cameras/camera003/upload-targets', 'from-backend']],
  );
  await until(() => got.some((m) => m.payload === 'offline'));
  t.deepEqual(
    got.map((m) => m.payload),
    ['online', 'offline'],
  );
  t.deepEqual(retained('cameras/camera003/#'), ['cameras/camera003/status offline']);
});

test('a publish on a wildcard, empty or over-long topic is refused before the outbox; the connection goes on delivering', async (t) => {
  const conn = new DeviceConnection({ url: broker.url('plain'), thing: 'wildcard-pub', status: false });
  t.teardown(() => conn.close({ force: true }));
  await conn.connect({ timeoutMs: 5000 });
  for (const topic of ['cameras/wildcard-pub/#', 'cameras/+/uploads', '', 'a\0b']) {
    const e = await t.throwsAsync(conn.publish(topic, 'x'));
    t.is((e as { code?: string }).code, 'MQTT_BAD_OPTIONS', JSON.stringify(topic));
  }
  // A topic longer than an MQTT string can hold: refused too, for publish and publishMany alike.
  const long = `cameras/wildcard-pub/${'x'.repeat(70_000)}`;
  for (const p of [conn.publish(long, 'x'), conn.publishMany(long, [Buffer.from('a'), Buffer.from('b')])]) {
    const e = await t.throwsAsync(p);
    t.is((e as { code?: string }).code, 'MQTT_BAD_OPTIONS');
    t.regex((e as Error).message, /longer than 65535 bytes/);
  }
  // Interleaved with mqtt.js's own packets (a subscription), the QoS 1 messages get their PUBACKs.
  const got: string[] = [];
  conn.on('message', (_topic, payload) => got.push(payload.toString()));
  await conn.subscribe('cameras/wildcard-pub/echo');
  await Promise.all(Array.from({ length: 300 }, (_, i) => conn.publish('cameras/wildcard-pub/echo', String(i))));
  // And a burst in pieces (publishMany), its PUBACKs taken before mqtt.js among mqtt.js's own packets.
  await conn.publishMany(
    'cameras/wildcard-pub/echo',
    Array.from({ length: 2500 }, (_, i) => Buffer.from(String(300 + i))),
  );
  await until(() => got.length === 2800);
  t.deepEqual(
    got,
    Array.from({ length: 2800 }, (_, i) => String(i)),
    'every message, in order',
  );
});
