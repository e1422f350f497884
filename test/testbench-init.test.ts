/**
 * `camwire testbench init` (issue 18, first part): the bench directory a
 * camera is pointed at. Certificates checked by openssl (the server's SANs and
 * serverAuth, the device's CN and clientAuth, the TLS-fault certificates that
 * must be refused), keys and bench.json 0600, device.json accepted by
 * `camwire device`'s own parser, nothing written over an existing bench.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { loadAgentConfig } from '../ts/orchestrator/config';
import { BenchConfig } from '../ts/testbench';
import { camwire, run } from './helpers/run';
import { tempDir } from './helpers/tmp';

const work = tempDir('testbench-init');

function init(args: string[]): { status: number | null; json: Record<string, unknown>; stderr: string } {
  const r = camwire(['--json', 'testbench', 'init', ...args]);
  return { status: r.status, json: r.stdout ? (JSON.parse(r.stdout) as Record<string, unknown>) : {}, stderr: r.stderr };
}

test('init: CA, a server certificate for every --host, the device identity, the TLS-fault certificates, bench.json and device.json', (t) => {
  const dir = path.join(work, 'lan');
  const r = init(['--out', dir, '--thing', 'camera042', '--host', '192.168.1.50', '--host', 'bench.local']);
  t.is(r.status, 0, r.stderr);
  t.like(r.json, { thing: 'camera042', hosts: ['192.168.1.50', 'bench.local', '127.0.0.1'] });
  const bench = JSON.parse(fs.readFileSync(path.join(dir, 'bench.json'), 'utf8')) as BenchConfig;
  const f = (k: keyof BenchConfig['files']) => path.join(dir, bench.files[k]);
  t.deepEqual(bench.ports, { mqtt: 18883, s3: 19000, kvs: 19443, iotCredentials: 19444 });

  // The services' certificate: from the bench CA, for the server, every host in its SANs.
  const verify = run('openssl', ['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', f('ca'), f('server')]);
  t.is(verify.status, 0, verify.stdout + verify.stderr);
  const text = run('openssl', ['x509', '-in', f('server'), '-noout', '-ext', 'subjectAltName']).stdout;
  for (const san of ['IP Address:192.168.1.50', 'DNS:bench.local', 'IP Address:127.0.0.1']) t.true(text.includes(san), text);
  for (const host of ['192.168.1.50', 'bench.local', '127.0.0.1']) {
    t.is(run('openssl', ['x509', '-in', f('server'), '-noout', net(host) ? '-checkip' : '-checkhost', host]).stdout.includes('does match'), true, host);
  }

  // The device: CN = thing, a client certificate of the same CA; its chain as JITP wants it.
  t.is(run('openssl', ['verify', '-purpose', 'sslclient', '-CAfile', f('ca'), f('device')]).status, 0);
  t.regex(run('openssl', ['x509', '-in', f('device'), '-noout', '-subject']).stdout, /CN ?= ?camera042/);
  t.is((fs.readFileSync(f('deviceChain'), 'utf8').match(/BEGIN CERTIFICATE/g) ?? []).length, 2);

  // The TLS cases' certificates fail exactly as they must: another CA; the right CA but another host.
  t.not(run('openssl', ['verify', '-CAfile', f('ca'), f('untrustedServer')]).status, 0);
  t.is(run('openssl', ['verify', '-CAfile', f('untrustedCa'), f('untrustedServer')]).status, 0);
  t.is(run('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', f('ca'), f('wrongHostServer')]).status, 0);
  t.true(run('openssl', ['x509', '-in', f('wrongHostServer'), '-noout', '-checkhost', 'bench.local']).stdout.includes('does NOT match'));

  // Secrets 0600: every key and bench.json (the bench's own S3/KVS secret).
  for (const k of [f('caKey'), f('serverKey'), f('deviceKey'), f('untrustedServerKey'), f('wrongHostServerKey'), path.join(dir, 'bench.json')]) {
    t.is(fs.statSync(k).mode & 0o777, 0o600, k);
  }
  t.regex(bench.keys.secretAccessKey, /^[\w-]{40}$/);
  t.false(JSON.stringify(r.json).includes(bench.keys.secretAccessKey), 'the secret is not printed');

  // device.json is what `camwire device --config` takes, pointing at the first host.
  const device = loadAgentConfig(path.join(dir, 'device.json'));
  t.is(device.thing, 'camera042');
  t.is(device.mqtt!.url, 'mqtts://192.168.1.50:18883');
  t.is(device.mqtt!.cert, f('deviceChain'));
  t.is(device.kvs!.endpoint, 'https://192.168.1.50:19443');
  t.is(device.kvs!.iotCredentials!.roleAlias, bench.roleAlias);
  t.true(fs.statSync(device.storage).isDirectory());
});

test('init refuses to write over an existing bench (nothing generated), --force replaces it; bad input is refused', (t) => {
  const dir = path.join(work, 'again');
  t.is(init(['--out', dir, '--thing', 'cam1']).status, 0);
  const before = fs.readFileSync(path.join(dir, 'ca', 'ca.pem'), 'utf8');
  const again = init(['--out', dir, '--thing', 'cam1']);
  t.is(again.status, 1);
  t.is((again.json['error'] as { code: string }).code, 'PKI_FILE_EXISTS');
  t.is(fs.readFileSync(path.join(dir, 'ca', 'ca.pem'), 'utf8'), before);
  t.is(init(['--out', dir, '--thing', 'cam1', '--force']).status, 0);
  t.not(fs.readFileSync(path.join(dir, 'ca', 'ca.pem'), 'utf8'), before);

  const badThing = init(['--out', path.join(work, 'bad1'), '--thing', 'cam/1']);
  t.is((badThing.json['error'] as { code: string }).code, 'PKI_BAD_THING_NAME');
  const badHost = init(['--out', path.join(work, 'bad2'), '--thing', 'cam1', '--host', 'not a host']);
  t.is((badHost.json['error'] as { code: string }).code, 'PKI_BAD_NAME');
  const samePorts = init(['--out', path.join(work, 'bad3'), '--thing', 'cam1', '--mqtt-port', '19000']);
  t.is((samePorts.json['error'] as { code: string }).code, 'CLI_BAD_ARGUMENT');
  for (const d of ['bad1', 'bad2', 'bad3']) t.false(fs.existsSync(path.join(work, d, 'bench.json')), d);
});

function net(host: string): boolean {
  return /^\d+\.\d+\.\d+\.\d+$/.test(host);
}
