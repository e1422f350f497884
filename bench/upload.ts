/**
 * Upload throughput against the same servers in one run: Swift's S3 API and
 * nginx (Debian, WebDAV PUT) as a fast sink. camwire single PUT vs `curl -T`
 * on the same pre-signed URL; camwire multipart vs @aws-sdk/lib-storage
 * Upload with the same part size and concurrency. Prints MB/s and ratios, and
 * camwire's peak RSS. Run: npm run bench -- upload   (--quick for 64 MiB)
 */
import './quiet-sdk';
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { S3Client, CreateBucketCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Uploader } from '../ts/upload';
import { presignMultipart, presignPut } from '../ts/upload/presign';
import { S3_CREDENTIALS, SwiftS3 } from '../test/helpers/swift';
import { freePort } from '../test/helpers/ports';
import { best } from './common';

const quick = process.argv.includes('--quick');
const MiB = 1024 * 1024;
const size = (quick ? 64 : 256) * MiB;
const partSize = 8 * MiB;
const concurrency = 4;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-bench-upload-'));
process.on('exit', () => {
  if (!process.env['KEEP']) fs.rmSync(dir, { recursive: true, force: true });
});

const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);
function row(name: string, value: number, peerName?: string, peer?: number): void {
  console.log(`${name.padEnd(58)} ${value.toFixed(1).padStart(8)} MB/s${peer ? `  ${(value / peer).toFixed(2)}x ${peerName}` : ''}`);
}

async function time(f: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function curlPut(url: string, file: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('curl', ['-sS', '-f', '-o', '/dev/null', '-T', file, url]);
  if (r.status !== 0) throw new Error(`curl failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Best of n runs: the least disturbed measurement of each side. */

async function startNginx(): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const root = path.join(dir, 'nginx');
  fs.mkdirSync(path.join(root, 'www'), { recursive: true });
  fs.writeFileSync(
    path.join(root, 'nginx.conf'),
    `daemon off;
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
pid ${root}/nginx.pid;
error_log ${root}/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${root}/tmp;
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    location / { root ${root}/www; dav_methods PUT; create_full_put_path on; }
  }
}
`,
  );
  const proc = spawn('nginx', ['-c', path.join(root, 'nginx.conf'), '-p', root], { stdio: 'inherit' });
  for (let i = 0; i < 100; i++) {
    if (spawnSync('curl', ['-s', '-o', '/dev/null', `http://127.0.0.1:${port}/`]).status === 0) return { port, proc };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('nginx did not start');
}

(async () => {
  console.log(
    `camwire upload bench: ${size / MiB} MiB file, ${partSize / MiB} MiB parts, ${concurrency} in flight, ${os.cpus().length} CPU(s), ${new Date().toISOString()}`,
  );
  const file = path.join(dir, 'payload.bin');
  const fd = fs.openSync(file, 'w');
  for (let i = 0; i < size / MiB; i++) fs.writeSync(fd, crypto.randomBytes(MiB));
  fs.closeSync(fd);

  const nginx = await startNginx();
  try {
    console.log('\n# nginx (WebDAV PUT sink)');
    const url = `http://127.0.0.1:${nginx.port}/sink.bin`;
    const up = new Uploader();
    const target = { version: 1 as const, id: 'bench', object: { path: 'sink.bin' }, put: { url } };
    const ours = await best(3, () => time(() => up.upload(file, { ...target, id: crypto.randomUUID() })));
    const curl = await best(3, () => curlPut(url, file));
    row('camwire single PUT', mbps(size, ours), 'curl -T', mbps(size, curl));
    row('  peer: curl -T', mbps(size, curl));
  } finally {
    nginx.proc.kill('SIGTERM');
  }

  const swift = await SwiftS3.start(path.join(dir, 'swift'));
  try {
    const s3 = new S3Client({
      region: 'us-east-1',
      endpoint: swift.endpoint,
      forcePathStyle: true,
      credentials: S3_CREDENTIALS,
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    await s3.send(new CreateBucketCommand({ Bucket: 'bench' }));
    const base = { endpoint: swift.endpoint, bucket: 'bench', credentials: S3_CREDENTIALS };
    console.log('\n# OpenStack Swift S3 API');
    const put = await presignPut({ ...base, key: 'put.bin' });
    const oursPut = await best(2, () => time(() => new Uploader().upload(file, { ...put, id: crypto.randomUUID() })));
    const curlMs = await best(2, () => curlPut(put.put!.url, file));
    row('camwire single PUT (pre-signed)', mbps(size, oursPut), 'curl -T', mbps(size, curlMs));
    row('  peer: curl -T (same URL)', mbps(size, curlMs));

    const oursMp = await best(2, async () => {
      const t = await presignMultipart({ ...base, key: `mp-${crypto.randomUUID()}.bin`, size, partSize });
      return time(() => new Uploader({ concurrency }).upload(file, t));
    });
    const libMs = await best(2, () =>
      time(() =>
        new Upload({
          client: s3,
          params: { Bucket: 'bench', Key: `lib-${crypto.randomUUID()}.bin`, Body: fs.createReadStream(file) },
          partSize,
          queueSize: concurrency,
        }).done(),
      ),
    );
    row('camwire multipart (pre-signed parts)', mbps(size, oursMp), 'lib-storage', mbps(size, libMs));
    row('  peer: @aws-sdk/lib-storage Upload (credentials)', mbps(size, libMs));
    s3.destroy();
  } finally {
    await swift.stop();
  }
  const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
  console.log(`\npeak RSS of this process (camwire, lib-storage and the harness together): ${(Number(hwm) / 1024).toFixed(0)} MiB`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
