/**
 * Uploads through pre-signed URLs against a real OpenStack Swift with its S3
 * API: the back-end side presigns with the AWS SDK, the camera side uploads
 * with camwire's engine, and the stored object is read back and compared.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import readline from 'node:readline';
import fs from 'node:fs';
import path from 'node:path';
import { S3Client, CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { Uploader, UploadTarget } from '../ts/upload';
import { presignMultipart, presignPut } from '../ts/upload/presign';
import { CamwireError } from '../ts/errors';
import { S3_CREDENTIALS, SwiftS3 } from './helpers/swift';
import { tempDir } from './helpers/tmp';

const dir = tempDir('upload');
let swift: SwiftS3;
let s3: S3Client;
const bucket = 'camwire-test';
const MiB = 1024 * 1024;

test.before(async () => {
  swift = await SwiftS3.start(path.join(dir, 'swift'));
  s3 = new S3Client({ region: 'us-east-1', endpoint: swift.endpoint, forcePathStyle: true, credentials: S3_CREDENTIALS });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
test.after.always(async () => {
  s3?.destroy();
  await swift?.stop();
});

const base = (key: string) => ({ endpoint: swift.endpoint, bucket, key, credentials: S3_CREDENTIALS });

function makeFile(name: string, size: number): { file: string; md5: string; sha256: string } {
  const file = path.join(dir, name);
  const fd = fs.openSync(file, 'w');
  const chunk = crypto.randomBytes(MiB);
  const md5 = crypto.createHash('md5');
  const sha = crypto.createHash('sha256');
  for (let left = size; left > 0;) {
    const n = Math.min(left, chunk.length);
    const b = chunk.subarray(0, n);
    fs.writeSync(fd, b);
    md5.update(b);
    sha.update(b);
    chunk[0] = (chunk[0]! + 1) & 0xff; // parts differ
    left -= n;
  }
  fs.closeSync(fd);
  return { file, md5: md5.digest('hex'), sha256: sha.digest('hex') };
}

async function stored(key: string): Promise<{ md5: string; contentType?: string; size: number }> {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const h = crypto.createHash('md5');
  let size = 0;
  for await (const c of r.Body as AsyncIterable<Buffer>) {
    h.update(c);
    size += c.length;
  }
  return { md5: h.digest('hex'), size, ...(r.ContentType ? { contentType: r.ContentType } : {}) };
}

test.serial('a photo through a pre-signed PUT arrives byte for byte, with its signed Content-Type', async (t) => {
  const photo = makeFile('DSC00001.JPG', 300 * 1024 + 7);
  const target = await presignPut({ ...base('devices/camera001/DSC00001.JPG'), contentType: 'image/jpeg' });
  t.regex(target.put!.url, /X-Amz-Signature=/);
  t.notRegex(target.put!.url, /x-amz-checksum/i, 'no empty-body checksum signed into the URL');
  const up = new Uploader({ thing: 'camera001', source: 'cli' });
  const result = await up.upload(photo.file, target);
  t.is(result.status, 'uploaded');
  t.is(result.bytes, 300 * 1024 + 7);
  t.is(result.sha256, photo.sha256);
  t.is(result.objectUrl, `${swift.endpoint}/${bucket}/devices/camera001/DSC00001.JPG`);
  const s = await stored('devices/camera001/DSC00001.JPG');
  t.is(s.md5, photo.md5);
  t.is(s.contentType, 'image/jpeg');
  t.is(up.requests, 1);
});

test.serial('a signed Content-Type sent differently: UPLOAD_SIGNATURE_MISMATCH, URL signature redacted', async (t) => {
  const photo = makeFile('sig.jpg', 1000);
  const target = await presignPut({ ...base('devices/camera001/sig.jpg'), contentType: 'image/jpeg' });
  const wrong: UploadTarget = { ...target, put: { url: target.put!.url, headers: { 'content-type': 'image/png' } } };
  const e = await t.throwsAsync<CamwireError>(new Uploader().upload(photo.file, wrong));
  t.is(e!.code, 'UPLOAD_SIGNATURE_MISMATCH', e!.message);
  const sig = new URL(target.put!.url).searchParams.get('X-Amz-Signature')!;
  t.false(e!.message.includes(sig), 'the signature is not in the error');
  t.regex(e!.message, /X-Amz-Signature=REDACTED/);
});

test.serial('an expired target: UPLOAD_EXPIRED before a single request', async (t) => {
  const photo = makeFile('old.jpg', 1000);
  const target = await presignPut({ ...base('devices/camera001/old.jpg'), expiresIn: 1 });
  await new Promise((r) => setTimeout(r, 1100));
  const up = new Uploader();
  const e = await t.throwsAsync<CamwireError>(up.upload(photo.file, { ...target, expiresAt: undefined } as UploadTarget));
  t.is(e!.code, 'UPLOAD_EXPIRED');
  t.is(up.requests, 0);
});

test.serial('multipart 5 + 5 + 3 MiB: parts in parallel, completed, md5 matches', async (t) => {
  const video = makeFile('clip.mp4', 13 * MiB);
  const target = await presignMultipart({ ...base('devices/camera001/clip.mp4'), size: 13 * MiB, partSize: 5 * MiB, contentType: 'video/mp4' });
  t.is(target.multipart!.parts.length, 3);
  const up = new Uploader({ concurrency: 3 });
  const progress: number[] = [];
  up.on('progress', (p) => progress.push(p.partsDone));
  const result = await up.upload(video.file, target);
  t.is(result.parts, 3);
  t.is(result.sha256, video.sha256);
  t.regex(result.etag ?? '', /-3"?$/, 'a multipart ETag');
  t.is((await stored('devices/camera001/clip.mp4')).md5, video.md5);
  t.is(progress[progress.length - 1], 3);
  t.is(up.requests, 4, '3 parts + complete');
});

test.serial('a failed run keeps its finished parts in the journal; the re-run sends only the missing ones', async (t) => {
  const video = makeFile('trailer.mp4', 16 * MiB);
  const target = await presignMultipart({ ...base('devices/camera001/trailer.mp4'), size: 16 * MiB, partSize: 5 * MiB });
  const journalDir = path.join(dir, 'journal');
  // Part 3 points at a port where nothing listens: the first run fails on it after its retries.
  const broken: UploadTarget = JSON.parse(JSON.stringify(target));
  broken.multipart!.parts[2]!.url = broken.multipart!.parts[2]!.url.replace(/127\.0\.0\.1:\d+/, '127.0.0.1:9');
  const first = new Uploader({ journalDir, concurrency: 1, attempts: 2, backoff: { baseMs: 10, capMs: 20 } });
  const e = await t.throwsAsync<CamwireError>(first.upload(video.file, broken));
  t.is(e!.code, 'UPLOAD_NETWORK');
  const second = new Uploader({ journalDir, concurrency: 2 });
  let resumed: number[] = [];
  second.on('resumed', (r) => {
    resumed = r.parts;
  });
  const result = await second.upload(video.file, target);
  t.true(resumed.includes(1) && resumed.includes(2), `resumed ${resumed.join(',')}`);
  t.is(second.requests, 4 - resumed.length + 1, 'only the missing parts and the complete');
  t.is((await stored('devices/camera001/trailer.mp4')).md5, video.md5);
  // The same target id again: no upload, the same result.
  const third = new Uploader({ journalDir });
  t.deepEqual(await third.upload(video.file, target), result);
  t.is(third.requests, 0);
});

test.serial('a target with the wrong number of parts for the file is refused before sending', async (t) => {
  const f = makeFile('short.mp4', 6 * MiB);
  const target = await presignMultipart({ ...base('devices/camera001/short.mp4'), size: 12 * MiB, partSize: 5 * MiB });
  const up = new Uploader();
  const e = await t.throwsAsync<CamwireError>(up.upload(f.file, target));
  t.is(e!.code, 'UPLOAD_TARGET_INVALID');
  t.is(up.requests, 0);
});

interface Worker {
  lines: string[];
  exit: Promise<number | null>;
  kill(): void;
}

function worker(args: string[]): Worker {
  const p = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'upload-worker.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const w: Worker = { lines: [], exit: new Promise((r) => p.once('exit', (c) => r(c))), kill: () => p.kill('SIGKILL') };
  readline.createInterface({ input: p.stdout! }).on('line', (l) => w.lines.push(l));
  readline.createInterface({ input: p.stderr! }).on('line', (l) => w.lines.push(`stderr ${l}`));
  return w;
}

const field = (w: Worker, name: string) => w.lines.find((l) => l.startsWith(`${name} `))?.slice(name.length + 1);

test.serial('the uploading process SIGKILLed mid-multipart: the re-run sends only the missing parts', async (t) => {
  const video = makeFile('killed.mp4', 60 * MiB);
  const target = await presignMultipart({ ...base('devices/camera001/killed.mp4'), size: 60 * MiB, partSize: 5 * MiB });
  const targetFile = path.join(dir, 'killed.target.json');
  fs.writeFileSync(targetFile, JSON.stringify(target));
  const args = ['--file', video.file, '--target', targetFile, '--journal', path.join(dir, 'journal-kill'), '--concurrency', '2'];
  const first = worker(args);
  for (let i = 0; i < 600 && first.lines.filter((l) => l.startsWith('part ')).length < 4; i++) await new Promise((r) => setTimeout(r, 25));
  first.kill();
  await first.exit;
  const partsBefore = first.lines.filter((l) => l.startsWith('part ')).length;
  t.true(partsBefore >= 4 && partsBefore < 12, `killed after ${partsBefore} parts`);
  const second = worker(args);
  t.is(await second.exit, 0, second.lines.join('\n'));
  const resumed = (field(second, 'resumed') ?? '').split(',').filter(Boolean).map(Number);
  t.true(resumed.length >= partsBefore, `resumed ${resumed.length} of ${partsBefore} journaled parts`);
  t.is(Number(field(second, 'requests')), 12 - resumed.length + 1, 'the missing parts and the complete, nothing else');
  t.is((await stored('devices/camera001/killed.mp4')).md5, video.md5);
});

test.serial('the Swift proxy stopped mid-upload and restarted: retries finish the upload', async (t) => {
  const video = makeFile('outage.mp4', 30 * MiB);
  const target = await presignMultipart({ ...base('devices/camera001/outage.mp4'), size: 30 * MiB, partSize: 5 * MiB });
  const up = new Uploader({ concurrency: 1, attempts: 10, backoff: { baseMs: 500, capMs: 4000 } });
  const retries: string[] = [];
  up.on('retry', (r) => retries.push(`${r.what}: ${r.error}`));
  let stopped = false;
  up.on('progress', (p) => {
    if (p.partsDone === 1 && !stopped) {
      stopped = true;
      void swift
        .stopProxy()
        .then(() => new Promise((r) => setTimeout(r, 1000)))
        .then(() => swift.startProxy());
    }
  });
  const result = await up.upload(video.file, target);
  t.true(stopped);
  t.true(retries.length > 0, 'the outage was seen');
  t.log(`${retries.length} retries, e.g. ${retries[0]}`);
  t.is(result.sha256, video.sha256);
  t.is((await stored('devices/camera001/outage.mp4')).md5, video.md5);
});

test.serial('200 MiB in 8 MiB parts, 4 in flight: the object md5 matches', async (t) => {
  const big = makeFile('trailer200.mp4', 200 * MiB);
  const target = await presignMultipart({ ...base('devices/camera001/trailer200.mp4'), size: 200 * MiB, partSize: 8 * MiB, contentType: 'video/mp4' });
  const result = await new Uploader({ concurrency: 4 }).upload(big.file, target);
  t.is(result.parts, 25);
  const s = await stored('devices/camera001/trailer200.mp4');
  t.is(s.size, 200 * MiB);
  t.is(s.md5, big.md5);
  fs.rmSync(big.file);
});

test.serial("a 1 GiB upload keeps the process's peak RSS under 150 MB", async (t) => {
  const size = 1024 * MiB;
  const big = makeFile('huge.bin', size);
  const target = await presignMultipart({ ...base('devices/camera001/huge.bin'), size, partSize: 16 * MiB });
  const targetFile = path.join(dir, 'huge.target.json');
  fs.writeFileSync(targetFile, JSON.stringify(target));
  const w = worker(['--file', big.file, '--target', targetFile, '--journal', path.join(dir, 'journal-huge'), '--concurrency', '4']);
  t.is(await w.exit, 0, w.lines.slice(-5).join('\n'));
  const peakMiB = Number(field(w, 'rss-peak-kib')) / 1024;
  t.true(peakMiB > 0 && peakMiB < 150, `peak RSS ${peakMiB.toFixed(1)} MiB`);
  t.log(`peak RSS ${peakMiB.toFixed(1)} MiB for 1 GiB in 16 MiB parts, 4 in flight`);
  const result = JSON.parse(field(w, 'result')!) as { sha256: string };
  t.is(result.sha256, big.sha256);
  fs.rmSync(big.file);
});

test.serial('Content-MD5 is added only when the target asks (empty value), and the store checks it', async (t) => {
  const photo = makeFile('md5.jpg', 50_000);
  const target = await presignPut(base('devices/camera001/md5.jpg'));
  const asked: UploadTarget = { ...target, put: { url: target.put!.url, headers: { 'content-md5': '' } } };
  await new Uploader().upload(photo.file, asked);
  t.is((await stored('devices/camera001/md5.jpg')).md5, photo.md5);
  const wrong: UploadTarget = {
    ...target,
    put: { url: target.put!.url, headers: { 'content-md5': crypto.createHash('md5').update('other').digest('base64') } },
  };
  const e = await t.throwsAsync<CamwireError>(new Uploader().upload(photo.file, wrong));
  t.is(e!.code, 'UPLOAD_CHECKSUM_MISMATCH', e!.message);
  const odd: UploadTarget = { ...target, put: { url: target.put!.url, headers: { 'x-custom': '' } } };
  t.is((await t.throwsAsync<CamwireError>(new Uploader().upload(photo.file, odd)))!.code, 'UPLOAD_TARGET_INVALID');
});

test.serial("parts below the store's minimum: UPLOAD_PART_TOO_SMALL with a hint, and the upload is aborted", async (t) => {
  const f = makeFile('tiny-parts.mp4', 3 * MiB);
  const journalDir = path.join(dir, 'journal-small');
  const target = await presignMultipart({ ...base('devices/camera001/tiny-parts.mp4'), size: 3 * MiB, partSize: MiB, minPartSize: 1 }); // a presigner that does not check, as the camera meets them
  const up = new Uploader({ journalDir });
  const e = await t.throwsAsync<CamwireError>(up.upload(f.file, target));
  t.is(e!.code, 'UPLOAD_PART_TOO_SMALL', e!.message);
  t.regex(e!.hint ?? '', /5 MiB/);
  t.is(up.requests, 3 + 1 + 1, 'three parts, the complete, the abort');
  // Aborted: the upload id is gone, so its parts cannot be completed any more.
  const again = await t.throwsAsync<CamwireError>(new Uploader().upload(f.file, target));
  t.regex(again!.code, /UPLOAD_NO_SUCH_UPLOAD|UPLOAD_HTTP_ERROR/, again!.message);
});
