/**
 * The seed's path from the CLI: the back end presigns (camwire presign, AWS
 * credentials from the environment), the camera uploads and publishes the
 * result over mutual TLS (camwire upload), and a subscriber on the broker
 * gets a result whose sha256 matches the stored object.
 */
import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { S3Client, CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { CertificateAuthority } from '../ts/pki';
import { DeviceConnection } from '../ts/mqtt';
import { MosquittoBroker } from './helpers/mosquitto';
import { device } from './helpers/pki';
import { camwire } from './helpers/run';
import { S3_CREDENTIALS, SwiftS3 } from './helpers/swift';
import { tempDir } from './helpers/tmp';

const dir = tempDir('publish');
let swift: SwiftS3;
let broker: MosquittoBroker;
let ca: CertificateAuthority;

test.before(async () => {
  ca = (await CertificateAuthority.create({ keyType: 'ec' })).ca;
  fs.mkdirSync(path.join(dir, 'mqtt'));
  [swift, broker] = await Promise.all([SwiftS3.start(path.join(dir, 'swift')), MosquittoBroker.start({ dir: path.join(dir, 'mqtt'), ca })]);
  const s3 = new S3Client({ region: 'us-east-1', endpoint: swift.endpoint, forcePathStyle: true, credentials: S3_CREDENTIALS });
  await s3.send(new CreateBucketCommand({ Bucket: 'media' }));
  s3.destroy();
});
test.after.always(async () => {
  await Promise.all([swift?.stop(), broker?.stop()]);
});

const awsEnv = {
  ...process.env,
  AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
  AWS_REGION: 'us-east-1',
};

for (const kind of ['put', 'multipart'] as const) {
  test.serial(`presign ${kind} → upload → the result on cameras/camera001/uploads matches the stored object`, async (t) => {
    const size = kind === 'put' ? 123_457 : 11 * 1024 * 1024;
    const file = path.join(dir, kind === 'put' ? 'DSC00001.JPG' : 'trailer.mp4');
    fs.writeFileSync(file, crypto.randomBytes(size));
    const presign = camwire(
      [
        'presign',
        kind,
        '--endpoint',
        swift.endpoint,
        '--bucket',
        'media',
        '--thing',
        'camera001',
        '--file',
        file,
        '--content-type',
        kind === 'put' ? 'image/jpeg' : 'video/mp4',
        ...(kind === 'multipart' ? ['--part-size', String(5 * 1024 * 1024)] : []),
      ],
      { env: awsEnv },
    );
    t.is(presign.status, 0, presign.stderr);
    const target = JSON.parse(presign.stdout) as { id: string; object: { path: string } };
    t.regex(target.object.path, new RegExp(`^devices/camera001/\\d{4}/\\d{2}/\\d{2}/${path.basename(file)}$`));
    const targetFile = path.join(dir, `${kind}.target.json`);
    fs.writeFileSync(targetFile, presign.stdout);

    const watcher = new DeviceConnection({ url: broker.url('plain'), thing: `backend-${kind}`, status: false });
    await watcher.connect({ timeoutMs: 5000 });
    const got: string[] = [];
    watcher.on('message', (_t, p) => got.push(p.toString()));
    await watcher.subscribe('cameras/+/uploads');

    const cam = await device(ca, dir, 'camera001');
    const up = camwire([
      '--json',
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
      path.join(dir, 'journal'),
    ]);
    t.is(up.status, 0, up.stdout + up.stderr);
    const printed = JSON.parse(up.stdout) as { id: string; status: string; sha256: string };
    for (let i = 0; i < 100 && !got.length; i++) await new Promise((r) => setTimeout(r, 50));
    t.is(got.length, 1);
    const result = JSON.parse(got[0]!) as {
      version: number;
      id: string;
      thing: string;
      status: string;
      sha256: string;
      bytes: number;
      objectUrl: string;
      source: string;
      parts: number;
      contentType: string;
      etag: string;
      startedAt: string;
      completedAt: string;
    };
    t.deepEqual(result, printed as typeof result);
    t.like(result, {
      version: 1,
      id: target.id,
      thing: 'camera001',
      status: 'uploaded',
      bytes: size,
      source: 'cli',
      parts: kind === 'put' ? 1 : 3,
      contentType: kind === 'put' ? 'image/jpeg' : 'video/mp4',
    });
    t.truthy(result.etag);
    // Fetch what the result points at and hash it.
    const s3 = new S3Client({ region: 'us-east-1', endpoint: swift.endpoint, forcePathStyle: true, credentials: S3_CREDENTIALS });
    const obj = await s3.send(new GetObjectCommand({ Bucket: 'media', Key: target.object.path }));
    const h = crypto.createHash('sha256');
    for await (const c of obj.Body as AsyncIterable<Buffer>) h.update(c);
    s3.destroy();
    t.is(h.digest('hex'), result.sha256);
    t.is(result.objectUrl, `${swift.endpoint}/media/${target.object.path}`);
    await watcher.close();
  });
}

test.serial('a failed upload publishes status failed with the error code', async (t) => {
  const file = path.join(dir, 'late.jpg');
  fs.writeFileSync(file, 'x');
  const target = {
    version: 1,
    id: 'late-1',
    object: { path: 'late.jpg' },
    put: { url: `${swift.endpoint}/media/late.jpg` },
    expiresAt: '2020-01-01T00:00:00Z',
  };
  const targetFile = path.join(dir, 'late.target.json');
  fs.writeFileSync(targetFile, JSON.stringify(target));
  const watcher = new DeviceConnection({ url: broker.url('plain'), thing: 'backend-failed', status: false });
  await watcher.connect({ timeoutMs: 5000 });
  const got: string[] = [];
  watcher.on('message', (_t, p) => got.push(p.toString()));
  await watcher.subscribe('cameras/camera001/uploads');
  const cam = await device(ca, dir, 'camera001');
  const up = camwire([
    '--json',
    'upload',
    file,
    '--target',
    targetFile,
    '--url',
    broker.url('tls'),
    '--thing',
    'camera001',
    '--cert',
    cam.cert,
    '--key',
    cam.key,
    '--ca',
    path.join(dir, 'mqtt', 'ca.pem'),
    '--journal',
    path.join(dir, 'journal'),
  ]);
  t.is(up.status, 1);
  t.is((JSON.parse(up.stdout) as { error: { code: string } }).error.code, 'UPLOAD_EXPIRED');
  for (let i = 0; i < 100 && !got.length; i++) await new Promise((r) => setTimeout(r, 50));
  const r = JSON.parse(got[0]!) as { status: string; error: { code: string }; id: string };
  t.like(r, { status: 'failed', id: 'late-1', error: { code: 'UPLOAD_EXPIRED' } });
  await watcher.close();
});
