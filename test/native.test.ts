/** The native addon: it loads, reports what it really contains, and shares Node's OpenSSL without disturbing it. */
import test from 'ava';
import https from 'node:https';
import { native, nativePath } from '../ts/native';
import { CertificateAuthority } from '../ts/pki';
import { run, ROOT } from './helpers/run';

const pkg = require('../package.json') as { version: string };

test('probe reports the build: version, C++14 core, N-API 8, its modules', (t) => {
  const p = native().probe();
  t.is(p.version, pkg.version);
  t.is(p.coreCxxStandard, '201402');
  t.is(p.napiVersion, 8);
  t.deepEqual(p.modules, ['kvs-mkv', 'kvs-producer', 'ptp-ip', 'ptp-usb', 'ptp-usb-virtual']);
  t.regex(nativePath(), /camwire\.node$|node\.napi\.node$/);
});

test("the addon runs on Node's own OpenSSL (one copy in the process)", (t) => {
  const p = native().probe();
  t.true(p.openssl.runtime.startsWith(`OpenSSL ${process.versions.openssl} `), `${p.openssl.runtime} vs Node ${process.versions.openssl}`);
  t.regex(p.openssl.compiled, /^OpenSSL 3\./);
});

test('libusb is the one pkg-config describes', (t) => {
  const p = native().probe();
  const r = run('pkg-config', ['--modversion', 'libusb-1.0']);
  t.is(r.status, 0, r.stderr);
  t.truthy(p.libusb);
  t.true(p.libusb!.runtime.startsWith(r.stdout.trim() + '.'), `${p.libusb!.runtime} vs ${r.stdout.trim()}`);
  t.regex(p.libusb!.compiled, /^API 0x0100[0-9a-f]{4}$/);
});

test("Node's TLS still works in the same process after the addon loaded", async (t) => {
  native().probe();
  const { ca } = await CertificateAuthority.create({ keyType: 'ec' });
  const server = await ca.issueServer('localhost', ['127.0.0.1'], { keyType: 'ec' });
  const srv = https.createServer({ cert: server.certPem, key: server.keyPem }, (_req, res) => res.end('ok'));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  const body = await new Promise<string>((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, ca: ca.certPem, path: '/' }, (res) => {
        let b = '';
        res.on('data', (d: Buffer) => {
          b += d.toString();
        });
        res.on('end', () => resolve(b));
      })
      .on('error', reject);
  });
  srv.close();
  t.is(body, 'ok');
});

test('camwire probe --json names the file it loaded', (t) => {
  const r = run(process.execPath, ['bin/camwire.js', 'probe', '--json'], { cwd: ROOT });
  t.is(r.status, 0, r.stderr);
  const p = JSON.parse(r.stdout) as { file: string; version: string };
  t.is(p.version, pkg.version);
  t.is(p.file, nativePath());
});
