/**
 * COS-native signatures agree with Tencent's own SDK (cos-nodejs-sdk-v5,
 * COS.getAuthorization) for the same inputs, and camwire reads their expiry.
 */
import test from 'ava';
import crypto from 'node:crypto';
import http from 'node:http';
import { cosAuthorization, presignCosMultipart, presignCosPut } from '../ts/upload/cos';
import { parseUploadTarget, targetExpiry } from '../ts/upload';
const COS = require('cos-nodejs-sdk-v5') as { getAuthorization(o: Record<string, unknown>): string };

const rnd = (n: number) =>
  crypto
    .randomBytes(n)
    .toString('base64')
    .replace(/[^a-zA-Z0-9]/g, '')
    .slice(0, n);

test("cosAuthorization equals the SDK's for 300 randomized requests", (t) => {
  const names = ['content-type', 'content-md5', 'x-cos-meta-camera', 'x-cos-storage-class', 'host', 'range', 'user-agent', 'x-amz-date'];
  let agreed = 0;
  for (let i = 0; i < 300; i++) {
    const key = `devices/cam${i}/${rnd(6)} (${i})/DSC0000${i % 10}+!*'.JPG`;
    const query: Record<string, string> = {};
    if (i % 2) query['partNumber'] = String(1 + (i % 50));
    if (i % 3) query['uploadId'] = rnd(24);
    if (i % 5 === 0) query['response-content-type'] = 'image/jpeg; charset=utf-8';
    const headers: Record<string, string> = {};
    for (const n of names) if (crypto.randomInt(2)) headers[i % 4 ? n : n.toUpperCase()] = `${rnd(8)} /=&${i}`;
    const start = 1795680000 + i;
    const keyTime = `${start};${start + 1 + i * 10}`;
    const secretId = `AKID${rnd(20)}`;
    const secretKey = rnd(32);
    const method = ['PUT', 'POST', 'DELETE', 'GET'][i % 4]!;
    const ours = cosAuthorization({ secretId, secretKey, method, pathname: `/${key}`, query, headers, keyTime });
    const theirs = COS.getAuthorization({
      SecretId: secretId,
      SecretKey: secretKey,
      Method: method,
      Key: key,
      Query: query,
      Headers: headers,
      KeyTime: keyTime,
    });
    if (ours !== theirs) {
      t.is(ours, theirs, `request ${i}`);
      return;
    }
    agreed++;
  }
  t.is(agreed, 300);
});

test('presign --cos put: a target whose URL carries the signature and whose expiry camwire reads', (t) => {
  const now = new Date('2026-11-26T08:00:00Z');
  const target = parseUploadTarget(
    presignCosPut({
      secretId: 'AKIDexample',
      secretKey: 'secret',
      bucket: 'media-1250000000',
      region: 'ap-guangzhou',
      key: 'devices/camera001/DSC00001.JPG',
      contentType: 'image/jpeg',
      expiresIn: 600,
      now,
    }),
  );
  const u = new URL(target.put!.url);
  t.is(u.host, 'media-1250000000.cos.ap-guangzhou.myqcloud.com');
  t.is(u.searchParams.get('q-sign-algorithm'), 'sha1');
  t.is(u.searchParams.get('q-header-list'), 'content-type;host');
  t.is(target.put!.headers!['content-type'], 'image/jpeg');
  t.is(targetExpiry(target)!.getTime(), now.getTime() - 1000 + 600_000);
  const sdk = COS.getAuthorization({
    SecretId: 'AKIDexample',
    SecretKey: 'secret',
    Method: 'PUT',
    Key: 'devices/camera001/DSC00001.JPG',
    Headers: { host: u.host, 'content-type': 'image/jpeg' },
    KeyTime: u.searchParams.get('q-key-time'),
  });
  t.is(u.searchParams.get('q-signature'), new URLSearchParams(sdk).get('q-signature'));
  t.throws(() => presignCosPut({ secretId: 'a', secretKey: 'b', bucket: 'no-appid', region: 'ap-guangzhou', key: 'k' }), { message: /APPID/ });
});

test('presign --cos multipart: InitiateMultipartUpload is signed as the SDK signs it; part, complete and abort URLs carry uploadId in the signature', async (t) => {
  // COS itself cannot be reached from here: a local endpoint stands in for
  // InitiateMultipartUpload and checks the Authorization header against the SDK.
  const seen: Array<{ method: string; url: string; ok: boolean }> = [];
  const srv = http.createServer((req, res) => {
    const auth = new URLSearchParams(String(req.headers['authorization']));
    const expected = COS.getAuthorization({
      SecretId: 'AKIDexample',
      SecretKey: 'secret',
      Method: req.method,
      Key: 'devices/camera001/trailer.mp4',
      Query: { uploads: '' },
      Headers: { host: req.headers['host'], 'content-type': req.headers['content-type'] },
      KeyTime: auth.get('q-key-time'),
    });
    const ok = auth.get('q-signature') === new URLSearchParams(expected).get('q-signature');
    seen.push({ method: req.method!, url: req.url!, ok });
    res.writeHead(ok ? 200 : 403, { 'content-type': 'application/xml' });
    res.end(
      ok
        ? '<InitiateMultipartUploadResult><Bucket>media-1250000000</Bucket><Key>k</Key><UploadId>1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361</UploadId></InitiateMultipartUploadResult>'
        : '<Error><Code>SignatureDoesNotMatch</Code></Error>',
    );
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(srv.address() as { port: number }).port}`;
  const target = parseUploadTarget(
    await presignCosMultipart({
      secretId: 'AKIDexample',
      secretKey: 'secret',
      bucket: 'media-1250000000',
      region: 'ap-guangzhou',
      key: 'devices/camera001/trailer.mp4',
      contentType: 'video/mp4',
      size: 20 * 1024 * 1024 + 1,
      partSize: 5 * 1024 * 1024,
      host,
      protocol: 'http',
    }),
  );
  srv.close();
  t.deepEqual(
    seen.map((s) => [s.method, s.url, s.ok]),
    [['POST', '/devices/camera001/trailer.mp4?uploads', true]],
  );
  const mp = target.multipart!;
  t.is(mp.parts.length, 5);
  for (const [method, url, query] of [
    ...mp.parts.map((p) => ['PUT', p.url, { partNumber: String(p.partNumber) }] as const),
    ['POST', mp.completeUrl, {}] as const,
    ['DELETE', mp.abortUrl!, {}] as const,
  ]) {
    const u = new URL(url);
    const uploadId = u.searchParams.get('uploadId');
    t.truthy(uploadId);
    const sdk = COS.getAuthorization({
      SecretId: 'AKIDexample',
      SecretKey: 'secret',
      Method: method,
      Key: 'devices/camera001/trailer.mp4',
      Query: { ...query, uploadId },
      Headers: { host },
      KeyTime: u.searchParams.get('q-key-time'),
    });
    t.is(u.searchParams.get('q-signature'), new URLSearchParams(sdk).get('q-signature'), `${method} ${u.search.slice(0, 40)}`);
  }
  t.truthy(targetExpiry(target));
});
