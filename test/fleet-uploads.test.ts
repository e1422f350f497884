/**
 * `camwire fleet run --uploads N` against real peers: Mosquitto (mutual TLS,
 * one certificate per device) and OpenStack Swift's S3 API, then camwire's
 * local S3 store (in the fleet's process with --s3-local, in the test's with
 * its faults). An independent mosquitto_sub sees every result message, each
 * matches the contract's schema and names an object that is in the store,
 * byte for byte. Targets from a back end over MQTT (retained on the
 * devices' upload-targets topics) are carried out, a redelivered one is one
 * job, a malformed one is counted and an expired one gets a failed result.
 */
import test from 'ava';
import { ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { S3Client, CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import type { FleetReport } from '../ts/fleet/report-types';
import { checkReport } from '../ts/fleet/report';
import type { UploadResult } from '../ts/common/upload-result';
import { UPLOAD_RESULT_SCHEMA } from '../ts/common/upload-result-schema';
import { LocalS3Store } from '../ts/local';
import { presignPut } from '../ts/upload/presign';
import type { MosquittoBroker } from './helpers/mosquitto';
import { fleetSetup } from './helpers/fleet-setup';
import { camwireAsync } from './helpers/run';
import { S3_CREDENTIALS, SwiftS3 } from './helpers/swift';
import { tempDir } from './helpers/tmp';

const N = 12;
const dir = tempDir('fleet-uploads');
const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
const validResult = ajv.compile(UPLOAD_RESULT_SCHEMA);

let broker: MosquittoBroker | undefined;
let swift: SwiftS3 | undefined;
const observers: ChildProcess[] = [];

test.after.always(async () => {
  for (const o of observers) o.kill('SIGTERM');
  await broker?.stop();
  await swift?.stop();
});

interface Setup {
  certs: string;
  brokerDir: string;
  things: string[];
}
let setupP: Promise<Setup> | undefined;
function setup(): Promise<Setup> {
  setupP ??= (async () => {
    const f = await fleetSetup(dir, 'ucam', N);
    broker = f.broker;
    return { certs: f.certs, brokerDir: f.brokerDir, things: f.things };
  })();
  return setupP;
}

/** An independent peer: mosquitto_sub on the broker's plain listener, every camera's upload results. */
async function observe(name: string): Promise<{ results: () => UploadResult[]; raw: () => string[]; stop: () => void }> {
  const lines: string[] = [];
  let tail = '';
  let err = '';
  const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(broker!.plainPort), '-i', name, '-q', '1', '-t', 'cameras/+/uploads', '-F', '%t %p']);
  observers.push(sub);
  sub.stdout.on('data', (d: Buffer) => {
    const ls = (tail + d.toString()).split('\n');
    tail = ls.pop() ?? '';
    lines.push(...ls);
  });
  sub.stderr.on('data', (d: Buffer) => (err += d.toString()));
  sub.on('error', (e) => (err += `mosquitto_sub: ${e.message}`)); // not installed: said in the timeout below, not an uncaught error
  const t0 = Date.now();
  while (!broker!.log().includes(` as ${name} `)) {
    if (Date.now() - t0 > 10_000) throw new Error(`mosquitto_sub did not connect: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 300)); // its SUBSCRIBE follows the CONNACK
  return {
    raw: () => lines,
    results: () =>
      lines.map((l) => {
        const [topic, ...rest] = l.split(' ');
        const r = JSON.parse(rest.join(' ')) as UploadResult;
        if (topic !== `cameras/${r.thing}/uploads`) throw new Error(`a result of ${r.thing} on ${topic}`);
        return r;
      }),
    stop: () => sub.kill('SIGTERM'),
  };
}

function fleetRun(s: Setup, rest: string[], env: NodeJS.ProcessEnv = process.env) {
  return camwireAsync(
    ['--json', 'fleet', 'run', '--certs', s.certs, '--broker', broker!.url('tls'), '--broker-ca', path.join(s.brokerDir, 'ca.pem'), ...rest],
    {
      env,
    },
  );
}

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const keyOf = (r: UploadResult) => decodeURIComponent(new URL(r.objectUrl!).pathname.split('/').slice(2).join('/'));

test.serial('--uploads 4 against Swift: every result acknowledged, seen by mosquitto_sub, valid, and its object in Swift byte for byte', async (t) => {
  const s = await setup();
  swift = await SwiftS3.start(path.join(dir, 'swift'));
  const bucket = 'fleet-uploads';
  const s3 = new S3Client({ region: 'us-east-1', endpoint: swift.endpoint, forcePathStyle: true, credentials: S3_CREDENTIALS });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const obs = await observe('uploads-observer-swift');
  const reportFile = path.join(dir, 'swift-report.json');
  const env: NodeJS.ProcessEnv = { ...process.env, AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey };
  delete env['AWS_SESSION_TOKEN'];
  delete env['AWS_PROFILE'];
  const bytes = 100_000;
  const r = await fleetRun(
    s,
    [
      '--devices',
      String(N),
      '--duration',
      '3',
      '--uploads',
      '4',
      '--upload-interval',
      '1',
      '--upload-bytes',
      String(bytes),
      '--s3-endpoint',
      swift.endpoint,
      '--s3-bucket',
      bucket,
      '--report',
      reportFile,
    ],
    env,
  ).done;
  t.is(r.code, 0, r.stderr + r.stdout);
  await new Promise((res) => setTimeout(res, 300));
  obs.stop();
  const rep = JSON.parse(fs.readFileSync(reportFile, 'utf8')) as FleetReport;
  t.notThrows(() => checkReport(rep, reportFile));
  t.truthy(rep.uploads, JSON.stringify(rep.notes));
  const u = rep.uploads!;
  t.is(u.errors, 0, JSON.stringify(rep.errors) + JSON.stringify(rep.notes));
  // 4 devices, a cycle a second for 3 s or more each (the first within the first second).
  t.true(u.completed >= 8, `${u.completed} completed`);
  t.is(u.started, u.completed);
  t.is(u.bytes, u.completed * bytes);
  t.is(rep.latency.upload!.count, u.completed);
  t.is(rep.acknowledged, rep.published, 'no telemetry lost beside the uploads');

  const results = obs.results();
  t.is(results.length, u.completed, 'mosquitto_sub saw one result per completed cycle');
  t.deepEqual([...new Set(results.map((x) => x.thing))].sort(), s.things.slice(0, 4), 'only the first 4 devices upload');
  t.is(new Set(results.map((x) => x.id)).size, results.length, 'every result its own target');
  const hashes = new Set<string>();
  for (const res of results) {
    t.true(validResult(res), `${JSON.stringify(res)}: ${ajv.errorsText(validResult.errors)}`);
    t.is(res.status, 'uploaded');
    t.is(res.bytes, bytes);
    t.is(res.source, 'fleet');
    t.notRegex(JSON.stringify(res), /X-Amz-Signature=[0-9a-f]{64}/, 'no signature in a result');
    const obj = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: keyOf(res) }));
    const body = Buffer.from(await obj.Body!.transformToByteArray());
    t.is(body.length, bytes);
    t.is(sha256(body), res.sha256!);
    hashes.add(res.sha256!);
  }
  t.is(hashes.size, 1, 'one synthetic object, the same bytes every time');
  s3.destroy();
  t.log(
    `${u.completed} uploads of ${bytes} B to Swift, upload p50 ${rep.latency.upload!.p50} ms p99 ${rep.latency.upload!.p99} ms; telemetry ${rep.published}/${rep.acknowledged}`,
  );
});

test.serial(
  'targets from the back end over MQTT, with --s3-local --workers 2: carried out once each, a malformed one counted, an expired one failed',
  async (t) => {
    const s = await setup();
    // The back end: a store of its own (a PUT refused with 503 twice on the way) and retained targets on the devices' topics.
    const backEnd = new LocalS3Store({
      dir: path.join(dir, 'backend-s3'),
      credentials: { accessKeyId: 'AKIDBACKEND', secretAccessKey: 'backend-secret' },
      buckets: ['backend'],
    });
    await backEnd.start();
    t.teardown(() => backEnd.stop());
    backEnd.faults.add({ match: (req) => req.method === 'PUT', status: 503, count: 2 });
    const presign = (key: string, expiresIn = 600) =>
      presignPut({
        endpoint: backEnd.url,
        bucket: 'backend',
        key,
        credentials: { accessKeyId: 'AKIDBACKEND', secretAccessKey: 'backend-secret' },
        expiresIn,
        contentType: 'application/octet-stream',
        shareExpiresIn: 0,
      });
    const good = await presign('from-backend/ucam000.bin');
    const second = await presign('from-backend/ucam002.bin');
    const expired = await presign('from-backend/ucam001.bin', 1);
    await new Promise((r) => setTimeout(r, 1200));
    // An empty payload (-n) clears the retained message.
    const retained = (thing: string, payload: string) =>
      new Promise<void>((resolve, reject) => {
        const p = spawn('mosquitto_pub', [
          '-h',
          '127.0.0.1',
          '-p',
          String(broker!.plainPort),
          '-q',
          '1',
          '-r',
          '-t',
          `cameras/${thing}/upload-targets`,
          payload ? '-s' : '-n',
        ]);
        p.stdin.end(payload);
        p.on('error', reject);
        p.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`mosquitto_pub exited ${c}`))));
      });
    await retained('ucam000', JSON.stringify(good));
    await retained('ucam001', JSON.stringify(expired));
    await retained('ucam002', JSON.stringify(second));
    await retained('ucam003', '{"version":1,"id":"x"'); // not JSON
    const obs = await observe('uploads-observer-local');
    const storeDir = path.join(dir, 'fleet-s3');
    const reportFile = path.join(dir, 'local-report.json');
    const env = { ...process.env };
    delete env['AWS_ACCESS_KEY_ID']; // --s3-local needs no AWS keys
    delete env['AWS_SECRET_ACCESS_KEY'];
    const puts: string[] = [];
    backEnd.on('request', (q) => q.method === 'PUT' && q.status === 200 && puts.push(q.key ?? ''));
    const run = fleetRun(
      s,
      [
        '--devices',
        '6',
        '--workers',
        '2',
        '--duration',
        '3',
        '--uploads',
        '4',
        '--upload-interval',
        '1',
        '--s3-local',
        storeDir,
        '--s3-bucket',
        'fleet-local',
        '--report',
        reportFile,
      ],
      env,
    ).done;
    // The same target once more while the run goes on (as a QoS 1 redelivery would): one job, its result published again.
    const until = Date.now() + 10_000;
    while (!obs.results().some((x) => x.id === good.id) && Date.now() < until) await new Promise((res) => setTimeout(res, 50));
    await retained('ucam000', '');
    await new Promise<void>((resolve, reject) => {
      const p = spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker!.plainPort), '-q', '1', '-t', 'cameras/ucam000/upload-targets', '-s']);
      p.stdin.end(JSON.stringify(good));
      p.on('error', reject);
      p.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`mosquitto_pub exited ${c}`))));
    });
    const r = await run;
    for (const thing of ['ucam000', 'ucam001', 'ucam002', 'ucam003']) await retained(thing, '');
    await new Promise((res) => setTimeout(res, 300));
    obs.stop();
    t.is(r.code, 0, r.stderr + r.stdout);
    const rep = JSON.parse(fs.readFileSync(reportFile, 'utf8')) as FleetReport;
    t.notThrows(() => checkReport(rep, reportFile));
    const u = rep.uploads!;
    t.is(rep.processes.length, 3, 'two workers and the parent');
    // The 3 JSON targets came from the back end (the redelivered one is not counted again).
    t.is(u.received, 3, JSON.stringify(rep.notes));
    t.is(rep.errors['UPLOAD_TARGET_INVALID'], 1, 'the malformed target is counted');
    t.is(rep.errors['UPLOAD_EXPIRED'], 1, 'the expired target');
    t.is(u.errors, 2, JSON.stringify(rep.errors));
    t.is(u.started - u.errors! + 1, u.completed, 'every other cycle completed (the malformed one never started)');

    const results = obs.results();
    t.is(
      new Set(results.filter((x) => x.status === 'uploaded').map((x) => x.id)).size,
      u.completed,
      'one uploaded result per completed cycle (and the redelivered one again)',
    );
    for (const res of results) t.true(validResult(res), `${JSON.stringify(res)}: ${ajv.errorsText(validResult.errors)}`);
    // The back end's two targets: uploaded once each into its own store, despite two 503s.
    for (const [target, key] of [
      [good, 'from-backend/ucam000.bin'],
      [second, 'from-backend/ucam002.bin'],
    ] as const) {
      const mine = results.filter((x) => x.id === target.id);
      t.is(mine.length, target === good ? 2 : 1, `results for ${key}`);
      t.deepEqual(mine[0], mine[mine.length - 1], 'the same result again');
      t.is(puts.filter((k) => k === key).length, 1, `${key} was PUT once`);
      t.is(mine[0]!.status, 'uploaded');
      const obj = backEnd.object('backend', key);
      t.truthy(obj, `${key} is in the back end's store`);
      t.is(obj!.size, 65_536);
      t.is(obj!.sha256, mine[0]!.sha256!);
    }
    t.is(backEnd.faults.answered, 2, 'both 503s were given (and retried)');
    const failed = results.filter((x) => x.id === expired.id);
    t.is(failed.length, 1);
    t.is(failed[0]!.status, 'failed');
    t.is(failed[0]!.error?.code, 'UPLOAD_EXPIRED');
    t.is(backEnd.object('backend', 'from-backend/ucam001.bin'), undefined, 'nothing of the expired target was stored');

    // The fleet's own presigned cycles: their objects in the local store it ran, byte for byte what the results say.
    const store = new LocalS3Store({ dir: storeDir, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    const own = results.filter((x) => x.status === 'uploaded' && !x.objectUrl!.startsWith(backEnd.url));
    t.is(own.length + 2, u.completed);
    t.true(own.length >= 8, `${own.length} presigned cycles`);
    t.deepEqual([...new Set(own.map((x) => x.thing))].sort(), s.things.slice(0, 4), 'the first 4 devices, over both workers');
    for (const res of own) {
      const obj = store.object('fleet-local', keyOf(res));
      t.truthy(obj, `${keyOf(res)} is in the local store`);
      t.is(sha256(fs.readFileSync(obj!.file)), res.sha256!);
    }
    t.log(
      `${u.completed} completed over 2 workers (${u.received} from the back end), upload p99 ${rep.latency.upload!.p99} ms; errors ${JSON.stringify(rep.errors)}`,
    );
  },
);

test('the upload options: --s3-* need --uploads; presigning without AWS keys is one clear error before any camera connects', async (t) => {
  const s = await setup();
  const lone = await fleetRun(s, ['--s3-bucket', 'b']).done;
  t.not(lone.code, 0);
  t.regex(lone.stdout + lone.stderr, /CLI_BAD_ARGUMENT[\s\S]*need --uploads/);
  const both = await fleetRun(s, ['--uploads', '1', '--s3-local', path.join(dir, 'x'), '--s3-endpoint', 'http://127.0.0.1:1']).done;
  t.regex(both.stdout + both.stderr, /CLI_BAD_ARGUMENT[\s\S]*--s3-local/);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/nonexistent',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
  };
  for (const k of [
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
    'AWS_SESSION_TOKEN',
    'AWS_PROFILE',
    'AWS_WEB_IDENTITY_TOKEN_FILE',
    'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  ])
    delete env[k];
  const mark = broker!.log().length;
  const noKeys = await fleetRun(s, ['--devices', '2', '--uploads', '1', '--s3-bucket', 'b', '--s3-endpoint', 'http://127.0.0.1:1'], env).done;
  t.not(noKeys.code, 0);
  t.regex(noKeys.stdout + noKeys.stderr, /PRESIGN_NO_CREDENTIALS/);
  t.false(broker!.log().slice(mark).includes('as ucam000'), 'no camera connected');
});

test.serial('the S3 store killed mid-run: cycles fail with a clear code, failed results are published, the run ends cleanly', async (t) => {
  const s = await setup();
  const creds = { accessKeyId: 'AKIDKILLED', secretAccessKey: 'killed-secret' };
  const store = new LocalS3Store({ dir: path.join(dir, 'killed-s3'), credentials: creds, buckets: ['killed'] });
  await store.start();
  t.teardown(() => store.stop());
  const obs = await observe('uploads-observer-killed');
  const reportFile = path.join(dir, 'killed-report.json');
  const env: NodeJS.ProcessEnv = { ...process.env, AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey };
  delete env['AWS_SESSION_TOKEN'];
  delete env['AWS_PROFILE'];
  const run = fleetRun(
    s,
    [
      '--devices',
      '4',
      '--duration',
      '4',
      '--uploads',
      '2',
      '--upload-interval',
      '0.5',
      '--s3-endpoint',
      store.url,
      '--s3-bucket',
      'killed',
      '--report',
      reportFile,
    ],
    env,
  ).done;
  const until = Date.now() + 15_000;
  while (obs.results().length < 2 && Date.now() < until) await new Promise((res) => setTimeout(res, 50));
  await store.stop();
  const r = await run;
  await new Promise((res) => setTimeout(res, 300));
  obs.stop();
  t.is(r.code, 0, r.stderr + r.stdout);
  const rep = JSON.parse(fs.readFileSync(reportFile, 'utf8')) as FleetReport;
  const u = rep.uploads!;
  const results = obs.results();
  const failed = results.filter((x) => x.status === 'failed');
  t.true(u.completed >= 2, `${u.completed} completed before the kill`);
  t.true(u.errors! >= 1, JSON.stringify(u));
  t.is(u.started, u.completed + u.errors!);
  t.is(results.filter((x) => x.status === 'uploaded').length, u.completed);
  t.true(failed.length >= 1, 'failed results were published');
  for (const f of failed) {
    t.true(validResult(f));
    t.is(f.error?.code, 'UPLOAD_NETWORK', JSON.stringify(f.error));
    t.notRegex(f.error!.message, /X-Amz-Signature=[0-9a-f]{64}/, 'the signature is redacted');
  }
  t.is(rep.errors['UPLOAD_NETWORK'], failed.length, JSON.stringify(rep.errors));
  t.is(rep.acknowledged, rep.published, 'telemetry went on meanwhile, nothing lost');
  t.log(`${u.completed} completed, ${u.errors} failed after the kill; errors ${JSON.stringify(rep.errors)}`);
});
