/** The camwire CLI as a user runs it: every command has --help, --json is parseable, errors carry codes. */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { allCommands, buildProgram } from '../ts/cli/main';
import { CertificateAuthority } from '../ts/pki';
import { DurableOutbox } from '../ts/mqtt/outbox';
import { MosquittoBroker } from './helpers/mosquitto';
import { camwire, camwireJson, CLI, run } from './helpers/run';
import { tempDir } from './helpers/tmp';

const dir = tempDir('cli');

test('every command answers --help with its usage', (t) => {
  const paths = allCommands(buildProgram()).map((c) => {
    const names: string[] = [];
    for (let x: typeof c | null = c; x && x.parent; x = x.parent) names.unshift(x.name());
    return names;
  });
  t.true(paths.length >= 10, paths.map((p) => p.join(' ')).join(', '));
  for (const p of [[], ...paths]) {
    const r = camwire([...p, '--help']);
    t.is(r.status, 0, `${p.join(' ')}: ${r.stderr}`);
    t.true(r.stdout.startsWith(`Usage: camwire${p.length ? ' ' + p.join(' ') : ''} `), `${p.join(' ')}: ${r.stdout.slice(0, 80)}`);
  }
});

test('pki via the CLI: CA, device, chain, key modes, openssl verify, refusal to overwrite', (t) => {
  const ca = path.join(dir, 'ca');
  const devices = path.join(dir, 'devices');
  const init = camwireJson<{ keyType: string; files: Array<{ file: string }> }>(['pki', 'init-ca', '--out', ca, '--key-type', 'ec', '--cn', 'Fleet CA']);
  t.is(init.keyType, 'ec');
  t.is(fs.statSync(path.join(ca, 'ca.key')).mode & 0o777, 0o600);
  const issued = camwireJson<{ thing: string; serialNumber: string }>(['pki', 'issue', '--ca', ca, '--thing', 'camera001', '--out', devices]);
  t.is(issued.thing, 'camera001');
  t.is(fs.statSync(path.join(devices, 'camera001.key')).mode & 0o777, 0o600);
  const v = run('openssl', ['verify', '-CAfile', path.join(ca, 'ca.pem'), path.join(devices, 'camera001.pem')]);
  t.is(v.status, 0, v.stderr);
  t.is(
    fs.readFileSync(path.join(devices, 'camera001.chain.pem'), 'utf8'),
    fs.readFileSync(path.join(devices, 'camera001.pem'), 'utf8') + fs.readFileSync(path.join(ca, 'ca.pem'), 'utf8'),
  );
  // Issuing again without --force keeps the existing files.
  const again = camwire(['--json', 'pki', 'issue', '--ca', ca, '--thing', 'camera001', '--out', devices]);
  t.is(again.status, 1);
  t.is((JSON.parse(again.stdout) as { error: { code: string } }).error.code, 'PKI_FILE_EXISTS');
  // The human form of an error: code, message, hint on stderr.
  const bad = camwire(['pki', 'issue', '--ca', ca, '--thing', 'bad name', '--out', devices]);
  t.is(bad.status, 1);
  t.regex(bad.stderr, /^camwire: PKI_BAD_THING_NAME: "bad name" is not a valid AWS IoT thing name/m);
  t.regex(bad.stderr, /hint: /);
  // Private keys never reach stdout.
  t.notRegex(again.stdout + bad.stdout + bad.stderr, /PRIVATE KEY/);
});

test('pki sign-csr via the CLI reads a CSR from stdin', (t) => {
  const ca = path.join(dir, 'ca-csr');
  camwireJson(['pki', 'init-ca', '--out', ca]);
  const key = path.join(dir, 'onboard.key');
  const req = run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj', '/CN=camera042']);
  t.is(req.status, 0, req.stderr);
  const signed = camwireJson<{ thing: string; keyType: string }>(['pki', 'sign-csr', '--ca', ca, '--csr', '-', '--out', dir], { input: req.stdout });
  t.deepEqual([signed.thing, signed.keyType], ['camera042', 'ec']);
  t.is(run('openssl', ['verify', '-CAfile', path.join(ca, 'ca.pem'), path.join(dir, 'camera042.pem')]).status, 0);
});

test('pki jitp-template and policy print JSON that parses, with the policy embedded', (t) => {
  const tpl = camwire(['pki', 'jitp-template', '--account-id', '123456789012', '--region', 'eu-west-1']);
  t.is(tpl.status, 0, tpl.stderr);
  const cfg = JSON.parse(tpl.stdout) as { templateBody: string; roleArn: string };
  t.is(cfg.roleArn, 'arn:aws:iam::123456789012:role/camwire-jitp');
  const body = JSON.parse(cfg.templateBody) as { Resources: Record<string, { Type: string; Properties: { PolicyDocument?: string } }> };
  const policy = JSON.parse(Object.values(body.Resources).find((r) => r.Type === 'AWS::IoT::Policy')!.Properties.PolicyDocument!) as {
    Statement: Array<{ Resource: string }>;
  };
  t.true(policy.Statement.every((s) => s.Resource.startsWith('arn:aws:iot:eu-west-1:123456789012:')));
  const pol = camwire(['pki', 'policy']);
  t.is(pol.status, 0);
  t.is((JSON.parse(pol.stdout) as { Version: string }).Version, '2012-10-17');
  const ver = camwire(['pki', 'verification-cert', '--ca', path.join(dir, 'ca'), '--registration-code', 'abcdef0123456789', '--out', path.join(dir, 'verif')]);
  t.is(ver.status, 0, ver.stderr);
  t.regex(ver.stdout, /aws iot register-ca-certificate/);
});

test('mqtt sub and pub via the CLI over mutual TLS, with files made by the CLI', async (t) => {
  const ca = path.join(dir, 'ca-mqtt');
  const devices = path.join(dir, 'devices-mqtt');
  camwireJson(['pki', 'init-ca', '--out', ca]);
  camwireJson(['pki', 'issue', '--ca', ca, '--thing', 'camera001', '--out', devices]);
  camwireJson(['pki', 'issue', '--ca', ca, '--thing', 'camera002', '--out', devices, '--key-type', 'ec']);
  const brokerDir = path.join(dir, 'broker');
  fs.mkdirSync(brokerDir);
  const broker = await MosquittoBroker.start({
    dir: brokerDir,
    ca: await CertificateAuthority.load(fs.readFileSync(path.join(ca, 'ca.pem'), 'utf8'), fs.readFileSync(path.join(ca, 'ca.key'), 'utf8')),
  });
  t.teardown(() => broker.stop());
  const tlsArgs = (thing: string) => [
    '--url',
    broker.url('tls'),
    '--thing',
    thing,
    '--cert',
    path.join(devices, `${thing}.pem`),
    '--key',
    path.join(devices, `${thing}.key`),
    '--ca',
    path.join(ca, 'ca.pem'),
  ];

  // The back end's view: a subscriber on the bring-up listener (a second
  // connection as camera001 would take over the camera's own session).
  const sub = spawn(
    process.execPath,
    [CLI, 'mqtt', 'sub', '--url', broker.url('plain'), '--thing', 'backend', '--topic', 'cameras/+/uploads', '--count', '3', '--timeout', '20'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.teardown(() => {
    sub.kill();
  });
  const lines: string[] = [];
  readline.createInterface({ input: sub.stdout! }).on('line', (l) => lines.push(l));
  let err = '';
  sub.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((r) => sub.once('exit', r));
  for (let i = 0; i < 400 && !/subscribed to/.test(err); i++) await new Promise((r) => setTimeout(r, 25));
  t.regex(err, /subscribed to cameras\/\+\/uploads/);
  // camera002's certificate cannot publish into camera001's topics.
  const spoof = camwire(['mqtt', 'pub', ...tlsArgs('camera002'), '--topic', 'cameras/camera001/uploads', '--message', 'spoof']);
  t.is(spoof.status, 0, 'MQTT 3.1.1: the broker acknowledges and drops it');
  const pub = camwire(['--json', 'mqtt', 'pub', ...tlsArgs('camera001'), '--topic', 'cameras/camera001/uploads', '--message', 'photo {n}', '--count', '3']);
  t.is(pub.status, 0, pub.stdout + pub.stderr);
  const res = JSON.parse(pub.stdout) as { count: number; qos: number };
  t.deepEqual([res.count, res.qos], [3, 1]);
  t.is(await exited, 0, err);
  t.deepEqual(lines, ['cameras/camera001/uploads photo 0', 'cameras/camera001/uploads photo 1', 'cameras/camera001/uploads photo 2']);

  // A foreign CA's certificate: exit 1 with the code.
  const other = path.join(dir, 'ca-other');
  camwireJson(['pki', 'init-ca', '--out', other]);
  camwireJson(['pki', 'issue', '--ca', other, '--thing', 'camera001', '--out', path.join(dir, 'other-devices')]);
  const refused = camwire([
    '--json',
    'mqtt',
    'pub',
    '--url',
    broker.url('tls'),
    '--thing',
    'camera001',
    '--cert',
    path.join(dir, 'other-devices', 'camera001.pem'),
    '--key',
    path.join(dir, 'other-devices', 'camera001.key'),
    '--ca',
    path.join(ca, 'ca.pem'),
    '--topic',
    'cameras/camera001/x',
    '--message',
    'x',
    '--connect-timeout',
    '10',
  ]);
  t.is(refused.status, 1);
  t.is((JSON.parse(refused.stdout) as { error: { code: string } }).error.code, 'MQTT_UNKNOWN_CA');

  // A --ca that holds no certificate (here: a key) is named, not blamed on the broker.
  const wrongCa = camwire([
    '--json',
    'mqtt',
    'pub',
    ...tlsArgs('camera001').slice(0, -1),
    path.join(devices, 'camera001.key'),
    '--topic',
    'cameras/camera001/x',
    '--message',
    'x',
    '--connect-timeout',
    '5',
  ]);
  t.is(wrongCa.status, 1);
  const wrongCaErr = (JSON.parse(wrongCa.stdout) as { error: { code: string; message: string } }).error;
  t.is(wrongCaErr.code, 'MQTT_BAD_OPTIONS');
  t.regex(wrongCaErr.message, /CA file \(--ca\) holds no PEM certificate/);

  // What an interrupted run left in its outbox: mqtt flush sends it, and pub says it sent it too.
  const outboxDir = path.join(dir, 'outbox-flush');
  const box = await DurableOutbox.open(outboxDir);
  for (let i = 0; i < 5; i++) await box.append({ topic: 'cameras/camera001/uploads', payload: Buffer.from(`left ${i}`), retain: false });
  await box.close();
  const watch = spawn(
    'mosquitto_sub',
    ['-h', '127.0.0.1', '-p', String(broker.plainPort), '-i', 'flush-watch', '-t', 'cameras/camera001/uploads', '-C', '6', '-W', '20'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.teardown(() => {
    watch.kill();
  });
  let seen = '';
  watch.stdout!.on('data', (d: Buffer) => {
    seen += d.toString();
  });
  const watchExit = new Promise<number | null>((r) => watch.once('exit', r));
  await new Promise((r) => setTimeout(r, 500));
  const flush = camwire(['--json', 'mqtt', 'flush', ...tlsArgs('camera001'), '--no-status', '--outbox', outboxDir]);
  t.is(flush.status, 0, flush.stdout + flush.stderr);
  t.is((JSON.parse(flush.stdout) as { flushed: number }).flushed, 5);
  const empty = camwire(['mqtt', 'flush', ...tlsArgs('camera001'), '--no-status', '--outbox', outboxDir]);
  t.regex(empty.stdout, /was empty; nothing to send/);
  const box2 = await DurableOutbox.open(outboxDir);
  await box2.append({ topic: 'cameras/camera001/uploads', payload: Buffer.from('left 5'), retain: false });
  await box2.close();
  const pubFlush = camwire([
    'mqtt',
    'pub',
    ...tlsArgs('camera001'),
    '--no-status',
    '--outbox',
    outboxDir,
    '--topic',
    'cameras/camera001/x',
    '--message',
    'new',
  ]);
  t.is(pubFlush.status, 0, pubFlush.stderr);
  t.regex(pubFlush.stdout, /and 1 message\(s\) an earlier run left in the outbox/);
  t.is(await watchExit, 0);
  t.deepEqual(seen.trim().split('\n'), ['left 0', 'left 1', 'left 2', 'left 3', 'left 4', 'left 5']);
  t.is(camwire(['mqtt', 'flush', ...tlsArgs('camera001')]).status, 1, 'flush without --outbox is a usage error');
});

test('with --json a usage error is one JSON error document; presign refuses parts S3 would refuse', (t) => {
  const r = camwire(['--json', 'mqtt', 'pub', '--url', 'mqtt://127.0.0.1:9', '--thing', 'x', '--topic', 't', '--no-such-flag']);
  t.is(r.status, 1);
  t.is(r.stderr, '', 'nothing but the JSON document');
  const e = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
  t.is(e.code, 'CLI_USAGE');
  t.regex(e.message, /unknown option '--no-such-flag'/);
  const plain = camwire(['mqtt', 'pub', '--url', 'mqtt://127.0.0.1:9', '--thing', 'x', '--topic', 't', '--no-such-flag']);
  t.regex(plain.stderr, /error: unknown option/);
  const env = { ...process.env, AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret' };
  const small = camwire(
    [
      '--json',
      'presign',
      'multipart',
      '--endpoint',
      'http://127.0.0.1:9',
      '--region',
      'us-east-1',
      '--bucket',
      'b',
      '--key',
      'k',
      '--size',
      '1000',
      '--part-size',
      '100',
    ],
    { env },
  );
  t.is(small.status, 1, small.stdout + small.stderr);
  const se = (JSON.parse(small.stdout) as { error: { code: string; message: string } }).error;
  t.is(se.code, 'PRESIGN_BAD_ARGUMENT');
  t.regex(se.message, /below the store's minimum/);
});

test('a decided command never hangs: with a handle left open the CLI still exits with its code, and CAMWIRE_DEBUG names the handle', (t) => {
  // A listening server stands for a socket a failed peer never closed.
  const script = `const cli = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'cli', 'main.js'))});
require('node:net').createServer().listen(0, '127.0.0.1', () => cli.finish(3, 300));`;
  // A run that hung would be killed at 20 s and have no exit status of 3.
  const r = run(process.execPath, ['-e', script], { env: { ...process.env, CAMWIRE_DEBUG: 'exit' }, timeoutMs: 20_000 });
  t.is(r.status, 3, r.stderr);
  t.regex(r.stderr, /camwire: still open 300 ms after the command ended: TCPServerWrap; exiting/);
});

test('a number an option refuses is reported with the option it was given to', (t) => {
  const cases: Array<[string[], RegExp]> = [
    [
      ['fleet', 'run', '--certs', 'nowhere', '--url', 'mqtt://127.0.0.1:9', '--devices', 'abc'],
      /CLI_BAD_ARGUMENT: --devices: "abc" is not a positive whole number/,
    ],
    [['fleet', 'run', '--certs', 'nowhere', '--url', 'mqtt://127.0.0.1:9', '--rate', '-1'], /--rate: "-1" is not a positive number/],
    [['kvs', 'serve-local', '--dir', 'nowhere', '--port', '70000'], /--port: "70000" is not a port \(0 to 65535\)/],
    [['kvs', 'stream', '--input', 'a.h264', '--out', 'b.mkv', '--fps', 'thirty'], /--fps: "thirty" is not a positive number/],
    [['ptp', 'serve', '--storage', 'nowhere', '--port', 'x'], /--port: "x" is not a port/],
    [['presign', 'multipart', '--bucket', 'b', '--key', 'k', '--size', 'big'], /--size: "big" is not a whole number of 0 or more/],
  ];
  for (const [args, want] of cases) {
    const r = camwire(args);
    t.is(r.status, 1, args.join(' '));
    t.regex(r.stderr, want, args.join(' '));
  }
  const json = camwire(['--json', 'fleet', 'run', '--certs', 'nowhere', '--url', 'mqtt://127.0.0.1:9', '--workers', '0']);
  const e = (JSON.parse(json.stdout) as { error: { code: string; message: string } }).error;
  t.is(e.code, 'CLI_BAD_ARGUMENT');
  t.is(e.message, '--workers: "0" is not a positive whole number');
});
