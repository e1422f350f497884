/**
 * Worker threads that go away with a PtpCamera serving or a KvsProducer open
 * (frames still pinned): the addon's per-environment cleanup stops them, the
 * camera's port closes, the process neither crashes nor hangs, and the
 * stream loop shared by the process keeps working. Runs in its own process
 * (test/fixtures/env-teardown.js) so that a crash shows as its exit status.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { LocalKvsEndpoint } from '../ts/local';
import { native, nativePath } from '../ts/native';
import { makeClip } from './helpers/h264';
import { ROOT } from './helpers/run';
import { tempDir } from './helpers/tmp';

const dir = tempDir('env-teardown');

function node(args: string[]): Promise<{ status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    p.on('close', (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

test('workers torn down with a camera serving and a stream open: stopped, no crash, no hang', async (t) => {
  const clip = makeClip(dir, { seconds: 2, fps: 30 });
  const ep = new LocalKvsEndpoint({
    dir: path.join(dir, 'kvs'),
    credentials: [{ accessKeyId: 'AKIDTEARDOWN', secretAccessKey: 'teardown-secret' }],
    region: 'us-east-1',
  });
  await ep.start();
  t.teardown(() => ep.stop());
  native().probe();
  const storage = tempDir('env-teardown-storage');
  const r = await node([path.join(ROOT, 'test', 'fixtures', 'env-teardown.js'), nativePath(), storage, clip.file, ep.url]);
  t.is(r.status, 0, `signal ${r.signal}\n${r.stdout}\n${r.stderr}`);
  const out = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
  t.deepEqual(out, {
    'ptp-exit': { code: 7, started: true, refused: true },
    'kvs-exit': { code: 7, queued: true },
    'ptp-terminate': { code: 1, started: true, refused: true },
    'kvs-terminate': { code: 1, queued: true },
    mainThread: 'KVS_ABORTED',
  });
});

test('binding entry points check their arguments with TypeErrors naming the call', (t) => {
  // The binding called as untyped JavaScript would call it: wrong arguments on purpose.
  type Loose = { [k: string]: Loose } & (new (...a: unknown[]) => Loose) & ((...a: unknown[]) => Loose);
  const b = native() as unknown as Loose;
  t.throws(() => new b.KvsProducer({ streamName: 'x', region: 'r' }), {
    instanceOf: TypeError,
    message: 'new KvsProducer(options, onEvents): expected 2 arguments, got 1',
  });
  t.throws(() => new b.KvsProducer({}, 'no'), { instanceOf: TypeError, message: 'new KvsProducer(options, onEvents): onEvents must be a function' });
  t.throws(() => new b.PtpCamera(null, () => undefined), { instanceOf: TypeError, message: 'new PtpCamera(options, onEvent): options must be an object' });
  t.throws(() => b.signV4({ query: [['a', 1]] }), {
    instanceOf: TypeError,
    message: 'signV4(request): request.query must hold [name, value] pairs of strings',
  });
  t.throws(() => new b.MkvReader().feed('text'), { instanceOf: TypeError, message: 'feed(buffer): buffer must be a Buffer' });
  t.throws(() => b.packageAnnexB(Buffer.alloc(1), { fps: 30 }), {
    instanceOf: TypeError,
    message: 'packageAnnexB(buffer, options): options.fragmentDurationMs must be a number',
  });
  const c = new b.PtpClient();
  t.throws(() => c.connect('127.0.0.1', '15740', {}), { instanceOf: TypeError, message: 'connect(host, port, options): port must be a number' });
  t.throws(() => c.waitEvent(), { instanceOf: TypeError, message: 'waitEvent(timeoutMs): expected 1 argument, got 0' });
  t.throws(() => c.getToFile(1, 2, '/tmp/x', 'yes'), { instanceOf: TypeError, message: 'getToFile(handle, size, path, partial): partial must be a boolean' });
  const cam = new b.PtpCamera({ storage: dir }, () => undefined);
  t.throws(() => cam.property('x'), { instanceOf: TypeError, message: 'property(code): code must be a number' });
  t.throws(() => cam.setLastUploadStatus(3), { instanceOf: TypeError, message: 'setLastUploadStatus(status): status must be a string' });
});
