/**
 * `camwire fleet run` against a real Mosquitto (require_certificate,
 * use_identity_as_username, ACL cameras/%u/#): N distinct device identities
 * connect (the broker's log names each), an independent mosquitto_sub with its
 * own certificate sees telemetry from every one of them, nothing QoS 1 is lost;
 * three shards run as processes merge into what one unsharded run gives; the
 * descriptor limit is raised where allowed and refused with FLEET_FD_LIMIT
 * where not; the MQTT reader refuses malformed lengths.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CertificateAuthority } from '../ts/pki';
import type { FleetReport } from '../ts/fleet/report-types';
import { LatencyRecorder } from '../ts/fleet/histogram';
import { shardRange } from '../ts/fleet/run';
import { mergeReports } from '../ts/fleet/report';
import { encodePublish, Inbound, MqttProtocolError, PACKET, PacketReader } from '../ts/mqtt/wire';
import { MosquittoBroker } from './helpers/mosquitto';
import { camwireAsync } from './helpers/run';
import { tempDir } from './helpers/tmp';

/** Devices of the big run: 1,000 as the issue asks (about 15 s here with the certificates). */
const N = 1000;
const SHARDED = 600;
const OBSERVER = 'fleet-observer';
const SUBSCRIBER = 'fleet-subscriber';

interface Env {
  dir: string;
  certs: string;
  broker: MosquittoBroker;
  caFile: string;
}

let envP: Promise<Env> | undefined;

async function env(): Promise<Env> {
  envP ??= (async () => {
    const dir = tempDir('fleet-run');
    const certs = path.join(dir, 'certs');
    fs.mkdirSync(certs);
    const { ca } = await CertificateAuthority.create({ keyType: 'ec' });
    const things = [...Array.from({ length: N }, (_, i) => `cam${String(i).padStart(5, '0')}`), SUBSCRIBER, OBSERVER];
    // EC P-256 keys are quick; a few at a time keeps the event loop free.
    for (let i = 0; i < things.length; i += 50) {
      await Promise.all(
        things.slice(i, i + 50).map(async (thing) => {
          const d = await ca.issueDevice(thing, { keyType: 'ec' });
          const where = thing === OBSERVER ? dir : certs;
          fs.writeFileSync(path.join(where, `${thing}.pem`), d.certPem);
          fs.writeFileSync(path.join(where, `${thing}.key`), d.keyPem, { mode: 0o600 });
        }),
      );
    }
    const brokerDir = path.join(dir, 'broker');
    fs.mkdirSync(brokerDir);
    const broker = await MosquittoBroker.start({
      dir: brokerDir,
      ca,
      acl: [`user ${SUBSCRIBER}`, 'topic read cameras/+/telemetry', `user ${OBSERVER}`, 'topic read cameras/+/telemetry'],
    });
    process.once('exit', () => void broker.stop());
    return { dir, certs, broker, caFile: path.join(brokerDir, 'ca.pem') };
  })();
  return envP;
}

test.after.always(async () => {
  if (envP) await (await envP).broker.stop();
});

async function fleetRun(
  e: Env,
  args: string[],
  o: { env?: NodeJS.ProcessEnv; prefix?: string[] } = {},
): Promise<{ report?: FleetReport; stdout: string; stderr: string; code: number | null }> {
  const reportFile = path.join(e.dir, `report-${process.hrtime.bigint()}.json`);
  const full = ['--json', 'fleet', 'run', '--certs', e.certs, '--broker', e.broker.url('tls'), '--broker-ca', e.caFile, '--report', reportFile, ...args];
  const r = o.prefix
    ? await spawnAsync(o.prefix[0]!, [...o.prefix.slice(1), process.execPath, path.join(__dirname, '..', 'bin', 'camwire.js'), ...full])
    : await camwireAsync(full, o).done;
  const report = fs.existsSync(reportFile) ? (JSON.parse(fs.readFileSync(reportFile, 'utf8')) as FleetReport) : undefined;
  return { report, stdout: r.stdout, stderr: r.stderr, code: r.code };
}

function spawnAsync(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(cmd, args);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** The identities the broker's log says connected (u'NAME' of "New client connected"), since mark. */
function brokerIdentities(b: MosquittoBroker, mark: number): Set<string> {
  const log = b.log().slice(mark);
  return new Set([...log.matchAll(/New client connected from \S+ as (\S+) \(.*u'([^']+)'\)/g)].filter((m) => m[1] === m[2]).map((m) => m[2]!));
}

test.serial(`fleet run --devices ${N}: ${N} distinct mTLS identities, an independent mosquitto_sub sees all of them, nothing lost`, async (t) => {
  const e = await env();
  const mark = e.broker.log().length;
  // The independent peer: mosquitto_sub with its own certificate, every camera's telemetry.
  const seen = new Set<string>();
  const sub = spawn('mosquitto_sub', [
    '-h',
    '127.0.0.1',
    '-p',
    String(e.broker.tlsPort),
    '--cafile',
    e.caFile,
    '--cert',
    path.join(e.dir, `${OBSERVER}.pem`),
    '--key',
    path.join(e.dir, `${OBSERVER}.key`),
    '-i',
    OBSERVER,
    '-q',
    '1',
    '-t',
    'cameras/+/telemetry',
    '-F',
    '%t',
  ]);
  let subErr = '';
  let tail = '';
  sub.stdout.on('data', (d: Buffer) => {
    const lines = (tail + d.toString()).split('\n');
    tail = lines.pop() ?? '';
    for (const l of lines) seen.add(l.split('/')[1] ?? '');
  });
  sub.stderr.on('data', (d: Buffer) => (subErr += d.toString()));
  const subUp = Date.now();
  while (!brokerIdentities(e.broker, mark).has(OBSERVER)) {
    if (Date.now() - subUp > 10_000) t.fail(`mosquitto_sub did not connect: ${subErr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const started = Date.now();
  const r = await fleetRun(e, ['--devices', String(N), '--rate', '300', '--duration', '3', '--publish-interval', '1', '--subscriber']);
  t.log(`fleet run of ${N}: ${Date.now() - started} ms`);
  await new Promise((res) => setTimeout(res, 500));
  sub.kill('SIGTERM');
  t.is(r.code, 0, r.stderr + r.stdout);
  const rep = r.report!;
  t.is(rep.devices, N);
  t.is(rep.everConnected, N);
  t.is(rep.connected, N);
  t.deepEqual(rep.errors, {});
  t.true(rep.published >= N, `${rep.published} published`);
  t.is(rep.acknowledged, rep.published, 'no QoS 1 message lost');
  t.is(rep.latency.publish.count, rep.acknowledged);
  t.is(rep.latency.connect.count, N);
  t.is(rep.deliveredThings, N);
  t.is(rep.latency.delivery!.count, rep.delivered ?? -1);
  const ids = brokerIdentities(e.broker, mark);
  const cams = [...ids].filter((x) => x.startsWith('cam'));
  t.is(cams.length, N, 'the broker log names N distinct camera identities');
  seen.delete('');
  t.is(seen.size, N, 'mosquitto_sub saw telemetry from N distinct things');
  t.log(
    `connect p99 ${rep.latency.connect.p99} ms, PUBACK p99 ${rep.latency.publish.p99} ms, delivery p99 ${rep.latency.delivery!.p99} ms, ${Math.round(rep.rssPerDeviceBytes! / 1024)} KiB/camera`,
  );
});

test.serial(`three shards of ${SHARDED / 3} as processes merge into what one run of ${SHARDED} gives`, async (t) => {
  const e = await env();
  const args = ['--devices', String(SHARDED), '--rate', '300', '--duration', '2', '--publish-interval', '0.5'];
  const shards = await Promise.all([0, 1, 2].map((i) => fleetRun(e, [...args, '--shard', `${i}/3`, '--rate', '100'])));
  for (const s of shards) t.is(s.code, 0, s.stderr + s.stdout);
  const reps = shards.map((s) => s.report!);
  reps.forEach((r, i) => {
    t.deepEqual(r.shards[0], { index: i, count: 3, ...shardRange(SHARDED, i, 3) });
    t.is(r.devices, SHARDED / 3);
  });
  const merged = mergeReports(reps);
  // The CLI's `fleet merge` reads the three files (each checked against the report schema) to the same result.
  const files = reps.map((r, i) => {
    const f = path.join(e.dir, `shard-${i}.json`);
    fs.writeFileSync(f, JSON.stringify(r));
    return f;
  });
  const mergedFile = path.join(e.dir, 'merged.json');
  const m = await camwireAsync(['fleet', 'merge', ...files, '--report', mergedFile]).done;
  t.is(m.code, 0, m.stderr);
  const fromCli = JSON.parse(fs.readFileSync(mergedFile, 'utf8')) as FleetReport;
  t.is(fromCli.devices, SHARDED);
  t.is(fromCli.published, merged.published);
  t.is(fromCli.latency.publish.p99, merged.latency.publish.p99);
  t.is(merged.devices, SHARDED);
  t.is(merged.everConnected, SHARDED);
  t.is(
    merged.published,
    reps.reduce((s, r) => s + r.published, 0),
  );
  t.is(merged.acknowledged, merged.published);
  t.is(
    merged.latency.publish.count,
    reps.reduce((s, r) => s + r.latency.publish.count, 0),
  );
  // The merged percentile comes from the merged histogram: recomputed here from the three encodings.
  const rec = new LatencyRecorder();
  for (const r of reps) rec.add(LatencyRecorder.fromSummary(r.latency.publish));
  t.is(merged.latency.publish.p99, rec.percentileMs(99));
  t.true(merged.latency.publish.p99 >= Math.min(...reps.map((r) => r.latency.publish.p99)));
  t.true(merged.latency.publish.p99 <= Math.max(...reps.map((r) => r.latency.publish.p99)));

  // One unsharded run of the same fleet, through two worker processes.
  // (its fleet-side subscriber lives in the parent, one identity for both workers)
  const page = path.join(e.dir, 'run.html');
  const one = await fleetRun(e, [...args, '--workers', '2', '--subscriber', '--html', page]);
  t.is(one.code, 0, one.stderr + one.stdout);
  const u = one.report!;
  t.is(u.devices, merged.devices);
  t.is(u.everConnected, merged.everConnected);
  t.is(u.connects, merged.connects);
  t.is(u.acknowledged, u.published);
  t.deepEqual(u.errors, {});
  t.deepEqual(merged.errors, {});
  t.is(u.processes.length, 3, 'two workers and the parent');
  t.regex(fs.readFileSync(page, 'utf8'), /^<!doctype html>/i);
  t.is(u.deliveredThings, SHARDED);
  t.true((u.delivered ?? 0) >= u.acknowledged, `${u.delivered} delivered of ${u.acknowledged}`);
  t.is(u.latency.delivery?.count, u.delivered);
  // A different run: percentiles in the same range, not equal.
  const ratio = (a: number, b: number) => Math.max(a, b) / Math.max(0.001, Math.min(a, b));
  t.true(ratio(u.latency.publish.p50, merged.latency.publish.p50) < 20, `p50 ${u.latency.publish.p50} vs ${merged.latency.publish.p50}`);
  t.log(`merged p50/p99 ${merged.latency.publish.p50}/${merged.latency.publish.p99} ms, unsharded ${u.latency.publish.p50}/${u.latency.publish.p99} ms`);
});

test.serial('the descriptor limit: raised to the hard limit where allowed, FLEET_FD_LIMIT naming it where not', async (t) => {
  const e = await env();
  const refused = await fleetRun(e, ['--devices', '300', '--duration', '0'], { prefix: ['prlimit', '--nofile=200:200'] });
  t.not(refused.code, 0);
  const err = JSON.parse(refused.stdout) as { error: { code: string; message: string; hint?: string } };
  t.is(err.error.code, 'FLEET_FD_LIMIT');
  t.regex(err.error.message, /hard limit \(RLIMIT_NOFILE\) is 200/);
  t.regex(err.error.hint ?? '', /LimitNOFILE|--workers/);
  const raised = await fleetRun(e, ['--devices', '300', '--duration', '0', '--rate', '1000'], { prefix: ['prlimit', '--nofile=200:1000'] });
  t.is(raised.code, 0, raised.stderr + raised.stdout);
  t.true(
    raised.report!.notes.some((n) => /364 needed, RLIMIT_NOFILE soft 1000, hard 1000/.test(n)), // Node raises soft to hard at start
    raised.report!.notes.join('\n'),
  );
  t.is(raised.report!.processes[0]!.fdLimit, 1000);
  t.is(raised.report!.everConnected, 300);
});

test('the MQTT reader: packets split at every byte reassemble; every length from the peer is checked before use', (t) => {
  const connack = Buffer.from([0x20, 2, 0, 0]);
  const puback = Buffer.from([0x40, 2, 0x12, 0x34]);
  const pub = encodePublish('cameras/cam00001/upload-targets', Buffer.from('{"id":1}'), { qos: 1, packetId: 7 });
  const stream = Buffer.concat([connack, puback, pub]);
  const got: Inbound[] = [];
  const r = new PacketReader(1024);
  for (const b of stream) r.push(Buffer.from([b]), (p) => got.push(p));
  t.deepEqual(
    got.map((p) => p.type),
    [PACKET.CONNACK, PACKET.PUBACK, PACKET.PUBLISH],
  );
  const p = got[2] as Extract<Inbound, { type: typeof PACKET.PUBLISH }>;
  t.is(p.topic, 'cameras/cam00001/upload-targets');
  t.is(p.packetId, 7);
  t.is(p.payload.toString(), '{"id":1}');
  const bad = (bytes: number[], re: RegExp, max = 1024) =>
    t.throws(() => new PacketReader(max).push(Buffer.from(bytes), () => undefined), { instanceOf: MqttProtocolError, message: re });
  bad([0x30, 0xff, 0xff, 0xff, 0xff, 0x01], /longer than 4 bytes/);
  // A header announcing 2 MiB is refused from the header alone, before 2 MiB arrive or are allocated.
  bad([0x30, 0x80, 0x80, 0x80, 0x01], /exceeds the limit of 1024/);
  bad([0x20, 3, 0, 0, 0], /CONNACK of 3 bytes/);
  bad([0x40, 1, 0], /PUBACK of 1 bytes/);
  bad([0x32, 4, 0, 200, 0x61, 0x62], /topic of 200 bytes overruns/);
  bad([0x36, 2, 0, 0], /QoS 3/);
  bad([0xf0, 0], /unexpected packet type 15/);
});

test('encodePublish: every remaining-length width (1 to 4 bytes) and a UTF-8 topic read back whole', (t) => {
  for (const size of [0, 120, 124, 125, 16_378, 16_380, 2_097_140, 2_097_150, 2_200_000]) {
    const topic = 'cameras/kamera-ü/uploads';
    const payload = Buffer.alloc(size, size % 251);
    const wire = encodePublish(topic, payload, { qos: 1, retain: size % 2 === 0, packetId: (size % 65_535) + 1 });
    const got: Inbound[] = [];
    new PacketReader(4 << 20).push(wire, (p) => got.push(p));
    t.is(got.length, 1, `${size}`);
    const p = got[0] as Extract<Inbound, { type: typeof PACKET.PUBLISH }>;
    t.is(p.topic, topic);
    t.is(p.packetId, (size % 65_535) + 1);
    t.true(p.payload.equals(payload), `${size} B payload`);
    t.is(p.retain, size % 2 === 0, 'retain flag');
  }
});
