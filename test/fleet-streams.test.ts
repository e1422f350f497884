/**
 * `camwire fleet run --streams K` against a real Mosquitto (mutual TLS, one
 * certificate per device) and camwire's LocalKvsEndpoint (SigV4-checking,
 * in-process on 127.0.0.1): the first K devices each stream synthetic video
 * with the native producer, every fragment PERSISTED by the stop; the MQTT
 * side loses nothing meanwhile, and each streaming device publishes its stream
 * events (started … stopped) on cameras/{thing}/streams as `camwire device` does.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { CertificateAuthority } from '../ts/pki';
import type { FleetReport } from '../ts/fleet/report-types';
import { checkReport } from '../ts/fleet/report';
import { LocalKvsEndpoint } from '../ts/local';
import type { MosquittoBroker } from './helpers/mosquitto';
import { fleetSetup } from './helpers/fleet-setup';
import { camwireAsync } from './helpers/run';
import { tempDir } from './helpers/tmp';

const N = 20;
const K = 3;
const creds = { accessKeyId: 'AKIDFLEETSTREAMS', secretAccessKey: 'fleet-streams-secret' };
const dir = tempDir('fleet-streams');
let broker: MosquittoBroker | undefined;
let ep: LocalKvsEndpoint | undefined;

/** This environment with the endpoint's credentials as the AWS chain's first link (and no other). */
function awsEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey };
  delete env['AWS_SESSION_TOKEN'];
  delete env['AWS_PROFILE'];
  return env;
}

test.after.always(async () => {
  await broker?.stop();
  await ep?.stop();
});

interface Setup {
  certs: string;
  brokerDir: string;
  things: string[];
  ca: CertificateAuthority;
}

let setupP: Promise<Setup> | undefined;

/** The device certificates, the broker and the endpoint, made once for the file's tests. */
function setup(): Promise<Setup> {
  setupP ??= (async () => {
    const f = await fleetSetup(dir, 'scam', N);
    const { certs, brokerDir, things, ca } = f;
    broker = f.broker;
    ep = new LocalKvsEndpoint({ dir: path.join(dir, 'kvs'), credentials: [creds], region: 'us-east-1' });
    await ep.start();
    return { certs, brokerDir, things, ca };
  })();
  return setupP;
}

/** `camwire --json fleet run --certs … --broker … --broker-ca …` and the rest, with the endpoint's AWS keys in the environment. */
function fleetRun(certs: string, brokerDir: string, rest: string[]) {
  return camwireAsync(['--json', 'fleet', 'run', '--certs', certs, '--broker', broker!.url('tls'), '--broker-ca', path.join(brokerDir, 'ca.pem'), ...rest], {
    env: awsEnv(),
  });
}

test.serial(`fleet run --devices ${N} --streams ${K}: ${K} streams, each with PERSISTED fragments, and nothing lost on MQTT`, async (t) => {
  const { certs, brokerDir, things } = await setup();
  if (!broker || !ep) throw new Error('no setup');
  const reportFile = path.join(dir, 'report.json');
  // An independent peer on the broker's plain listener: every stream event.
  const events: Array<{ topic: string; e: { thing: string; stream: string; event: string; status?: string; metrics?: { fragmentsPersisted: number } } }> = [];
  const sub = spawn('mosquitto_sub', [
    '-h',
    '127.0.0.1',
    '-p',
    String(broker.plainPort),
    '-i',
    'streams-observer',
    '-q',
    '1',
    '-t',
    'cameras/+/streams',
    '-F',
    '%t %p',
  ]);
  let tail = '';
  sub.stdout.on('data', (d: Buffer) => {
    const ls = (tail + d.toString()).split('\n');
    tail = ls.pop() ?? '';
    for (const l of ls) {
      const i = l.indexOf(' ');
      events.push({ topic: l.slice(0, i), e: JSON.parse(l.slice(i + 1)) as (typeof events)[number]['e'] });
    }
  });
  const subUp = Date.now();
  while (!broker.log().includes(' as streams-observer ') && Date.now() - subUp < 10_000) await new Promise((res) => setTimeout(res, 50));
  await new Promise((res) => setTimeout(res, 300));
  const r = await fleetRun(certs, brokerDir, [
    '--devices',
    String(N),
    '--duration',
    '6',
    '--streams',
    String(K),
    '--kvs-endpoint',
    ep.url,
    '--kvs-region',
    'us-east-1',
    '--kvs-stream-prefix',
    'live-',
    '--report',
    reportFile,
  ]).done;
  t.is(r.code, 0, r.stderr);
  const rep = JSON.parse(fs.readFileSync(reportFile, 'utf8')) as FleetReport;
  t.notThrows(() => checkReport(rep, reportFile), 'the report matches its schema');

  // The endpoint: sessions for exactly the first K devices' streams, each with PERSISTED fragments.
  const mine = ep.sessions.filter((s) => s.stream.startsWith('live-'));
  const streamed = [...new Set(mine.map((s) => s.stream))].sort();
  t.deepEqual(
    streamed,
    things.slice(0, K).map((x) => `live-${x}`),
  );
  for (const name of streamed) {
    const ss = mine.filter((s) => s.stream === name);
    t.true(
      ss.reduce((n, s) => n + (s.persisted ?? 0), 0) > 0,
      `${name}: ${JSON.stringify(ss.map((s) => ({ persisted: s.persisted, frames: s.frames, endedBy: s.endedBy })))}`,
    );
    t.true(
      ss.every((s) => s.endedBy === 'client'),
      `${name} ended by the client`,
    );
  }
  const sessionFrames = mine.reduce((n, s) => n + s.frames, 0);
  const persisted = mine.reduce((n, s) => n + (s.persisted ?? 0), 0);

  // The report.
  t.truthy(rep.streams, JSON.stringify(rep.notes));
  t.is(rep.streams!.started, K);
  t.is(rep.streams!.errors, 0, JSON.stringify(rep.notes));
  t.true(rep.streams!.fragmentsPersisted > 0);
  t.is(rep.streams!.fragmentsPersisted, persisted);
  t.is(rep.streams!.framesStored, sessionFrames);
  t.true(rep.latency.persist!.count > 0);
  // At 10 fps for 6 s or more each, with the ramp.
  t.true(rep.streams!.framesStored >= K * 40, `${rep.streams!.framesStored} frames`);

  // The MQTT side.
  t.is(rep.everConnected, N);
  t.true(rep.published > 0);
  t.is(rep.acknowledged, rep.published, 'no QoS 1 message lost');

  // The stream events, as `camwire device` publishes them: started … stopped (ok, with the metrics) for each of the K, on its own topic.
  await new Promise((res) => setTimeout(res, 300));
  sub.kill('SIGTERM');
  t.deepEqual([...new Set(events.map((x) => x.e.thing))].sort(), things.slice(0, K), 'events from the K streaming devices only');
  for (const thing of things.slice(0, K)) {
    const mine = events.filter((x) => x.e.thing === thing);
    t.true(
      mine.every((x) => x.topic === `cameras/${thing}/streams` && x.e.stream === `live-${thing}`),
      JSON.stringify(mine),
    );
    t.is(mine[0]?.e.event, 'started', `${thing}: ${mine.map((x) => x.e.event).join(', ')}`);
    t.true(
      mine.some((x) => x.e.event === 'connected'),
      `${thing} connected`,
    );
    const stopped = mine.filter((x) => x.e.event === 'stopped');
    t.is(stopped.length, 1);
    t.is(stopped[0]!.e.status, 'ok');
    t.true(stopped[0]!.e.metrics!.fragmentsPersisted > 0);
    t.is(mine[mine.length - 1]!.e.event, 'stopped');
  }
  t.log(
    `streams ${JSON.stringify(rep.streams)}, persist p50 ${rep.latency.persist!.p50} ms p99 ${rep.latency.persist!.p99} ms; telemetry ${rep.published}/${rep.acknowledged}; run ${rep.durationMs} ms`,
  );
});

test('--stream-size must be multiples of 16; the KVS options need --streams', async (t) => {
  const certs = path.join(dir, 'no-certs');
  const base = ['--json', 'fleet', 'run', '--certs', certs, '--broker', 'mqtts://127.0.0.1:1'];
  const size = await camwireAsync([...base, '--streams', '1', '--stream-size', '50x48']).done;
  t.not(size.code, 0);
  t.regex(size.stdout + size.stderr, /FLEET_BAD_OPTIONS[\s\S]*--stream-size 50x48/);
  const lone = await camwireAsync([...base, '--kvs-endpoint', 'http://127.0.0.1:1']).done;
  t.not(lone.code, 0);
  t.regex(lone.stdout + lone.stderr, /CLI_BAD_ARGUMENT[\s\S]*need --streams/);
});

test.serial("--workers 2: the shard's first K devices stream, split over the workers; the merged report sums them", async (t) => {
  const { certs, brokerDir, things } = await setup();
  if (!broker || !ep) throw new Error('no setup');
  const reportFile = path.join(dir, 'report-workers.json');
  // Devices 4 over 2 workers ([0, 2) and [2, 4)), 3 streams: 2 in the first worker, 1 in the second.
  const r = await fleetRun(certs, brokerDir, [
    '--devices',
    '4',
    '--workers',
    '2',
    '--duration',
    '3',
    '--streams',
    '3',
    '--kvs-endpoint',
    ep.url,
    '--kvs-stream-prefix',
    'w-',
    '--report',
    reportFile,
  ]).done;
  t.is(r.code, 0, r.stderr);
  const rep = JSON.parse(fs.readFileSync(reportFile, 'utf8')) as FleetReport;
  t.notThrows(() => checkReport(rep, reportFile));
  const mine = ep.sessions.filter((s) => s.stream.startsWith('w-'));
  t.deepEqual(
    [...new Set(mine.map((s) => s.stream))].sort(),
    things.slice(0, 3).map((x) => `w-${x}`),
  );
  t.is(rep.streams!.started, 3);
  t.is(rep.streams!.errors, 0, JSON.stringify(rep.notes));
  t.is(
    rep.streams!.fragmentsPersisted,
    mine.reduce((n, s) => n + (s.persisted ?? 0), 0),
  );
  t.true(rep.streams!.fragmentsPersisted >= 3);
  // One latency per PERSISTED ack (the merge added the workers' histograms).
  t.true(rep.latency.persist!.count > 0 && rep.latency.persist!.count <= rep.streams!.fragmentsPersisted, `${rep.latency.persist!.count} latencies`);
  t.is(rep.acknowledged, rep.published);
});

test.serial('--kvs-ca: the endpoint over TLS with a certificate of its own CA', async (t) => {
  const { certs, brokerDir, things, ca } = await setup();
  if (!broker) throw new Error('no setup');
  const server = await ca.issueServer('localhost', ['localhost', '127.0.0.1']);
  const tlsEp = new LocalKvsEndpoint({
    dir: path.join(dir, 'kvs-tls'),
    credentials: [creds],
    region: 'us-east-1',
    tls: { cert: server.certPem, key: server.keyPem },
  });
  await tlsEp.start();
  t.teardown(() => tlsEp.stop());
  t.regex(tlsEp.url, /^https:/);
  const reportFile = path.join(dir, 'report-tls.json');
  const r = await fleetRun(certs, brokerDir, [
    '--devices',
    '2',
    '--duration',
    '2',
    '--streams',
    '1',
    '--kvs-endpoint',
    tlsEp.url,
    '--kvs-ca',
    path.join(brokerDir, 'ca.pem'),
    '--report',
    reportFile,
  ]).done;
  t.is(r.code, 0, r.stderr);
  const rep = JSON.parse(fs.readFileSync(reportFile, 'utf8')) as FleetReport;
  t.deepEqual([...new Set(tlsEp.sessions.map((s) => s.stream))], [things[0]]);
  t.is(rep.streams!.started, 1);
  t.is(rep.streams!.errors, 0, JSON.stringify(rep.notes));
  t.true(rep.streams!.fragmentsPersisted > 0);
});

test.serial('SIGINT ends the run: the streams are closed, their last fragments PERSISTED, and the report written', async (t) => {
  const { certs, brokerDir, things } = await setup();
  if (!broker || !ep) throw new Error('no setup');
  const reportFile = path.join(dir, 'report-sigint.json');
  const run = fleetRun(certs, brokerDir, [
    '--devices',
    '2',
    '--duration',
    '120',
    '--streams',
    '1',
    '--kvs-endpoint',
    ep.url,
    '--kvs-stream-prefix',
    'sig-',
    '--report',
    reportFile,
  ]);
  const mine = () => ep!.sessions.filter((s) => s.stream.startsWith('sig-'));
  // Signalled once the first fragment is PERSISTED, however busy the machine is.
  const deadline = Date.now() + 20_000;
  while (!mine().some((s) => (s.persisted ?? 0) > 0) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const t0 = Date.now();
  run.child.kill('SIGINT');
  const r = await run.done;
  const stopMs = Date.now() - t0;
  t.is(r.code, 0, r.stderr);
  t.true(stopMs < 20_000, `stopped in ${stopMs} ms`);
  const rep = JSON.parse(fs.readFileSync(reportFile, 'utf8')) as FleetReport;
  t.is(rep.streams!.started, 1);
  t.is(rep.streams!.errors, 0, JSON.stringify(rep.notes));
  t.true(rep.streams!.fragmentsPersisted > 0);
  t.deepEqual([...new Set(mine().map((s) => s.stream))], [`sig-${things[0]}`]);
  t.true(mine().every((s) => s.endedBy === 'client'));
  t.is(
    rep.streams!.fragmentsPersisted,
    mine().reduce((n, s) => n + (s.persisted ?? 0), 0),
  );
  t.log(`stopped ${stopMs} ms after SIGINT; ${rep.streams!.fragmentsPersisted} fragments persisted`);
});
