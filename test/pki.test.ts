/**
 * Device identity: what camwire's CA issues is checked by OpenSSL, the
 * independent peer, not by camwire itself.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import crypto, { X509Certificate } from 'node:crypto';
import { iotPolicy, jitpRegistrationConfig } from '../ts/cloud';
import { CertificateAuthority, checkThingName, loadCaDir, writePrivateKey } from '../ts/pki';
import { CamwireError } from '../ts/errors';
import { DeviceConnection } from '../ts/mqtt';
import { MosquittoBroker } from './helpers/mosquitto';
import { camwire, camwireJson, run } from './helpers/run';
import { tempDir } from './helpers/tmp';

const dir = tempDir('pki');

function openssl(args: string[], input?: string): string {
  const r = run('openssl', args, input === undefined ? {} : { input });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout + r.stderr;
}

/** The one PEM block of this type in text (OpenSSL mixes progress output into it). */
function pemBlock(text: string, type: string): string {
  const m = new RegExp(`-----BEGIN ${type}-----[\\s\\S]+?-----END ${type}-----\\n`).exec(text);
  if (!m) throw new Error(`no ${type} in:\n${text}`);
  return m[0];
}

function write(name: string, text: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

for (const keyType of ['rsa', 'ec'] as const) {
  test(`${keyType}: root CA has CA:TRUE critical, keyCertSign+cRLSign, SKI = AKI`, async (t) => {
    const { certPem } = await CertificateAuthority.create({ keyType, commonName: `Fleet ${keyType} CA`, days: 20 });
    const text = openssl(['x509', '-noout', '-text', '-in', write(`ca-${keyType}.pem`, certPem)]);
    t.regex(text, /Basic Constraints: critical\s+CA:TRUE/);
    t.regex(text, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
    t.regex(text, keyType === 'rsa' ? /Public-Key: \(2048 bit\)/ : /ASN1 OID: prime256v1/);
    const ski = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(text)?.[1];
    const aki = /Authority Key Identifier:\s+(?:keyid:)?([0-9A-F:]+)/.exec(text)?.[1];
    t.truthy(ski);
    t.is(aki, ski);
    t.regex(text, /Subject: CN = Fleet \w+ CA/);
    const c = new X509Certificate(certPem);
    const days = (Date.parse(c.validTo) - Date.parse(c.validFrom)) / 86400e3;
    t.true(days > 19.9 && days < 20.1, `validity ${days} days`);
  });

  test(`${keyType}: device certificate verifies with openssl and carries the device rules`, async (t) => {
    const { ca, certPem } = await CertificateAuthority.create({ keyType });
    const caFile = write(`issuer-${keyType}.pem`, certPem);
    const d = await ca.issueDevice('camera-01:lobby_2', { keyType });
    const devFile = write(`dev-${keyType}.pem`, d.certPem);
    t.regex(openssl(['verify', '-CAfile', caFile, devFile]), /: OK/);
    // The chain file is the leaf then the CA.
    const chainFile = write(`chain-${keyType}.pem`, d.chainPem);
    t.regex(openssl(['verify', '-CAfile', caFile, '-untrusted', chainFile, devFile]), /: OK/);
    t.is(d.chainPem, d.certPem + certPem);
    const text = openssl(['x509', '-noout', '-text', '-in', devFile]);
    t.regex(text, /Subject: CN = camera-01:lobby_2\n/);
    t.regex(text, /Basic Constraints: critical\s+CA:FALSE/);
    t.regex(text, keyType === 'rsa' ? /Key Usage: critical\s+Digital Signature, Key Encipherment\n/ : /Key Usage: critical\s+Digital Signature\n/);
    t.regex(text, /Extended Key Usage:\s+TLS Web Client Authentication\n/);
    t.regex(text, /Authority Key Identifier/);
    // A private key that matches, in PKCS#8.
    t.true(new X509Certificate(d.certPem).checkPrivateKey(crypto.createPrivateKey(d.keyPem)));
    t.regex(d.keyPem, /^-----BEGIN PRIVATE KEY-----/);
  });
}

test('serial numbers are random, positive and 16 bytes', async (t) => {
  const { ca } = await CertificateAuthority.create({ keyType: 'ec' });
  const serials = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const d = await ca.issueDevice(`cam${i}`, { keyType: 'ec' });
    t.regex(d.serialNumber, /^[4-7][0-9a-f]{31}$/);
    serials.add(d.serialNumber);
  }
  t.is(serials.size, 20);
});

test('thing names follow the AWS IoT rules', (t) => {
  for (const good of ['camera001', 'a', 'Cam_01-x:y', 'x'.repeat(128)]) t.is(checkThingName(good), good);
  for (const bad of ['', 'cam 1', 'cam/1', 'cam#', 'kamera-ä', 'x'.repeat(129), 'a,b', 'CN=evil']) {
    const e = t.throws(() => checkThingName(bad));
    t.is((e as CamwireError).code, 'PKI_BAD_THING_NAME', bad);
  }
});

test('sign-csr: an OpenSSL CSR (RSA and EC) is signed with the same rules; its extensions are ignored', async (t) => {
  const { ca, certPem } = await CertificateAuthority.create();
  const caFile = write('csr-ca.pem', certPem);
  for (const [alg, args] of [
    ['rsa', ['-newkey', 'rsa:2048']],
    ['ec', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']],
  ] as const) {
    const keyFile = path.join(dir, `csr-${alg}.key`);
    const csr = pemBlock(
      openssl(['req', '-new', ...args, '-nodes', '-keyout', keyFile, '-subj', `/CN=cam-${alg}`, '-addext', 'basicConstraints=critical,CA:TRUE']),
      'CERTIFICATE REQUEST',
    );
    const signed = await ca.signCsr(csr);
    t.is(signed.thing, `cam-${alg}`);
    t.is(signed.keyType, alg);
    t.is(signed.keyPem, undefined);
    const f = write(`csr-${alg}.pem`, signed.certPem);
    t.regex(openssl(['verify', '-CAfile', caFile, f]), /: OK/);
    const text = openssl(['x509', '-noout', '-text', '-in', f]);
    t.regex(text, /CA:FALSE/, 'the CSR asked for CA:TRUE and did not get it');
    t.regex(text, /TLS Web Client Authentication/);
    // The key stayed with the "camera" and matches the certificate.
    t.true(new X509Certificate(signed.certPem).checkPrivateKey(crypto.createPrivateKey(fs.readFileSync(keyFile))));
  }
});

test('sign-csr refuses a CSR whose signature does not verify, a bad CN, and a weak key', async (t) => {
  const { ca } = await CertificateAuthority.create({ keyType: 'ec' });
  const csr = (subj: string, newkey = 'rsa:2048') =>
    pemBlock(openssl(['req', '-new', '-newkey', newkey, '-nodes', '-keyout', path.join(dir, 'x.key'), '-subj', subj]), 'CERTIFICATE REQUEST');
  const good = csr('/CN=camera9');
  // Flip one bit in the signature (the last bytes of the DER).
  const der = Buffer.from(good.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
  der[der.length - 3]! ^= 0x01;
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  t.is((await t.throwsAsync<CamwireError>(ca.signCsr(tampered)))!.code, 'PKI_BAD_CSR');
  t.is((await t.throwsAsync<CamwireError>(ca.signCsr(csr('/CN=bad name')))!).code, 'PKI_BAD_THING_NAME');
  t.is((await t.throwsAsync<CamwireError>(ca.signCsr(csr('/O=NoCN')))!).code, 'PKI_BAD_CSR');
  t.is((await t.throwsAsync<CamwireError>(ca.signCsr(csr('/CN=weak', 'rsa:1024')))!).code, 'PKI_BAD_KEY');
  t.is((await t.throwsAsync<CamwireError>(ca.signCsr('not a csr'))).code, 'PKI_BAD_CSR');
});

test('verification certificate: CN is the registration code, signed by the CA', async (t) => {
  const { ca, certPem } = await CertificateAuthority.create();
  const code = 'b1c4e86e4b9f3bd2a6f1d2c3e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0';
  const v = await ca.verificationCertificate(code);
  const f = write('verification.pem', v.certPem);
  t.regex(openssl(['verify', '-CAfile', write('v-ca.pem', certPem), f]), /: OK/);
  t.regex(openssl(['x509', '-noout', '-subject', '-in', f]), new RegExp(`subject=CN = ${code}`));
  t.is((await t.throwsAsync<CamwireError>(ca.verificationCertificate('not a code!')))!.code, 'PKI_BAD_REGISTRATION_CODE');
});

test('a CA loads back from disk; a key from another CA is refused', async (t) => {
  const a = await CertificateAuthority.create();
  const b = await CertificateAuthority.create({ keyType: 'ec' });
  const d = path.join(dir, 'loaded');
  fs.mkdirSync(d);
  fs.writeFileSync(path.join(d, 'ca.pem'), a.certPem);
  writePrivateKey(path.join(d, 'ca.key'), a.keyPem);
  t.is(fs.statSync(path.join(d, 'ca.key')).mode & 0o777, 0o600);
  const loaded = await loadCaDir(d);
  t.is(loaded.certificate.subject, a.ca.certificate.subject);
  await t.notThrowsAsync(loaded.issueDevice('camera1'));
  const e = await t.throwsAsync<CamwireError>(CertificateAuthority.load(a.certPem, b.keyPem));
  t.is(e!.code, 'PKI_KEY_MISMATCH');
  const e2 = await t.throwsAsync<CamwireError>(loadCaDir(path.join(dir, 'nope')));
  t.is(e2!.code, 'PKI_CA_NOT_FOUND');
  // A PKCS#1 key from `openssl genrsa -traditional` works too.
  const pkcs1 = pemBlock(openssl(['genrsa', '-traditional', '2048']), 'RSA PRIVATE KEY');
  const pkcs1File = write('legacy.key', pkcs1);
  const self = openssl(['req', '-new', '-x509', '-key', pkcs1File, '-subj', '/CN=legacy CA', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE']);
  await t.notThrowsAsync(CertificateAuthority.load(self, pkcs1));
});

test('the IoT policy confines a camera to its own client id and cameras/{thing}/ topics', (t) => {
  const p = JSON.parse(JSON.stringify(iotPolicy({ region: 'eu-west-1', accountId: '123456789012' }))) as ReturnType<typeof iotPolicy>;
  t.is(p.Version, '2012-10-17');
  const byAction = (a: string) => p.Statement.filter((s) => ([] as string[]).concat(s.Action).includes(a));
  t.deepEqual(
    byAction('iot:Connect').map((s) => s.Resource),
    ['arn:aws:iot:eu-west-1:123456789012:client/${iot:Connection.Thing.ThingName}'],
  );
  t.deepEqual(
    byAction('iot:Publish').map((s) => s.Resource),
    ['arn:aws:iot:eu-west-1:123456789012:topic/cameras/${iot:Connection.Thing.ThingName}/*'],
  );
  t.deepEqual(
    byAction('iot:Subscribe').map((s) => s.Resource),
    ['arn:aws:iot:eu-west-1:123456789012:topicfilter/cameras/${iot:Connection.Thing.ThingName}/*'],
  );
  t.deepEqual(
    byAction('iot:Receive').map((s) => s.Resource),
    ['arn:aws:iot:eu-west-1:123456789012:topic/cameras/${iot:Connection.Thing.ThingName}/*'],
  );
  for (const s of p.Statement) t.is(s.Effect, 'Allow');
  t.throws(() => iotPolicy({ region: 'Europe' }), { message: /region/ });
  t.throws(() => iotPolicy({ accountId: '12' }), { message: /account/ });
});

test('the JITP registration config: thing from the CN, certificate ACTIVE, the policy embedded as a JSON string', (t) => {
  const cfg = JSON.parse(JSON.stringify(jitpRegistrationConfig({ accountId: '123456789012', roleArn: 'arn:aws:iam::123456789012:role/JITPRole' }))) as {
    templateBody: string;
    roleArn: string;
  };
  t.is(cfg.roleArn, 'arn:aws:iam::123456789012:role/JITPRole');
  const body = JSON.parse(cfg.templateBody) as {
    Parameters: Record<string, unknown>;
    Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
  };
  t.deepEqual(Object.keys(body.Parameters).sort(), ['AWS::IoT::Certificate::CommonName', 'AWS::IoT::Certificate::Id']);
  const res = Object.values(body.Resources);
  const thing = res.find((r) => r.Type === 'AWS::IoT::Thing')!;
  t.deepEqual(thing.Properties['ThingName'], { Ref: 'AWS::IoT::Certificate::CommonName' });
  const cert = res.find((r) => r.Type === 'AWS::IoT::Certificate')!;
  t.deepEqual(cert.Properties, { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'ACTIVE' });
  const policy = res.find((r) => r.Type === 'AWS::IoT::Policy')!;
  const doc = JSON.parse(policy.Properties['PolicyDocument'] as string) as { Statement: Array<{ Resource: string }> };
  t.true(doc.Statement.some((s) => s.Resource.endsWith(':topic/cameras/${iot:Connection.Thing.ThingName}/*')));
  const named = JSON.parse(jitpRegistrationConfig({ policyName: 'CameraPolicy' }).templateBody) as typeof body;
  t.deepEqual(Object.values(named.Resources).find((r) => r.Type === 'AWS::IoT::Policy')!.Properties, { PolicyName: 'CameraPolicy' });
  t.throws(() => jitpRegistrationConfig({ roleArn: 'not-an-arn' }), { message: /IAM role ARN/ });
});

/** `camwire --json …` that is expected to fail: its error code. */
function cliError(args: string[]): string {
  const r = camwire(['--json', ...args]);
  if (r.status !== 1) throw new Error(`camwire ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return (JSON.parse(r.stdout) as { error: { code: string } }).error.code;
}

test('pki issue-server: a broker certificate Mosquitto serves with mutual TLS, verified by its IP and its DNS name', async (t) => {
  const caDir = path.join(dir, 'server-ca');
  const out = path.join(dir, 'broker-files');
  camwireJson(['pki', 'init-ca', '--out', caDir]);
  const issued = camwireJson<{ subject: string; hosts: string[]; files: Array<{ file: string }> }>([
    'pki',
    'issue-server',
    '--ca',
    caDir,
    '--host',
    '127.0.0.1',
    '--host',
    'localhost',
    '--out',
    out,
  ]);
  const certFile = path.join(out, 'server.pem');
  const keyFile = path.join(out, 'server.key');
  t.deepEqual(
    issued.files.map((f) => f.file),
    [certFile, keyFile],
  );
  t.deepEqual(issued.hosts, ['127.0.0.1', 'localhost']);
  t.is(fs.statSync(keyFile).mode & 0o777, 0o600);
  const text = openssl(['x509', '-noout', '-text', '-in', certFile]);
  t.regex(text, /Subject: CN = 127\.0\.0\.1\n/);
  t.regex(text, /Extended Key Usage:\s+TLS Web Server Authentication\n/);
  t.regex(text, /Subject Alternative Name:\s+IP Address:127\.0\.0\.1, DNS:localhost\n/);
  t.regex(openssl(['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', path.join(caDir, 'ca.pem'), certFile]), /: OK/);
  // The same files are never replaced silently.
  t.is(cliError(['pki', 'issue-server', '--ca', caDir, '--host', 'localhost', '--out', out]), 'PKI_FILE_EXISTS');

  // Mosquitto serves exactly those files; clients trust only the CA.
  const brokerDir = path.join(dir, 'issued-broker');
  fs.mkdirSync(brokerDir);
  const broker = await MosquittoBroker.start({ dir: brokerDir, ca: await loadCaDir(caDir), server: { certFile, keyFile } });
  t.teardown(() => broker.stop());
  camwireJson(['pki', 'issue', '--ca', caDir, '--thing', 'camera001', '--out', out]);
  const dev = { cert: path.join(out, 'camera001.pem'), key: path.join(out, 'camera001.key') };
  for (const host of ['127.0.0.1', 'localhost']) {
    const r = run('mosquitto_pub', [
      '-h',
      host,
      '-p',
      String(broker.tlsPort),
      '--cafile',
      path.join(caDir, 'ca.pem'),
      '--cert',
      dev.cert,
      '--key',
      dev.key,
      '-i',
      'camera001',
      '-q',
      '1',
      '-t',
      'cameras/camera001/uploads',
      '-m',
      `via ${host}`,
    ]);
    t.is(r.status, 0, `mosquitto_pub -h ${host}: ${r.stderr}`);
    const c = new DeviceConnection({
      url: `mqtts://${host}:${broker.tlsPort}`,
      thing: 'camera001',
      cert: fs.readFileSync(dev.cert),
      key: fs.readFileSync(dev.key),
      ca: fs.readFileSync(path.join(caDir, 'ca.pem')),
      status: false,
    });
    c.on('error', () => undefined);
    await c.connect({ timeoutMs: 10_000 });
    await c.publish('cameras/camera001/uploads', `camwire via ${host}`);
    await c.close();
  }
  // A name that is not in the certificate is refused: the SANs are what is checked.
  const wrong = new DeviceConnection({
    url: `mqtts://127.0.0.1:${broker.tlsPort}`,
    servername: 'broker.example',
    thing: 'camera001',
    cert: fs.readFileSync(dev.cert),
    key: fs.readFileSync(dev.key),
    ca: fs.readFileSync(path.join(caDir, 'ca.pem')),
    status: false,
  });
  wrong.on('error', () => undefined);
  const err = await t.throwsAsync<CamwireError>(wrong.connect({ timeoutMs: 10_000 }));
  await wrong.close({ force: true });
  t.is(err!.code, 'MQTT_SERVER_UNTRUSTED', err!.message);
});

test('pki issue-server: EC key, --name, --days; a host that is neither a DNS name nor an IP is refused', (t) => {
  const caDir = path.join(dir, 'server-ca-ec');
  const out = path.join(dir, 'broker-ec');
  camwireJson(['pki', 'init-ca', '--out', caDir, '--key-type', 'ec']);
  camwireJson([
    'pki',
    'issue-server',
    '--ca',
    caDir,
    '--host',
    'mqtt.example.com',
    '--host',
    '::1',
    '--out',
    out,
    '--key-type',
    'ec',
    '--days',
    '10',
    '--name',
    'broker',
  ]);
  const text = openssl(['x509', '-noout', '-text', '-in', path.join(out, 'broker.pem')]);
  t.regex(text, /Subject: CN = mqtt\.example\.com\n/);
  t.regex(text, /DNS:mqtt\.example\.com, IP Address:0:0:0:0:0:0:0:1/);
  t.regex(text, /ASN1 OID: prime256v1/);
  t.regex(text, /Key Usage: critical\s+Digital Signature\n/);
  const c = new X509Certificate(fs.readFileSync(path.join(out, 'broker.pem')));
  const days = (Date.parse(c.validTo) - Date.parse(c.validFrom)) / 86400e3;
  t.true(days > 9.9 && days < 10.1, `validity ${days} days`);
  t.is(fs.statSync(path.join(out, 'broker.key')).mode & 0o777, 0o600);
  t.regex(openssl(['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', path.join(caDir, 'ca.pem'), path.join(out, 'broker.pem')]), /: OK/);
  for (const bad of ['bad host', 'a/b', '-x.example', 'x..example', '']) {
    t.is(cliError(['pki', 'issue-server', '--ca', caDir, '--host', bad, '--out', path.join(dir, 'broker-bad')]), 'PKI_BAD_NAME', bad);
  }
  t.false(fs.existsSync(path.join(dir, 'broker-bad')));
});

test('pki crl: cRLNumber 1, 2, … persisted beside the CA, an Authority Key Identifier, and openssl -crl_check finds the revoked certificate', (t) => {
  const caDir = path.join(dir, 'crl-ca');
  const out = path.join(dir, 'crl-devices');
  camwireJson(['pki', 'init-ca', '--out', caDir]);
  const revoked = camwireJson<{ serialNumber: string }>(['pki', 'issue', '--ca', caDir, '--thing', 'camera001', '--out', out]);
  camwireJson(['pki', 'issue', '--ca', caDir, '--thing', 'camera002', '--out', out]);
  const crlFile = path.join(caDir, 'crl.pem');
  const caText = openssl(['x509', '-noout', '-text', '-in', path.join(caDir, 'ca.pem')]);
  const ski = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(caText)![1]!;
  for (const expected of [1, 2]) {
    const r = camwireJson<{ crlNumber: number }>(['pki', 'crl', '--ca', caDir, '--serial', revoked.serialNumber, '--out', crlFile]);
    t.is(r.crlNumber, expected);
    const text = openssl(['crl', '-text', '-noout', '-in', crlFile]);
    t.regex(text, new RegExp(`X509v3 CRL Number:\\s+${expected}\\n`));
    t.is(/Authority Key Identifier:\s+(?:keyid:)?([0-9A-F:]+)/.exec(text)?.[1], ski);
    t.regex(text, new RegExp(`Serial Number: ${revoked.serialNumber.toUpperCase()}`));
  }
  t.true(fs.existsSync(path.join(caDir, 'crlnumber')));
  const verify = (thing: string) =>
    run('openssl', ['verify', '-x509_strict', '-crl_check', '-CAfile', path.join(caDir, 'ca.pem'), '-CRLfile', crlFile, path.join(out, `${thing}.pem`)]);
  const bad = verify('camera001');
  t.not(bad.status, 0);
  t.regex(bad.stdout + bad.stderr, /certificate revoked/);
  const good = verify('camera002');
  t.is(good.status, 0, good.stdout + good.stderr);
  t.regex(good.stdout, /: OK/);
  // A counter that is not a number is named, not silently restarted.
  fs.writeFileSync(path.join(caDir, 'crlnumber'), 'twelve\n');
  t.is(cliError(['pki', 'crl', '--ca', caDir, '--out', crlFile]), 'PKI_BAD_CRL_NUMBER');
});
