/**
 * camwire's local S3-compatible store (the demo's object store) against the
 * AWS SDK as the peer: its presigner for pre-signed URLs (single PUT,
 * multipart, GET) used by camwire's uploader, and its full S3 client with
 * header signatures. Wrong, tampered and expired signatures are refused as S3
 * refuses them; parts below 5 MiB and wrong ETags fail CompleteMultipartUpload.
 * Content-MD5 and every x-amz-checksum-* header are checked as S3 checks them
 * (raw requests, since the SDK computes its own), a mismatch storing nothing;
 * SigV2 (AWS CLI v1's presign) is refused as S3 refuses it, with a hint.
 */
import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  S3Client,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  CreateBucketCommand,
  CopyObjectCommand,
  PutObjectAclCommand,
  DeleteObjectTaggingCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  CompleteMultipartUploadCommand,
  ChecksumAlgorithm,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Xxh3_128, Xxh3_64, Xxh64 } from '@aws-sdk/checksums/xxh';
import { Md5 } from '@aws-sdk/checksums/md5';
import { Sha512 } from '@aws-sdk/checksums/sha';
import { LocalS3Request, LocalS3Store } from '../ts/local';
import { Uploader } from '../ts/upload';
import { presignMultipart, presignPut, PutPresigner } from '../ts/upload/presign';
import { CamwireError } from '../ts/errors';
import { signV4 } from '../ts/common/sigv4';
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
  return crypto
    .createHash('sha256')
    .update(Buffer.from(await r.arrayBuffer()))
    .digest('hex');
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

test("one PutPresigner signs many targets (one S3 client): each PUTs its own object; its targets are presignPut's", async (t) => {
  const signer = new PutPresigner({ endpoint: store.url, region: 'eu-west-1', credentials });
  try {
    const f = makeFile('many.bin', 50_000);
    const targets = await Promise.all(
      [1, 2, 3].map((i) => signer.presignPut({ bucket: 'media', key: `fleet/many-${i}.bin`, contentType: 'application/octet-stream' })),
    );
    for (const [i, target] of targets.entries()) {
      t.is((await new Uploader().upload(f.file, target)).status, 'uploaded');
      t.is(store.object('media', `fleet/many-${i + 1}.bin`)?.sha256, f.sha256);
    }
    const single = await presignPut({ ...base('fleet/many-1.bin'), contentType: 'application/octet-stream' });
    t.deepEqual(Object.keys(targets[0]!).sort(), Object.keys(single).sort());
    t.is(targets[0]!.objectUrl, single.objectUrl);
    t.deepEqual(targets[0]!.put?.headers, single.put?.headers);
    await t.throwsAsync(signer.presignPut({ bucket: 'media', key: 'x', expiresIn: 0 }), { message: /outside 1-604800/ });
  } finally {
    signer.destroy();
  }
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
  t.deepEqual(
    list.Contents?.map((c) => [c.Key, c.Size]),
    [['devices/cam1/trailer.mp4', 11 * MiB + 123]],
  );
});

test('header-signed PutObject with a payload hash; a body that does not match it, or a stale date, is refused', async (t) => {
  await s3.send(new PutObjectCommand({ Bucket: 'media', Key: 'notes.txt', Body: 'hello' }));
  t.is(store.object('media', 'notes.txt')?.size, 5);
  await s3.send(new CreateBucketCommand({ Bucket: 'second' }));
  const put = (body: string, hashOf: string, amzDate: string) => {
    const host = `127.0.0.1:${store.port}`;
    const payloadSha256 = crypto.createHash('sha256').update(hashOf).digest('hex');
    const signed = signV4({
      method: 'PUT',
      path: '/media/notes.txt',
      query: [],
      headers: [
        ['host', host],
        ['x-amz-content-sha256', payloadSha256],
        ['x-amz-date', amzDate],
      ],
      payloadSha256,
      ...credentials,
      region: 'eu-west-1',
      service: 's3',
      amzDate,
      normalizePath: false,
      doubleEncodePath: false,
    });
    return fetch(`${store.url}/media/notes.txt`, {
      method: 'PUT',
      body,
      headers: { authorization: signed.authorization, 'x-amz-date': amzDate, 'x-amz-content-sha256': payloadSha256 },
    });
  };
  const now = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
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
  const complete = (parts: Array<[number, string | null]>) =>
    fetch(target.multipart!.completeUrl, {
      method: 'POST',
      body: `<CompleteMultipartUpload>${parts.map(([n, e]) => `<Part><PartNumber>${n}</PartNumber><ETag>${e}</ETag></Part>`).join('')}</CompleteMultipartUpload>`,
    });
  t.regex(
    await (
      await complete([
        [1, e1],
        [2, e2],
      ])
    ).text(),
    /EntityTooSmall/,
  );
  t.regex(
    await (
      await complete([
        [1, '"00000000000000000000000000000000"'],
        [2, e2],
      ])
    ).text(),
    /InvalidPart/,
  );
  t.regex(
    await (
      await complete([
        [2, e2],
        [1, e1],
      ])
    ).text(),
    /InvalidPartOrder/,
  );
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
  const amzDate = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const host = `127.0.0.1:${store.port}`;
  const payloadSha256 = 'UNSIGNED-PAYLOAD';
  // The store decodes each path segment before checking the signature, so this signs what it will see.
  const signed = signV4({
    method: 'PUT',
    path: '/../escape/k',
    query: [],
    headers: [
      ['host', host],
      ['x-amz-content-sha256', payloadSha256],
      ['x-amz-date', amzDate],
    ],
    payloadSha256,
    ...credentials,
    region: 'eu-west-1',
    service: 's3',
    amzDate,
    normalizePath: false,
    doubleEncodePath: false,
  });
  const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: store.port,
        method: 'PUT',
        path: '/..%2Fescape/k',
        headers: { authorization: signed.authorization, 'x-amz-date': amzDate, 'x-amz-content-sha256': payloadSha256, 'content-length': 1 },
      },
      (r) => {
        let body = '';
        r.on('data', (c: Buffer) => {
          body += c.toString();
        });
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      },
    );
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
  t.deepEqual(
    grouped.CommonPrefixes?.map((p) => p.Prefix),
    ['c/'],
  );
  t.deepEqual(
    grouped.Contents?.map((c) => c.Key),
    ['a 1.txt', 'b+2.txt', 'd%5.txt'],
  );
  const encoded = await s3.send(new ListObjectsV2Command({ Bucket: 'paged', EncodingType: 'url' }));
  t.deepEqual(
    encoded.Contents?.map((c) => decodeURIComponent(c.Key!)),
    keys,
  );
  t.true(encoded.Contents?.some((c) => c.Key === 'a%201.txt'));
});

const amzNow = () =>
  new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

/** A header-signed (SigV4, UNSIGNED-PAYLOAD) request with extra headers as firmware sends them; the SDK would compute checksums itself. */
async function raw(
  method: string,
  pathname: string,
  query: Array<[string, string]>,
  body: Buffer<ArrayBuffer> | string | undefined,
  headers: Record<string, string> = {},
) {
  const amzDate = amzNow();
  const payloadSha256 = 'UNSIGNED-PAYLOAD';
  const signed = signV4({
    method,
    path: pathname,
    query,
    headers: [
      ['host', `127.0.0.1:${store.port}`],
      ['x-amz-content-sha256', payloadSha256],
      ['x-amz-date', amzDate],
    ],
    payloadSha256,
    ...credentials,
    region: 'eu-west-1',
    service: 's3',
    amzDate,
    normalizePath: false,
    doubleEncodePath: false,
  });
  const qs = query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  const r = await fetch(`${store.url}${pathname}${qs ? `?${qs}` : ''}`, {
    method,
    ...(body === undefined ? {} : { body }),
    headers: { authorization: signed.authorization, 'x-amz-date': amzDate, 'x-amz-content-sha256': payloadSha256, ...headers },
  });
  const text = await r.text();
  return { status: r.status, text, headers: r.headers, code: /<Code>([^<]*)<\/Code>/.exec(text)?.[1], message: /<Message>([^<]*)<\/Message>/.exec(text)?.[1] };
}

/** A reflected CRC, from its polynomial: a reference independent of the store's (and the SDK's) implementation. */
function referenceCrc(width: 32 | 64, poly: bigint, data: Buffer): Buffer {
  if (width === 32) {
    const table = Array.from({ length: 256 }, (_, i) => {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ Number(poly) : c >>> 1;
      return c >>> 0;
    });
    let c = 0xffffffff;
    for (const b of data) c = (table[(c ^ b) & 0xff]! ^ (c >>> 8)) >>> 0;
    const out = Buffer.alloc(4);
    out.writeUInt32BE((c ^ 0xffffffff) >>> 0);
    return out;
  }
  const mask = (1n << BigInt(width)) - 1n;
  const table = Array.from({ length: 256 }, (_, i) => {
    let c = BigInt(i);
    for (let k = 0; k < 8; k++) c = c & 1n ? (c >> 1n) ^ poly : c >> 1n;
    return c;
  });
  let c = mask;
  for (const b of data) c = table[Number((c ^ BigInt(b)) & 0xffn)]! ^ (c >> 8n);
  return Buffer.from((c ^ mask).toString(16).padStart(width / 4, '0'), 'hex');
}

const nodeHash = (name: string) => async (b: Buffer) => crypto.createHash(name).update(b).digest('base64');
/** xxHash has no reference here: the SDK's (the peer S3 is tested with), pinned below to the published empty-input values. */
const sdkHash = (make: () => { update(b: Uint8Array): void; digest(): Promise<Uint8Array> }) => async (b: Buffer) => {
  const h = make();
  h.update(b);
  return Buffer.from(await h.digest()).toString('base64');
};

/** Each header S3 checks, the base64 digest it wants, and the name in S3's BadDigest message. */
const DIGESTS: Array<{ header: string; of: (b: Buffer) => Promise<string>; name: string; bytes: number }> = [
  { header: 'content-md5', of: nodeHash('md5'), name: 'Content-MD5', bytes: 16 },
  { header: 'x-amz-checksum-crc32', of: async (b) => referenceCrc(32, 0xedb88320n, b).toString('base64'), name: 'CRC32', bytes: 4 },
  { header: 'x-amz-checksum-crc32c', of: async (b) => referenceCrc(32, 0x82f63b78n, b).toString('base64'), name: 'CRC32C', bytes: 4 },
  { header: 'x-amz-checksum-crc64nvme', of: async (b) => referenceCrc(64, 0x9a6c9329ac4bc9b5n, b).toString('base64'), name: 'CRC64NVME', bytes: 8 },
  { header: 'x-amz-checksum-md5', of: nodeHash('md5'), name: 'MD5', bytes: 16 },
  { header: 'x-amz-checksum-sha1', of: nodeHash('sha1'), name: 'SHA1', bytes: 20 },
  { header: 'x-amz-checksum-sha256', of: nodeHash('sha256'), name: 'SHA256', bytes: 32 },
  { header: 'x-amz-checksum-sha512', of: nodeHash('sha512'), name: 'SHA512', bytes: 64 },
  { header: 'x-amz-checksum-xxhash64', of: sdkHash(() => new Xxh64()), name: 'XXHASH64', bytes: 8 },
  { header: 'x-amz-checksum-xxhash3', of: sdkHash(() => new Xxh3_64()), name: 'XXHASH3', bytes: 8 },
  { header: 'x-amz-checksum-xxhash128', of: sdkHash(() => new Xxh3_128()), name: 'XXHASH128', bytes: 16 },
];
const digest = (header: string) => DIGESTS.find((d) => d.header === header)!.of;
const badDigestMessage = (name: string) =>
  name === 'Content-MD5' ? 'The Content-MD5 you specified did not match what we received.' : `The ${name} you specified did not match the calculated checksum.`;

test('the reference CRCs give the published check values of "123456789"; the store takes the published xxHashes of an empty body', async (t) => {
  const check = Buffer.from('123456789');
  t.is(referenceCrc(32, 0xedb88320n, check).toString('hex'), 'cbf43926');
  t.is(referenceCrc(32, 0x82f63b78n, check).toString('hex'), 'e3069283');
  t.is(referenceCrc(64, 0x9a6c9329ac4bc9b5n, check).toString('hex'), 'ae8b14860a799888');
  const published = {
    'x-amz-checksum-xxhash64': 'ef46db3751d8e999',
    'x-amz-checksum-xxhash3': '2d06800538d394c2',
    'x-amz-checksum-xxhash128': '99aa06d3014798d86001c324468d497f',
  };
  for (const [header, hex] of Object.entries(published)) {
    const value = Buffer.from(hex, 'hex').toString('base64');
    t.is(await digest(header)(Buffer.alloc(0)), value, header);
    t.is((await raw('PUT', '/media/empty.bin', [], '', { [header]: value })).status, 200, header);
    t.is((await raw('PUT', '/media/empty.bin', [], '', { [header]: Buffer.alloc(hex.length / 2).toString('base64') })).code, 'BadDigest', header);
  }
});

test('PutObject checks Content-MD5 and each x-amz-checksum-*: a right value stores the object, a wrong one is 400 BadDigest and stores nothing', async (t) => {
  for (const d of DIGESTS) {
    const key = `checked/${d.header}.bin`;
    const first = crypto.randomBytes(300_000); // several stream chunks
    const ok = await raw('PUT', `/media/${key}`, [], first, { [d.header]: await d.of(first) });
    t.is(ok.status, 200, `${d.header}: ${ok.text}`);
    if (d.header !== 'content-md5') t.is(ok.headers.get(d.header), await d.of(first), `${d.header} echoed`);
    t.is(store.object('media', key)?.sha256, crypto.createHash('sha256').update(first).digest('hex'));
    // A wrong value for a new body: the previous version stays, byte for byte.
    const second = crypto.randomBytes(1000);
    const bad = await raw('PUT', `/media/${key}`, [], second, { [d.header]: await d.of(Buffer.from('something else')) });
    t.is(bad.status, 400, d.header);
    t.is(bad.code, 'BadDigest', d.header);
    t.is(bad.message, badDigestMessage(d.name));
    t.deepEqual(fs.readFileSync(store.object('media', key)!.file), first, `${d.header}: previous version unchanged`);
    // A wrong value for a key that did not exist: no object.
    const fresh = await raw('PUT', `/media/${key}.new`, [], second, { [d.header]: await d.of(first) });
    t.is(fresh.code, 'BadDigest', d.header);
    t.is(store.object('media', `${key}.new`), undefined, d.header);
  }
  t.true(requests.some((r) => r.operation === 'PutObject' && r.status === 400 && r.code === 'BadDigest'));
});

test('a malformed Content-MD5 is 400 InvalidDigest, a malformed checksum 400 InvalidRequest; two checksums or an SDK algorithm without its checksum are refused', async (t) => {
  const body = Buffer.from('firmware photo');
  const refused = async (headers: Record<string, string>, code: string, message: string | RegExp) => {
    const r = await raw('PUT', '/media/malformed.bin', [], body, headers);
    t.is(r.status, 400, JSON.stringify(headers));
    t.is(r.code, code, JSON.stringify(headers));
    if (typeof message === 'string') t.is(r.message, message);
    else t.regex(r.message ?? '', message);
    t.is(store.object('media', 'malformed.bin'), undefined);
  };
  // The classic firmware bug: the MD5 in hex instead of base64.
  await refused({ 'content-md5': crypto.createHash('md5').update(body).digest('hex') }, 'InvalidDigest', 'The Content-MD5 you specified was invalid.');
  for (const d of DIGESTS.slice(1)) {
    await refused({ [d.header]: 'not base64!' }, 'InvalidRequest', `Value for ${d.header} header is invalid.`);
    await refused({ [d.header]: Buffer.alloc(d.bytes + 1).toString('base64') }, 'InvalidRequest', `Value for ${d.header} header is invalid.`);
  }
  await refused(
    { 'x-amz-checksum-crc32': await digest('x-amz-checksum-crc32')(body), 'x-amz-checksum-sha256': await digest('x-amz-checksum-sha256')(body) },
    'InvalidRequest',
    'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.',
  );
  await refused(
    { 'x-amz-sdk-checksum-algorithm': 'CRC32' },
    'InvalidRequest',
    /^x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-\* or x-amz-trailer headers were found\.$/,
  );
  await refused(
    { 'x-amz-sdk-checksum-algorithm': 'CRC32', 'x-amz-checksum-sha1': await digest('x-amz-checksum-sha1')(body) },
    'InvalidRequest',
    /^x-amz-sdk-checksum-algorithm specified, but no corresponding/,
  );
  await refused(
    { 'x-amz-sdk-checksum-algorithm': 'CRC16', 'x-amz-checksum-crc32': await digest('x-amz-checksum-crc32')(body) },
    'InvalidRequest',
    'Value for x-amz-sdk-checksum-algorithm header is invalid.',
  );
  // Content-MD5 and one checksum together is what S3 allows.
  t.is(
    (
      await raw('PUT', '/media/malformed.bin', [], body, {
        'content-md5': await digest('content-md5')(body),
        'x-amz-checksum-crc32c': await digest('x-amz-checksum-crc32c')(body),
      })
    ).status,
    200,
  );
});

test('UploadPart checks the same headers: a wrong checksum is 400 BadDigest and the part is not recorded (an earlier upload of it stays)', async (t) => {
  const key = 'checked/parts.bin';
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'media', Key: key }));
  const part = (n: number, body: Buffer<ArrayBuffer>, headers: Record<string, string>) =>
    raw(
      'PUT',
      `/media/${key}`,
      [
        ['partNumber', String(n)],
        ['uploadId', UploadId!],
      ],
      body,
      headers,
    );
  const one = crypto.randomBytes(300_000);
  const p1 = await part(1, one, { 'x-amz-checksum-crc32c': await digest('x-amz-checksum-crc32c')(one) });
  t.is(p1.status, 200, p1.text);
  t.is(p1.headers.get('x-amz-checksum-crc32c'), await digest('x-amz-checksum-crc32c')(one));
  const two = crypto.randomBytes(1000);
  for (const d of DIGESTS) {
    const bad = await part(2, two, { [d.header]: await d.of(Buffer.from('another body')) });
    t.is(bad.code, 'BadDigest', d.header);
    t.is(bad.message, badDigestMessage(d.name));
  }
  const again = await part(1, two, { 'x-amz-checksum-sha1': await digest('x-amz-checksum-sha1')(one) });
  t.is(again.code, 'BadDigest');
  const complete = (parts: Array<[number, string]>) =>
    raw(
      'POST',
      `/media/${key}`,
      [['uploadId', UploadId!]],
      `<CompleteMultipartUpload>${parts.map(([n, e]) => `<Part><PartNumber>${n}</PartNumber><ETag>${e}</ETag></Part>`).join('')}</CompleteMultipartUpload>`,
    );
  const md5 = (b: Buffer) => `"${crypto.createHash('md5').update(b).digest('hex')}"`;
  const missing = await complete([
    [1, md5(one)],
    [2, md5(two)],
  ]);
  t.is(missing.code, 'InvalidPart');
  t.regex(missing.message ?? '', /Part 2 was not uploaded/);
  t.is((await complete([[1, md5(two)]])).code, 'InvalidPart', 'the refused body did not replace part 1');
  t.is((await complete([[1, md5(one)]])).status, 200);
  t.deepEqual(fs.readFileSync(store.object('media', key)!.file), one);
});

test('an upload created with x-amz-checksum-algorithm refuses a part with another checksum; an unknown algorithm is refused', async (t) => {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'media', Key: 'checked/sha256-parts.bin', ChecksumAlgorithm: 'SHA256' }));
  const body = Buffer.from('part');
  const part = (headers: Record<string, string>) =>
    raw(
      'PUT',
      '/media/checked/sha256-parts.bin',
      [
        ['partNumber', '1'],
        ['uploadId', UploadId!],
      ],
      body,
      headers,
    );
  const other = await part({ 'x-amz-checksum-crc32': await digest('x-amz-checksum-crc32')(body) });
  t.is(other.code, 'InvalidRequest');
  t.is(other.message, 'Checksum Type mismatch occurred, expected checksum Type: sha256, actual checksum Type: crc32');
  t.is((await part({ 'x-amz-checksum-sha256': await digest('x-amz-checksum-sha256')(body) })).status, 200);
  const unknown = await raw('POST', '/media/checked/md5-parts.bin', [['uploads', '']], undefined, { 'x-amz-checksum-algorithm': 'CRC16' });
  t.is(unknown.code, 'InvalidRequest');
  t.regex(unknown.message ?? '', /^Checksum algorithm provided is unsupported/);
});

test('the AWS SDK v3 default checksums (CRC32, x-amz-sdk-checksum-algorithm) pass on PutObject and UploadPart and come back with x-amz-checksum-mode', async (t) => {
  const photo = crypto.randomBytes(200_000);
  await s3.send(new PutObjectCommand({ Bucket: 'media', Key: 'sdk/photo.jpg', Body: photo }));
  t.is(store.object('media', 'sdk/photo.jpg')?.checksum?.algorithm, 'CRC32', 'the SDK sent its default CRC32 and the store kept it');
  // The SDK asks for the checksum (x-amz-checksum-mode: ENABLED) and checks the body against it.
  const got = await s3.send(new GetObjectCommand({ Bucket: 'media', Key: 'sdk/photo.jpg', ChecksumMode: 'ENABLED' }));
  t.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), photo);
  t.is(got.ChecksumCRC32, await digest('x-amz-checksum-crc32')(photo));
  t.is(
    (await s3.send(new HeadObjectCommand({ Bucket: 'media', Key: 'sdk/photo.jpg', ChecksumMode: 'ENABLED' }))).ChecksumCRC32,
    await digest('x-amz-checksum-crc32')(photo),
  );
  t.is((await raw('HEAD', '/media/sdk/photo.jpg', [], undefined)).headers.get('x-amz-checksum-crc32'), null, 'only when asked for');
  t.is(
    (await raw('GET', '/media/sdk/photo.jpg', [], undefined, { 'x-amz-checksum-mode': 'ENABLED', range: 'bytes=0-9' })).headers.get('x-amz-checksum-crc32'),
    null,
    'not with a range',
  );
  // Every algorithm of the S3 model; the client computes the last five only with implementations handed to it.
  const all = new S3Client({
    region: 'eu-west-1',
    endpoint: store.url,
    forcePathStyle: true,
    credentials,
    checksumAlgorithms: { MD5: Md5, SHA512: Sha512, XXHASH64: Xxh64, XXHASH3: Xxh3_64, XXHASH128: Xxh3_128 },
  });
  t.teardown(() => all.destroy());
  for (const algorithm of Object.values(ChecksumAlgorithm)) {
    await all.send(new PutObjectCommand({ Bucket: 'media', Key: `sdk/${algorithm}.bin`, Body: photo, ChecksumAlgorithm: algorithm }));
    // The SDK sends an MD5 as Content-MD5, which is checked but is no flexible checksum to keep.
    t.is(store.object('media', `sdk/${algorithm}.bin`)?.checksum?.algorithm, algorithm === 'MD5' ? undefined : algorithm);
    const back = await all.send(new GetObjectCommand({ Bucket: 'media', Key: `sdk/${algorithm}.bin`, ChecksumMode: 'ENABLED' }));
    t.deepEqual(Buffer.from(await back.Body!.transformToByteArray()), photo, algorithm);
    t.is(back.$metadata.httpStatusCode, 200);
  }
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'media', Key: 'sdk/clip.mp4' }));
  const part = await s3.send(new UploadPartCommand({ Bucket: 'media', Key: 'sdk/clip.mp4', UploadId, PartNumber: 1, Body: photo }));
  t.is(part.ChecksumCRC32, await digest('x-amz-checksum-crc32')(photo), 'UploadPart carried the default CRC32 and the store checked and echoed it');
  await s3.send(
    new CompleteMultipartUploadCommand({ Bucket: 'media', Key: 'sdk/clip.mp4', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag! }] } }),
  );
  t.deepEqual(fs.readFileSync(store.object('media', 'sdk/clip.mp4')!.file), photo);
});

test("a checksum in a pre-signed URL's query is checked like the header: the SDK presigner's default CRC32 of an empty body refuses a real upload", async (t) => {
  const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket: 'media', Key: 'presigned-crc.jpg' }), { expiresIn: 60 });
  t.regex(url, /x-amz-checksum-crc32=AAAAAA%3D%3D/);
  const r = await fetch(url, { method: 'PUT', body: 'a photo' });
  t.is(r.status, 400);
  t.regex(await r.text(), /<Code>BadDigest<\/Code><Message>The CRC32 you specified did not match the calculated checksum\.<\/Message>/);
  t.is(store.object('media', 'presigned-crc.jpg'), undefined);
  const right = await getSignedUrl(
    s3,
    new PutObjectCommand({ Bucket: 'media', Key: 'presigned-crc.jpg', ChecksumCRC32: await digest('x-amz-checksum-crc32')(Buffer.from('a photo')) }),
    { expiresIn: 60 },
  );
  t.is((await fetch(right, { method: 'PUT', body: 'a photo' })).status, 200);
  t.is(store.object('media', 'presigned-crc.jpg')?.size, 7);
});

const SIGV2_REFUSED = 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.';

function expectSigV2Refused(
  t: { is: (a: unknown, b: unknown, m?: string) => void; true: (v: boolean, m?: string) => void },
  status: number,
  body: string,
): void {
  t.is(status, 400);
  t.is(/<Code>([^<]*)<\/Code>/.exec(body)?.[1], 'InvalidRequest');
  const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1] ?? '';
  t.true(message.startsWith(`${SIGV2_REFUSED} `), message);
  t.true(
    message.includes('aws configure set default.s3.signature_version s3v4') && message.includes('--region eu-west-1') && message.includes('camwire presign'),
    message,
  );
}

test('SigV2 (a pre-signed URL with AWSAccessKeyId/Signature/Expires, or Authorization: AWS key:sig) is 400 InvalidRequest as at S3, with a hint to sign with SigV4', async (t) => {
  await s3.send(new PutObjectCommand({ Bucket: 'media', Key: 'v2.txt', Body: 'version 4' }));
  const expires = Math.floor(Date.now() / 1000) + 600;
  const v2 = (stringToSign: string) => crypto.createHmac('sha1', credentials.secretAccessKey).update(stringToSign).digest('base64');
  const query = new URLSearchParams({ AWSAccessKeyId: credentials.accessKeyId, Expires: String(expires), Signature: v2(`GET\n\n\n${expires}\n/media/v2.txt`) });
  const get = await fetch(`${store.url}/media/v2.txt?${query}`);
  expectSigV2Refused(t, get.status, await get.text());
  const date = new Date().toUTCString();
  const put = await fetch(`${store.url}/media/v2.txt`, {
    method: 'PUT',
    body: 'version 2',
    headers: { date, 'content-type': 'text/plain', authorization: `AWS ${credentials.accessKeyId}:${v2(`PUT\n\ntext/plain\n${date}\n/media/v2.txt`)}` },
  });
  expectSigV2Refused(t, put.status, await put.text());
  t.is(store.object('media', 'v2.txt')?.size, 9);
  t.true(requests.some((r) => r.operation === 'PutObject' && r.key === 'v2.txt' && r.status === 400 && r.code === 'InvalidRequest'));
  t.true(requests.some((r) => r.operation === 'GetObject' && r.key === 'v2.txt' && r.status === 400 && r.code === 'InvalidRequest'));
});

test('botocore\'s SigV2 presign (signature_version "s3", what AWS CLI v1 makes by default) is refused with the hint; its s3v4 URL works', async (t) => {
  await s3.send(new PutObjectCommand({ Bucket: 'media', Key: 'cli.txt', Body: 'from the cli' }));
  const presign = (version: string) => {
    const py = `
import sys, boto3
from botocore.config import Config
c = boto3.client('s3', endpoint_url=sys.argv[1], region_name='eu-west-1', aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3],
                 config=Config(signature_version=sys.argv[4], s3={'addressing_style': 'path'}))
print(c.generate_presigned_url('get_object', Params={'Bucket': 'media', 'Key': 'cli.txt'}, ExpiresIn=600))`;
    const r = spawnSync('python3', ['-c', py, store.url, credentials.accessKeyId, credentials.secretAccessKey, version], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`botocore (apt-get install python3-boto3): ${r.stderr}`);
    return r.stdout.trim();
  };
  const v2 = presign('s3');
  t.regex(v2, /AWSAccessKeyId=/);
  const refused = await fetch(v2);
  expectSigV2Refused(t, refused.status, await refused.text());
  const v4 = presign('s3v4');
  t.regex(v4, /X-Amz-Algorithm=AWS4-HMAC-SHA256/);
  const ok = await fetch(v4);
  t.is(ok.status, 200);
  t.is(await ok.text(), 'from the cli');
});
