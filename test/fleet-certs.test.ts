/**
 * `fleet certs`: N device certificates named {prefix}{index:05}, keys 0600,
 * chains checked by OpenSSL (the independent peer), valid ones reused (a
 * second run issues none; a larger count issues only the new devices;
 * another CA's are replaced), and loadFleetCerts hands the engine its range.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { CamwireError } from '../ts/errors';
import { loadFleetCerts, makeFleetCerts, readFleetCertsIndex } from '../ts/fleet/certs';
import { camwire, camwireJson, run } from './helpers/run';
import { tempDir } from './helpers/tmp';

const dir = tempDir('fleet-certs');
const caDir = path.join(dir, 'ca');
const otherCaDir = path.join(dir, 'other-ca');

test.before(() => {
  for (const d of [caDir, otherCaDir]) camwireJson(['pki', 'init-ca', '--out', d, '--key-type', 'ec']);
});

interface CertsResult {
  count: number;
  issued: number;
  reused: number;
  perSecond: number;
  index: string;
}

test('the CLI issues N named EC P-256 certificates with 0600 keys that OpenSSL verifies, then reuses them', (t) => {
  const out = path.join(dir, 'cli');
  const first = camwireJson<CertsResult>(['fleet', 'certs', '--ca', caDir, '--count', '25', '--out', out, '--subscriber']);
  t.like(first, { count: 25, issued: 26, reused: 0 }, 'the subscriber identity is issued beside the 25 devices');
  const idx = readFleetCertsIndex(out);
  t.deepEqual(
    idx.devices.map((d) => d.thing),
    Array.from({ length: 25 }, (_, i) => `cam${String(i).padStart(5, '0')}`),
  );
  t.is(idx.keyType, 'ec');
  t.is(idx.subscriber?.thing, 'fleet-subscriber');
  const files = fs.readdirSync(out).sort();
  t.is(files.filter((f) => f.endsWith('.key')).length, 26);
  t.true(files.includes('ca.pem') && files.includes('fleet.json'));
  for (const f of files.filter((x) => x.endsWith('.key'))) t.is(fs.statSync(path.join(out, f)).mode & 0o777, 0o600, `${f} is 0600`);
  for (const d of idx.devices) {
    const cert = new X509Certificate(fs.readFileSync(path.join(out, d.cert)));
    t.is(cert.subject, `CN=${d.thing}`);
    t.is(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  }
  // OpenSSL checks every chain against the CA in the directory, in one call.
  const v = run('openssl', ['verify', '-CAfile', path.join(out, 'ca.pem'), ...idx.devices.map((d) => path.join(out, d.cert))]);
  t.is(v.status, 0, v.stderr);
  t.is(v.stdout.split('\n').filter((l) => l.endsWith(': OK')).length, 25);

  const again = camwireJson<CertsResult>(['fleet', 'certs', '--ca', caDir, '--count', '25', '--out', out, '--subscriber']);
  t.like(again, { issued: 0, reused: 26 }, 'a second run issues none');
  const more = camwireJson<CertsResult>(['fleet', 'certs', '--ca', caDir, '--count', '30', '--out', out]);
  t.like(more, { count: 30, issued: 5, reused: 25 }, 'a larger count issues only the new devices');
});

test('certificates of another CA, a torn key or the other key type are issued again', async (t) => {
  const out = path.join(dir, 'lib');
  t.like(await makeFleetCerts({ caDir, count: 6, outDir: out, prefix: 'shop-a-' }), { issued: 6, reused: 0 });
  fs.writeFileSync(path.join(out, 'shop-a-00002.key'), 'torn');
  t.like(await makeFleetCerts({ caDir, count: 6, outDir: out, prefix: 'shop-a-' }), { issued: 1, reused: 5 });
  t.like(await makeFleetCerts({ caDir: otherCaDir, count: 6, outDir: out, prefix: 'shop-a-' }), { issued: 6, reused: 0 }, 'another CA: all replaced');
  const v = run('openssl', ['verify', '-CAfile', path.join(otherCaDir, 'ca.pem'), path.join(out, 'shop-a-00002.pem')]);
  t.is(v.status, 0, v.stderr);
  const rsa = await makeFleetCerts({ caDir: otherCaDir, count: 2, outDir: out, prefix: 'shop-a-', keyType: 'rsa' });
  t.like(rsa, { issued: 2, reused: 0 }, 'ec keys are not reused for --key rsa');
  t.is(new X509Certificate(fs.readFileSync(path.join(out, 'shop-a-00000.pem'))).publicKey.asymmetricKeyType, 'rsa');
});

test('loadFleetCerts returns devices [from, to) with the CA, and refuses a range the directory lacks', async (t) => {
  const out = path.join(dir, 'load');
  await makeFleetCerts({ caDir, count: 10, outDir: out });
  const l = loadFleetCerts(out, 3, 7);
  t.is(l.count, 10);
  t.deepEqual(
    l.devices.map((d) => [d.index, d.thing]),
    [
      [3, 'cam00003'],
      [4, 'cam00004'],
      [5, 'cam00005'],
      [6, 'cam00006'],
    ],
  );
  t.true(new X509Certificate(l.devices[0]!.certPem).checkIssued(new X509Certificate(l.caPem)));
  t.regex(l.devices[0]!.keyPem, /BEGIN PRIVATE KEY/);
  t.is(loadFleetCerts(out).devices.length, 10);
  const e = t.throws(() => loadFleetCerts(out, 5, 12), { instanceOf: CamwireError });
  t.is(e?.code, 'FLEET_CERTS_NOT_FOUND');
  t.is(t.throws(() => loadFleetCerts(path.join(dir, 'nowhere')), { instanceOf: CamwireError })?.code, 'FLEET_CERTS_NOT_FOUND');
});

test('bad options are refused with FLEET_BAD_OPTIONS, a missing CA with PKI_CA_NOT_FOUND', async (t) => {
  const out = path.join(dir, 'bad');
  await t.throwsAsync(makeFleetCerts({ caDir, count: 2, outDir: out, prefix: 'no spaces' }), { code: 'FLEET_BAD_OPTIONS' });
  await t.throwsAsync(makeFleetCerts({ caDir, count: 100000, outDir: out }), { code: 'FLEET_BAD_OPTIONS' });
  const r = camwire(['--json', 'fleet', 'certs', '--ca', path.join(dir, 'no-ca'), '--count', '2', '--out', out]);
  t.is(r.status, 1);
  t.is((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'PKI_CA_NOT_FOUND');
});
