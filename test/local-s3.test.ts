/**
 * camwire's local S3-compatible store (the demo's object store) against the
 * AWS SDK as the peer: its presigner for pre-signed URLs (single PUT,
 * multipart, GET) used by camwire's uploader, and its full S3 client with
 * header signatures. Wrong, tampered and expired signatures are refused as S3
 * refuses them; parts below 5 MiB and wrong ETags fail CompleteMultipartUpload.
 */
import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  S3Client, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, CreateBucketCommand, CopyObjectCommand, PutObjectAclCommand, DeleteObjectTaggingCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { LocalS3Request, LocalS3Store } from '../ts/upload/local-s3';
import { Uploader } from '../ts/upload';
import { presignMultipart, presignPut } from '../ts/upload/presign';
import { CamwireError } from '../ts/errors';
import { signV4 } from '../ts/kvs/sigv4';
import { tempDir } from './helpers/tmp';

const dir = tempDir('local-s3');
const credentials = { accessKeyId: 'CAMWIREDEMOKEY', secretAccessKey: 'camwire-demo-secret-key' };
const MiB = 1024 * 1024;
let store: LocalS3Store;
let s3: S3Client;
const requests: LocalS3Request[] = [];

test.before(async () => {
  store = new LocalS3Store({ dir: path.join(dir, 'store'), credentials, region: 'eu-west-1', buckets: ['media'] });
  store.on('request', (r: LocalS3Request) => requests.push(r));
  await store.start();
  s3 = new S3Client({ region: 'eu-west-1', endpoint: store.url, forcePathStyle: true, credentials });
});
test.after.always(async () => {
  s3?.destroy();
  await store?.stop();
});

const base = (key: string) => ({ endpoint: store.url, region: 'eu-west-1', bucket: 'media', key, credentials });

function makeFile(name: string, size: number): { file: string; sha256: string } {
  const file = path.join(dir, name);
  const data = crypto.randomBytes(size);
  fs.writeFileSync(file, data);
  return { file, sha256: crypto.createHash('sha256').update(data).digest('hex') };
}

async function sha256Of(url: string): Promise<string> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`GET ${r.status}: ${await r.text()}`);
  return crypto.createHash('sha256').update(Buffer.from(await r.arrayBuffer())).digest('hex');
}

test('single PUT through a pre-signed URL, read back through a pre-signed GET, content type kept', async (t) => {
  const f = makeFile('photo.jpg', 300_000);
  const target = await presignPut({ ...base('devices/cam 1/photo+1.jpg'), contentType: 'image/jpeg' });
  const r = await new Uploader().upload(f.file, target);
  t.is(r.status, 'uploaded');
  const got = store.object('media', 'devices/cam 1/photo+1.jpg');
  t.is(got?.sha256, f.sha256);
  t.is(got?.contentType, 'image/jpeg');
  const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'media', Key: 'devices/cam 1/photo+1.jpg' }), { expiresIn: 60 });
  t.is(await sha256Of(url), f.sha256);
});

test('multipart through pre-signed URLs: 3 parts, S3-style ETag, readable with the SDK client (header signatures)', async (t) => {
  const f = makeFile('trailer.mp4', 11 * MiB + 123);
  const target = await presignMultipart({ ...base('devices/cam1/trailer.mp4'), size: 11 * MiB + 123, partSize: 5 * MiB, contentType: 'video/mp4' });
  const r = await new Uploader().upload(f.file, target);
  t.is(r.status, 'uploaded');
  t.is(r.parts, 3);
  const head = await s3.send(new HeadObjectCommand({ Bucket: 'media', Key: 'devices/cam1/trailer.mp4' }));
  t.regex(head.ETag ?? '', /^"[0-9a-f]{32}-3"$/);
  t.is(head.ContentLength, 11 * MiB + 123);
  const obj = await s3.send(new GetObjectCommand({ Bucket: 'media', Key: 'devices/cam1/trailer.mp4', Range: 'bytes=5242880-5242889' }));
  const ten = Buffer.from(await obj.Body!.transformToByteArray());
  t.deepEqual(ten, fs.readFileSync(f.file).subarray(5 * MiB, 5 * MiB + 10));
  t.is(requests.filter((r) => r.operation === 'UploadPart' && r.key === 'devices/cam1/trailer.mp4' && r.status === 200 && r.bytes === 5 * MiB).length, 2);
  const list = await s3.send(new ListObjectsV2Command({ Bucket: 'media', Prefix: 'devices/cam1/' }));
  t.deepEqual(list.Contents?.map((c) => [c.Key, c.Size]), [['devices/cam1/trailer.mp4', 11 * MiB + 123]]);
});

test('header-signed PutObject with a payload hash; a body that does not match it, or a stale date, is refused', async (t) => {
  await s3.send(new PutObjectCommand({ Bucket: 'media', Key: 'notes.txt', Body: 'hello' }));
  t.is(store.object('media', 'notes.txt')?.size, 5);
  await s3.send(new CreateBucketCommand({ Bucket: 'second' }));
  const put = (body: string, hashOf: string, amzDate: string) => {
    const host = `127.0.0.1:${store.port}`;
    const payloadSha256 = crypto.createHash('sha256').update(hashOf).digest('hex');
    const signed = signV4({ method: 'PUT', path: '/media/notes.txt', query: [], headers: [['host', host], ['x-amz-content-sha256', payloadSha256], ['x-amz-date', amzDate]],
      payloadSha256, ...credentials, region: 'eu-west-1', service: 's3', amzDate, normalizePath: false, doubleEncodePath: false });
    return fetch(`${store.url}/media/notes.txt`, { method: 'PUT', body, headers: { authorization: signed.authorization, 'x-amz-date': amzDate, 'x-amz-content-sha256': payloadSha256 } });
  };
  const now = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  t.is((await put('bye', 'bye', now)).status, 200);
  const mismatch = await put('bye!', 'bye', now);
  t.is(mismatch.status, 400);
  t.regex(await mismatch.text(), /XAmzContentSHA256Mismatch/);
  const stale = await put('bye', 'bye', '20260101T000000Z');
  t.is(stale.status, 403);
  t.regex(await stale.text(), /RequestTimeTooSkewed/);
  t.is(store.object('media', 'notes.txt')?.size, 3);
});

test('tampered, wrongly keyed and expired pre-signed URLs are refused with S3 error codes', async (t) => {
  const target = await presignPut({ ...base('x.bin'), expiresIn: 1 });
  const url = new URL(target.put!.url);
  const tampered = new URL((await presignPut(base('x.bin'))).put!.url);
  tampered.pathname = '/media/y.bin';
  const r1 = await fetch(tampered, { method: 'PUT', body: 'data' });
  t.is(r1.status, 403);
  t.regex(await r1.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
  const other = await presignPut({ ...base('x.bin'), credentials: { accessKeyId: 'CAMWIREDEMOKEY', secretAccessKey: 'wrong' } });
  const r2 = await fetch(other.put!.url, { method: 'PUT', body: 'data' });
  t.is(r2.status, 403);
  t.regex(await r2.text(), /SignatureDoesNotMatch/);
  const unknown = await presignPut({ ...base('x.bin'), credentials: { accessKeyId: 'NOBODY', secretAccessKey: 'x' } });
  t.regex(await (await fetch(unknown.put!.url, { method: 'PUT', body: 'data' })).text(), /InvalidAccessKeyId/);
  await new Promise((r) => setTimeout(r, 2100));
  const r3 = await fetch(url, { method: 'PUT', body: 'data' });
  t.is(r3.status, 403);
  t.regex(await r3.text(), /Request has expired/);
  t.is(store.object('media', 'x.bin'), undefined);
  t.is(store.object('media', 'y.bin'), undefined);
});

test('CompleteMultipartUpload refuses a part below 5 MiB, a wrong ETag, parts out of order and an unknown upload', async (t) => {
  const target = await presignMultipart({ ...base('small.bin'), size: 6 * MiB, partSize: 5 * MiB });
  const [p1, p2] = target.multipart!.parts;
  const e1 = (await fetch(p1!.url, { method: 'PUT', body: Buffer.alloc(1000, 1) })).headers.get('etag');
  const e2 = (await fetch(p2!.url, { method: 'PUT', body: Buffer.alloc(1000, 2) })).headers.get('etag');
  const complete = (parts: Array<[number, string | null]>) => fetch(target.multipart!.completeUrl, { method: 'POST',
    body: `<CompleteMultipartUpload>${parts.map(([n, e]) => `<Part><PartNumber>${n}</PartNumber><ETag>${e}</ETag></Part>`).join('')}</CompleteMultipartUpload>` });
  t.regex(await (await complete([[1, e1], [2, e2]])).text(), /EntityTooSmall/);
  t.regex(await (await complete([[1, '"00000000000000000000000000000000"'], [2, e2]])).text(), /InvalidPart/);
  t.regex(await (await complete([[2, e2], [1, e1]])).text(), /InvalidPartOrder/);
  t.regex(await (await fetch(target.multipart!.abortUrl!, { method: 'DELETE' })).status.toString(), /^204$/);
  t.regex(await (await complete([[1, e1]])).text(), /NoSuchUpload/);
  t.is(store.object('media', 'small.bin'), undefined);
});

test('the uploader reports a refused upload as a CamwireError naming the S3 code, and the store logs each request', async (t) => {
  const f = makeFile('refused.bin', 1000);
  const target = await presignPut({ ...base('refused.bin'), credentials: { accessKeyId: 'CAMWIREDEMOKEY', secretAccessKey: 'wrong' } });
  const e = await t.throwsAsync(new Uploader().upload(f.file, target));
  t.true(e instanceof CamwireError);
  t.regex(e!.message, /SignatureDoesNotMatch|403/);
  t.true(requests.some((r) => r.operation === 'PutObject' && r.status === 403 && r.code === 'SignatureDoesNotMatch'));
});

test('a correctly signed request naming a bucket outside the store ("../escape") is refused before the disk', async (t) => {
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const host = `127.0.0.1:${store.port}`;
  const payloadSha256 = 'UNSIGNED-PAYLOAD';
  // The store decodes each path segment before checking the signature, so this signs what it will see.
  const signed = signV4({ method: 'PUT', path: '/../escape/k', query: [], headers: [['host', host], ['x-amz-content-sha256', payloadSha256], ['x-amz-date', amzDate]],
    payloadSha256, ...credentials, region: 'eu-west-1', service: 's3', amzDate, normalizePath: false, doubleEncodePath: false });
  const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: store.port, method: 'PUT', path: '/..%2Fescape/k',
      headers: { authorization: signed.authorization, 'x-amz-date': amzDate, 'x-amz-content-sha256': payloadSha256, 'content-length': 1 } }, (r) => {
      let body = '';
      r.on('data', (c: Buffer) => { body += c.toString(); });
      r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end('x');
  });
  t.is(res.status, 400);
  t.regex(res.body, /InvalidBucketName/);
  t.false(fs.existsSync(path.join(dir, 'store', 'escape')));
});

test('a malformed path is a 400, not a crash; requests the store does not implement are 501 and change nothing', async (t) => {
  const bad = await fetch(`${store.url}/media/%zz`);
  t.is(bad.status, 400);
  t.regex(await bad.text(), /InvalidURI/);
  await s3.send(new PutObjectCommand({ Bucket: 'media', Key: 'keep.txt', Body: 'keep me' }));
  // CopyObject (what `aws s3 mv` sends) must not become an empty PutObject.
  const copy = await t.throwsAsync(s3.send(new CopyObjectCommand({ Bucket: 'media', Key: 'copy.txt', CopySource: 'media/keep.txt' })));
  t.regex(String((copy as { name?: string })?.name), /NotImplemented/);
  const acl = await t.throwsAsync(s3.send(new PutObjectAclCommand({ Bucket: 'media', Key: 'keep.txt', ACL: 'private' })));
  t.regex(String((acl as { name?: string })?.name), /NotImplemented/);
  const tagging = await t.throwsAsync(s3.send(new DeleteObjectTaggingCommand({ Bucket: 'media', Key: 'keep.txt' })));
  t.regex(String((tagging as { name?: string })?.name), /NotImplemented/);
  t.is(store.object('media', 'keep.txt')?.size, 7);
  t.is(store.object('media', 'copy.txt'), undefined);
});

test('ListObjectsV2 pages with continuation tokens and URL-encodes keys when asked', async (t) => {
  await s3.send(new CreateBucketCommand({ Bucket: 'paged' }));
  const keys = ['a 1.txt', 'b+2.txt', 'c/3.txt', 'c/4.txt', 'd%5.txt'];
  for (const k of keys) await s3.send(new PutObjectCommand({ Bucket: 'paged', Key: k, Body: k }));
  const seen: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: 'paged', MaxKeys: 2, ...(token ? { ContinuationToken: token } : {}) }));
    seen.push(...(page.Contents ?? []).map((c) => c.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
    pages++;
  } while (token);
  t.deepEqual(seen, keys);
  t.is(pages, 3);
  const grouped = await s3.send(new ListObjectsV2Command({ Bucket: 'paged', Delimiter: '/' }));
  t.deepEqual(grouped.CommonPrefixes?.map((p) => p.Prefix), ['c/']);
  t.deepEqual(grouped.Contents?.map((c) => c.Key), ['a 1.txt', 'b+2.txt', 'd%5.txt']);
  const encoded = await s3.send(new ListObjectsV2Command({ Bucket: 'paged', EncodingType: 'url' }));
  t.deepEqual(encoded.Contents?.map((c) => decodeURIComponent(c.Key!)), keys);
  t.true(encoded.Contents?.some((c) => c.Key === 'a%201.txt'));
});
