/**
 * The simplest path: a bare pre-signed PUT URL from any presigner. botocore
 * (Python's AWS SDK) presigns against a real OpenStack Swift S3 API, and
 * `camwire upload FILE --put-url URL` uploads byte-identically and publishes
 * a result whose objectUrl has no query; an expired URL (SigV4 or COS
 * q-sign-time) is refused before a byte is sent; signed headers go with
 * --header. And the share: a target presigned with --share-expires, uploaded
 * with its result on MQTT, whose shareUrl opens the object with a plain GET.
 */
import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { S3Client, CreateBucketCommand, GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { CertificateAuthority } from '../ts/pki';
import { DeviceConnection } from '../ts/mqtt';
import { MosquittoBroker } from './helpers/mosquitto';
import { device } from './helpers/pki';
import { camwire, run } from './helpers/run';
import { S3_CREDENTIALS, SwiftS3 } from './helpers/swift';
import { tempDir } from './helpers/tmp';

const dir = tempDir('put-url');
let swift: SwiftS3;
let broker: MosquittoBroker;
let ca: CertificateAuthority;
let s3: S3Client;
const bucket = 'media';

test.before(async () => {
  ca = (await CertificateAuthority.create({ keyType: 'ec' })).ca;
  fs.mkdirSync(path.join(dir, 'mqtt'));
  [swift, broker] = await Promise.all([SwiftS3.start(path.join(dir, 'swift')), MosquittoBroker.start({ dir: path.join(dir, 'mqtt'), ca })]);
  s3 = new S3Client({ region: 'us-east-1', endpoint: swift.endpoint, forcePathStyle: true, credentials: S3_CREDENTIALS });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
test.after.always(async () => {
  s3?.destroy();
  await Promise.all([swift?.stop(), broker?.stop()]);
});

/** botocore's presigned PUT (SigV4, path style), as a Python back end makes it. */
function botoPresign(key: string, expires: number, params: Record<string, string> = {}): string {
  const py = `
import sys, json, boto3
from botocore.config import Config
c = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3],
                 config=Config(signature_version='s3v4', s3={'addressing_style': 'path'}))
p = dict(Bucket=sys.argv[4], Key=sys.argv[5]); p.update(json.loads(sys.argv[7]))
print(c.generate_presigned_url('put_object', Params=p, ExpiresIn=int(sys.argv[6])))`;
  const r = run('python3', [
    '-c',
    py,
    swift.endpoint,
    S3_CREDENTIALS.accessKeyId,
    S3_CREDENTIALS.secretAccessKey,
    bucket,
    key,
    String(expires),
    JSON.stringify(params),
  ]);
  if (r.status !== 0) throw new Error(`botocore presign (apt-get install python3-boto3): ${r.stderr}`);
  return r.stdout.trim();
}

async function storedSha(key: string): Promise<string> {
  const obj = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const h = crypto.createHash('sha256');
  for await (const c of obj.Body as AsyncIterable<Buffer>) h.update(c);
  return h.digest('hex');
}

const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

async function subscriber(name: string): Promise<{ got: string[]; close(): Promise<void> }> {
  const watcher = new DeviceConnection({ url: broker.url('plain'), thing: name, status: false });
  await watcher.connect({ timeoutMs: 5000 });
  const got: string[] = [];
  watcher.on('message', (_t, p) => got.push(p.toString()));
  await watcher.subscribe('cameras/+/uploads');
  return { got, close: () => watcher.close() };
}

async function until(f: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 25));
}

test.serial('--put-url with a botocore URL: byte-identical upload, the result published with objectUrl = the URL without its query', async (t) => {
  const file = path.join(dir, 'DSC00042.JPG');
  fs.writeFileSync(file, crypto.randomBytes(777_777));
  const url = botoPresign('devices/camera001/DSC00042.JPG', 600);
  t.regex(url, /X-Amz-Signature=[0-9a-f]{64}/);
  const sub = await subscriber('backend-put-url');
  const cam = await device(ca, dir, 'camera001');
  const up = camwire([
    '--json',
    'upload',
    file,
    '--put-url',
    url,
    '--url',
    broker.url('tls'),
    '--thing',
    'camera001',
    '--cert',
    cam.chain,
    '--key',
    cam.key,
    '--ca',
    path.join(dir, 'mqtt', 'ca.pem'),
    '--journal',
    path.join(dir, 'journal'),
  ]);
  t.is(up.status, 0, up.stdout + up.stderr);
  t.false((up.stdout + up.stderr).includes(new URL(url).searchParams.get('X-Amz-Signature')!), 'no signature printed');
  await until(() => sub.got.length > 0);
  t.is(sub.got.length, 1);
  const result = JSON.parse(sub.got[0]!) as { status: string; objectUrl: string; sha256: string; bytes: number; contentType: string; id: string };
  t.like(result, { status: 'uploaded', bytes: 777_777, contentType: 'image/jpeg', objectUrl: `${swift.endpoint}/${bucket}/devices/camera001/DSC00042.JPG` });
  t.false(result.objectUrl.includes('?'));
  t.regex(result.id, /^url-[0-9a-f]{32}$/);
  t.is(result.sha256, sha(file));
  t.is(await storedSha('devices/camera001/DSC00042.JPG'), sha(file));
  await sub.close();
});

test.serial('a URL signed with its Content-Type: sent from the file name or --header; a different one is UPLOAD_SIGNATURE_MISMATCH', async (t) => {
  const file = path.join(dir, 'clip.mp4');
  fs.writeFileSync(file, crypto.randomBytes(50_001));
  const url = botoPresign('devices/camera001/clip.mp4', 600, { ContentType: 'video/mp4' });
  t.regex(url, /X-Amz-SignedHeaders=content-type%3Bhost/);
  const wrong = camwire(['--json', 'upload', file, '--put-url', url, '--content-type', 'application/octet-stream', '--journal', path.join(dir, 'j2')]);
  t.is(wrong.status, 1);
  t.is((JSON.parse(wrong.stdout) as { error: { code: string } }).error.code, 'UPLOAD_SIGNATURE_MISMATCH');
  const byName = camwire(['--json', 'upload', file, '--put-url', url, '--journal', path.join(dir, 'j3')]);
  t.is(byName.status, 0, byName.stdout);
  const byHeader = camwire([
    '--json',
    'upload',
    file,
    '--put-url',
    url,
    '--header',
    'Content-Type: video/mp4',
    '--id',
    'clip-1',
    '--journal',
    path.join(dir, 'j4'),
  ]);
  t.is(byHeader.status, 0, byHeader.stdout);
  t.is((JSON.parse(byHeader.stdout) as { id: string }).id, 'clip-1');
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'devices/camera001/clip.mp4' }));
  t.is(head.ContentType, 'video/mp4');
});

test.serial('an expired URL is UPLOAD_EXPIRED before a byte is sent: botocore SigV4, and COS q-sign-time', async (t) => {
  const file = path.join(dir, 'late.jpg');
  fs.writeFileSync(file, crypto.randomBytes(1000));
  const url = botoPresign('devices/camera001/late.jpg', 1);
  await new Promise((r) => setTimeout(r, 2100));
  // A listener that counts connections stands in for the store: nothing may reach it.
  let connections = 0;
  const trap = http.createServer((_q, res) => res.end());
  trap.on('connection', () => connections++);
  await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
  const port = (trap.address() as { port: number }).port;
  const moved = url.replace(new URL(url).host, `127.0.0.1:${port}`);
  const now = Math.floor(Date.now() / 1000);
  const cos = `http://127.0.0.1:${port}/late.jpg?q-sign-algorithm=sha1&q-ak=AKIDEXAMPLE&q-sign-time=${now - 7200};${now - 3600}&q-key-time=${now - 7200};${now - 3600}&q-header-list=host&q-url-param-list=&q-signature=0123456789abcdef0123456789abcdef01234567`;
  for (const u of [url, moved, cos]) {
    const r = camwire(['--json', 'upload', file, '--put-url', u, '--journal', path.join(dir, 'j5')]);
    t.is(r.status, 1, r.stdout);
    const e = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
    t.is(e.code, 'UPLOAD_EXPIRED');
    t.regex(e.message, /nothing was sent/);
  }
  await new Promise<void>((r) => trap.close(() => r()));
  t.is(connections, 0);
  await t.throwsAsync(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'devices/camera001/late.jpg' })));
});

test.serial('presign --share-expires: the published shareUrl opens the object with a plain GET (same SHA-256)', async (t) => {
  const file = path.join(dir, 'DSC00100.JPG');
  fs.writeFileSync(file, crypto.randomBytes(300_003));
  const awsEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
  };
  const presign = camwire(
    [
      'presign',
      'put',
      '--endpoint',
      swift.endpoint,
      '--bucket',
      bucket,
      '--thing',
      'camera001',
      '--file',
      file,
      '--content-type',
      'image/jpeg',
      '--share-expires',
      '3600',
    ],
    { env: awsEnv },
  );
  t.is(presign.status, 0, presign.stderr);
  const target = JSON.parse(presign.stdout) as { share: { url: string; expiresAt: string } };
  t.regex(target.share.url, /X-Amz-Expires=3600/);
  t.true(Math.abs(Date.parse(target.share.expiresAt) - Date.now() - 3600_000) < 60_000);
  const targetFile = path.join(dir, 'share.target.json');
  fs.writeFileSync(targetFile, presign.stdout);
  const sub = await subscriber('backend-share');
  const cam = await device(ca, dir, 'camera001');
  const up = camwire([
    'upload',
    file,
    '--target',
    targetFile,
    '--url',
    broker.url('tls'),
    '--thing',
    'camera001',
    '--cert',
    cam.chain,
    '--key',
    cam.key,
    '--ca',
    path.join(dir, 'mqtt', 'ca.pem'),
    '--journal',
    path.join(dir, 'j6'),
  ]);
  t.is(up.status, 0, up.stderr);
  t.true(up.stdout.includes(target.share.url), 'the human result shows the share URL whole');
  await until(() => sub.got.length > 0);
  const result = JSON.parse(sub.got[0]!) as { shareUrl: string; shareExpiresAt: string; sha256: string };
  t.is(result.shareUrl, target.share.url);
  t.is(result.shareExpiresAt, target.share.expiresAt);
  const res = await fetch(result.shareUrl);
  t.is(res.status, 200);
  t.is(
    crypto
      .createHash('sha256')
      .update(Buffer.from(await res.arrayBuffer()))
      .digest('hex'),
    sha(file),
  );
  t.is(result.sha256, sha(file));
  await sub.close();
  // Without credentials the object stays private.
  const anonymous = (await fetch(result.shareUrl.split('?')[0]!)).status;
  t.true(anonymous >= 400 && anonymous < 500, `an unsigned GET answered ${anonymous}`);
});
