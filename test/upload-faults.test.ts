/**
 * Uploads through the faults a camera's network has: a link that drops for
 * seconds (a proxy SIGKILLed and started again), a server that answers 403 at
 * once and stops reading, one that accepts and never answers, one that is not
 * there. Each ends the way it should: finished in the same run, or a clear
 * error within seconds; no file handle left open, no process left hanging.
 */
import test from 'ava';
import { ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CamwireError } from '../ts/errors';
import { Uploader } from '../ts/upload';
import { presignMultipart } from '../ts/upload/presign';
import { freePort } from './helpers/ports';
import { CLI } from './helpers/run';
import { S3_CREDENTIALS, SwiftS3 } from './helpers/swift';
import { tempDir } from './helpers/tmp';
import { until } from './helpers/until';

const dir = tempDir('upload-faults');
const MiB = 1024 * 1024;
let swift: SwiftS3;
let s3: S3Client;
const bucket = 'faults';

test.before(async () => {
  swift = await SwiftS3.start(path.join(dir, 'swift'));
  s3 = new S3Client({ region: 'us-east-1', endpoint: swift.endpoint, forcePathStyle: true, credentials: S3_CREDENTIALS });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
test.after.always(async () => {
  s3?.destroy();
  await swift?.stop();
});

function makeFile(name: string, size: number): { file: string; sha256: string } {
  const file = path.join(dir, name);
  const data = crypto.randomBytes(size);
  fs.writeFileSync(file, data);
  return { file, sha256: crypto.createHash('sha256').update(data).digest('hex') };
}

/** File descriptors of this process that point at `file` (a leaked handle stays open until GC). */
function openHandles(file: string): number {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === file) n++;
    } catch {
      /* closed meanwhile */
    }
  }
  return n;
}

/** The CLI as a child process, asynchronously (the fault servers live in this process and must keep running). */
function camwire(args: string[], o: { timeoutMs: number }): Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  p.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const timer = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs);
  return new Promise((resolve) =>
    p.once('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    }),
  );
}

function startProxy(port: number, target: number, rate: number): Promise<ChildProcess> {
  const p = spawn(process.execPath, [path.join(__dirname, 'helpers', 'tcp-proxy.js'), String(port), String(target), String(rate)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    p.stdout!.once('data', () => resolve(p));
    p.once('exit', (c) => reject(new Error(`tcp-proxy exited ${c}`)));
  });
}

test.serial(
  '40 MiB multipart through a link that drops 1.5 s in and comes back 5 s later: finished in the same run, byte-identical, no handle left open',
  async (t) => {
    const { file, sha256 } = makeFile('outage40.mp4', 40 * MiB);
    const port = await freePort();
    // 8 MiB/s: the upload takes about 5 s, so the drop lands in the middle of it.
    let proxy = await startProxy(port, Number(new URL(swift.endpoint).port), 8 * MiB);
    t.teardown(() => {
      proxy.kill('SIGKILL');
    });
    const target = await presignMultipart({
      endpoint: `http://127.0.0.1:${port}`,
      bucket,
      key: 'devices/camera001/outage40.mp4',
      credentials: S3_CREDENTIALS,
      size: 40 * MiB,
      partSize: 8 * MiB,
    });
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }) => warnings.push(`${w.code ?? w.name}: ${w.message}`);
    process.on('warning', onWarning);
    t.teardown(() => {
      process.off('warning', onWarning);
    });
    const up = new Uploader({ journalDir: path.join(dir, 'journal-outage') }); // the defaults: what a user gets
    const retries: string[] = [];
    up.on('retry', (r) => retries.push(`${r.what} attempt ${r.attempt}: ${r.error}`));
    const outage = (async () => {
      await new Promise((r) => setTimeout(r, 1500));
      proxy.kill('SIGKILL');
      await new Promise((r) => proxy.once('exit', r));
      await new Promise((r) => setTimeout(r, 5000));
      proxy = await startProxy(port, Number(new URL(swift.endpoint).port), 8 * MiB);
    })();
    const started = Date.now();
    const result = await up.upload(file, target);
    await outage;
    t.log(`finished in ${((Date.now() - started) / 1000).toFixed(1)} s after ${retries.length} retries (${retries.slice(0, 2).join('; ')})`);
    t.true(retries.length > 0, 'the outage was seen');
    t.is(result.sha256, sha256);
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'devices/camera001/outage40.mp4' }));
    t.is(
      crypto
        .createHash('sha256')
        .update(Buffer.from(await r.Body!.transformToByteArray()))
        .digest('hex'),
      sha256,
    );
    t.is(openHandles(file), 0, 'every attempt closed its file handle');
    // Leaked handles closed by GC warn with DEP0137.
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((res) => setTimeout(res, 100));
    t.deepEqual(
      warnings.filter((w) => /DEP0137|file descriptor/i.test(w)),
      [],
    );
  },
);

/** A store that answers at once and then never reads another byte nor closes. */
async function earlyAnswerServer(status: string, body: string): Promise<{ port: number; sockets: net.Socket[]; close: () => void }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.once('data', () => {
      s.write(`HTTP/1.1 ${status}\r\nContent-Type: application/xml\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      s.pause();
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

test.serial('a 403 at once from a server that then stops reading: camwire upload ends within seconds with the error', async (t) => {
  const srv = await earlyAnswerServer('403 Forbidden', '<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
  t.teardown(srv.close);
  const { file } = makeFile('early403.bin', 64 * MiB); // far more than the socket buffers hold
  const started = Date.now();
  const r = await camwire(
    ['--json', 'upload', file, '--put-url', `http://127.0.0.1:${srv.port}/media/early403.bin?X-Amz-Signature=abc`, '--journal', path.join(dir, 'journal-403')],
    // A hang is killed at 30 s and has no exit status of 1.
    { timeoutMs: 30_000 },
  );
  const secs = (Date.now() - started) / 1000;
  t.is(r.status, 1, `exit ${r.status} signal ${r.signal} after ${secs} s\n${r.stdout}\n${r.stderr}`);
  const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
  t.is(err.code, 'UPLOAD_HTTP_ERROR');
  t.regex(err.message, /403 AccessDenied/);
  t.log(`ended after ${secs.toFixed(1)} s: ${err.message}`);
});

test.serial('the same early 403 in the library: the upload rejects and the file is closed', async (t) => {
  const srv = await earlyAnswerServer('403 Forbidden', '<Error><Code>AccessDenied</Code><Message>no</Message></Error>');
  t.teardown(srv.close);
  const { file } = makeFile('early403lib.bin', 64 * MiB);
  const e = await t.throwsAsync<CamwireError>(new Uploader().upload(file, `http://127.0.0.1:${srv.port}/media/x.bin`));
  t.is(e!.code, 'UPLOAD_HTTP_ERROR');
  // The handle is closed after the rejection settles (FileHandle.close() is asynchronous): wait for it, bounded.
  await until(() => openHandles(file) === 0, 10_000).catch(() => undefined);
  t.is(openHandles(file), 0);
});

test.serial('a server that accepts and never answers: cut by the idle timeout and retried until --retry-for, then UPLOAD_NETWORK', async (t) => {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const { file } = makeFile('silent.bin', 1 * MiB);
  const started = Date.now();
  const r = await camwire(
    [
      '--json',
      'upload',
      file,
      '--put-url',
      `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/media/silent.bin`,
      '--idle-timeout',
      '1',
      '--retry-for',
      '4',
      '--journal',
      path.join(dir, 'journal-silent'),
    ],
    // A hang is killed at 30 s and has no exit status of 1.
    { timeoutMs: 30_000 },
  );
  const secs = (Date.now() - started) / 1000;
  t.is(r.status, 1, `exit ${r.status} signal ${r.signal} after ${secs} s\n${r.stdout}\n${r.stderr}`);
  const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
  t.is(err.code, 'UPLOAD_NETWORK');
  t.regex(err.message, /idle timeout/);
  t.regex(err.message, /retrying for at most 4 s/);
  t.true(sockets.length >= 2, `${sockets.length} attempt(s)`);
  t.true(secs > 3 && secs < 15, `ended after ${secs.toFixed(1)} s`);
});

test.serial("retries stop at the target's expiry: nothing listening, a URL that expires in 3 s", async (t) => {
  const port = await freePort();
  const { file } = makeFile('expiring.bin', 1024);
  const date = new Date(Date.now() - 1000).toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  const url = `http://127.0.0.1:${port}/media/expiring.bin?X-Amz-Date=${date}&X-Amz-Expires=4&X-Amz-Signature=abc`;
  const started = Date.now();
  const e = await t.throwsAsync<CamwireError>(new Uploader({ backoff: { baseMs: 200, capMs: 500 } }).upload(file, url));
  const secs = (Date.now() - started) / 1000;
  t.true(e!.code === 'UPLOAD_NETWORK' || e!.code === 'UPLOAD_EXPIRED', e!.message);
  t.regex(e!.message, /until the target expires|expired at/);
  t.true(secs > 1.5 && secs < 6, `gave up after ${secs.toFixed(1)} s (the URL had about 3 s left)`);
});
