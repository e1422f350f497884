/**
 * The ptp family, when the device serves PTP/IP (--ptp HOST:PORT, or
 * device.json's ptp section): the bench is the app, with camwire's initiator
 * and with gphoto2 (any standard initiator must be able to hand a ticket over).
 */
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PtpClient } from '../../ptp';
import { BenchCase, CaseContext, DeviceSide } from '../case';
import { BENCH_OBJECTS, benchObjectBytes } from '../bench';
import { checkUploaded, resultOf } from './upload';

const noPtp = (d: DeviceSide) => (d.ptp ? undefined : 'the device serves no PTP/IP (give --ptp HOST:PORT, or a ptp section in device.json)');
const RESULT_MS = 45_000;

async function session<T>(ctx: CaseContext, f: (c: PtpClient) => Promise<T>): Promise<T> {
  let c: PtpClient;
  try {
    c = await PtpClient.connect(`ptpip:${ctx.device.ptp}`, { name: 'camwire testbench', timeoutMs: 10_000 });
  } catch (e) {
    ctx.fail(`no PTP/IP session with ${ctx.device.ptp}: ${(e as Error).message}`);
  }
  try {
    return await f(c);
  } finally {
    await c.close().catch(() => undefined);
  }
}

/** The handed-over target's result: uploaded, the stored object the file, the result the contract. */
async function awaitResult(ctx: CaseContext, since: number, id: string, key: string): Promise<void> {
  const result = await resultOf(ctx, since, id, RESULT_MS);
  ctx.evidence(`result source: ${String(result['source'])}`);
  checkUploaded(ctx, result, key, 'photo');
}

/** gphoto2 without blocking the bench's services while it runs. */
function gphoto2(args: string[], cwd: string): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn('gphoto2', args, { cwd, env: { ...process.env, HOME: cwd } });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('error', (e) => resolve({ status: null, out: e.message }));
    p.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, out });
    });
  });
}

/** Bytes that are not PTP/IP, sent on fresh connections: the responder must survive every one. */
const MALFORMED: Array<[string, Buffer]> = [
  ['a length of 4 (shorter than the header)', Buffer.from([4, 0, 0, 0, 1, 0, 0, 0])],
  ['a length of 4 GiB', Buffer.from([0xf0, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0, 0])],
  ['an unknown packet type', Buffer.from([8, 0, 0, 0, 0x77, 0, 0, 0])],
  [
    'an Init Command Request with a name that never ends',
    Buffer.concat([Buffer.from([0x40, 0, 0, 0, 1, 0, 0, 0]), Buffer.alloc(16, 1), Buffer.alloc(36, 0x41)]),
  ],
  ['random bytes', crypto.randomBytes(512)],
  ['a header cut short', Buffer.from([0x20, 0, 0])],
];

function sendRaw(address: string, bytes: Buffer): Promise<string> {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i);
  const port = Number(address.slice(i + 1));
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    let got = 0;
    const done = (how: string) => {
      s.destroy();
      resolve(how);
    };
    s.on('connect', () => s.write(bytes));
    s.on('data', (d: Buffer) => (got += d.length));
    s.on('close', () => done(`closed by the device${got ? ` after ${got} bytes` : ''}`));
    s.on('error', (e) => done(`error ${e.message}`));
    setTimeout(() => done('still open after 1.5 s'), 1500);
  });
}

export const ptpCases: BenchCase[] = [
  {
    id: 'ptp.session',
    family: 'ptp',
    title: 'PTP/IP session and DeviceInfo',
    checks: 'the bench opens a PTP/IP session (Init Command/Event) and reads DeviceInfo, which lists the operations a download and a handover need',
    unavailable: noPtp,
    async run(ctx: CaseContext) {
      const info = await session(ctx, (c) => c.deviceInfo());
      ctx.note('device', `DeviceInfo: ${info.manufacturer} ${info.model}, ${info.operations.length} operations`);
      ctx.evidence(`${info.manufacturer} ${info.model} ${info.version}; operations ${info.operations.map((o) => `0x${o.toString(16)}`).join(' ')}`);
      const need = { GetObjectHandles: 0x1007, GetObjectInfo: 0x1008, GetObject: 0x1009 };
      const missing = Object.entries(need).filter(([, code]) => !info.operations.includes(code));
      ctx.check(!missing.length, `DeviceInfo does not list ${missing.map(([n]) => n).join(', ')}`);
    },
  },
  {
    id: 'ptp.handover-vendor',
    family: 'ptp',
    title: 'a target handed over by the vendor operation is uploaded',
    checks: 'SetUploadTarget (0x9A01) with a put target: the device answers OK, uploads, and publishes the result',
    unavailable: noPtp,
    async run(ctx: CaseContext) {
      await ctx.connected(RESULT_MS, 0);
      const t = Date.now();
      const { target, key } = await ctx.bench.putTarget('ptp.handover-vendor');
      await session(ctx, async (c) => {
        try {
          await c.sendTarget(target);
        } catch (e) {
          ctx.fail(`SetUploadTarget failed: ${(e as Error).message}`);
        }
      });
      ctx.note('bench', `SetUploadTarget ${target.id}: OK`);
      await awaitResult(ctx, t, target.id, key);
    },
  },
  {
    id: 'ptp.handover-ticket',
    family: 'ptp',
    title: 'a target handed over as a ticket file is uploaded',
    checks: 'gphoto2 --upload-file NAME.camwire.json (SendObjectInfo + SendObject): the device takes the ticket, uploads, publishes the result',
    unavailable: (d) => noPtp(d) ?? (spawnSync('gphoto2', ['--version']).error ? 'gphoto2 is not installed on the bench (apt-get install gphoto2)' : undefined),
    async run(ctx: CaseContext) {
      await ctx.connected(RESULT_MS, 0);
      const t = Date.now();
      const { target, key } = await ctx.bench.putTarget('ptp.handover-ticket');
      const dir = fs.mkdtempSync(path.join(ctx.bench.files.dir, 'run', 'gphoto2-'));
      const ticket = path.join(dir, `TB${Date.now() % 100000}.camwire.json`);
      fs.writeFileSync(ticket, JSON.stringify(target));
      const addr = ctx.device.ptp!;
      const port = addr.slice(addr.lastIndexOf(':') + 1);
      const r = await gphoto2(['--port', `ptpip:${addr}:${port}`, '--folder', '/store_00010001/DCIM', '--upload-file', ticket], dir);
      // The ticket holds pre-signed URLs: it does not stay on disk.
      fs.rmSync(dir, { recursive: true, force: true });
      ctx.note('bench', `gphoto2 --upload-file ${path.basename(ticket)}: exit ${r.status}`);
      // gphoto2's own error lines, not its advice on how to file a bug report.
      const lines = r.out
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
      const errors = lines.filter((l) => /^\*\*\* Error|^Error|failed/.test(l));
      ctx.check(r.status === 0, `gphoto2 could not send the ticket: ${(errors.length ? errors : lines.slice(-2)).slice(0, 3).join(' | ')}`);
      await awaitResult(ctx, t, target.id, key);
    },
  },
  {
    id: 'ptp.download',
    family: 'ptp',
    title: 'a listed object downloads byte-identical',
    checks: `the bench lists the objects and downloads ${BENCH_OBJECTS.video.path}: the bytes are the file's`,
    unavailable: noPtp,
    async run(ctx: CaseContext) {
      const out = path.join(ctx.bench.files.dir, 'run', 'ptp-download.bin');
      const { listed, bytes } = await session(ctx, async (c) => {
        const all = await c.list();
        const obj = all.find((o) => o.path === BENCH_OBJECTS.video.path);
        ctx.note('device', `${all.length} objects listed`);
        if (!obj)
          ctx.fail(
            `${BENCH_OBJECTS.video.path} is not among the ${all.length} objects listed (${all
              .slice(0, 5)
              .map((o) => o.path)
              .join(', ')}…)`,
          );
        return { listed: obj, bytes: await c.get(obj, out) };
      });
      const want = crypto.createHash('sha256').update(benchObjectBytes('video')).digest('hex');
      const got = crypto.createHash('sha256').update(fs.readFileSync(out)).digest('hex');
      fs.rmSync(out, { force: true });
      ctx.evidence(`listed ${listed.size} bytes, got ${bytes}; SHA-256 ${got} (the file's ${want})`);
      ctx.check(listed.size === BENCH_OBJECTS.video.size, `ObjectInfo says ${listed.size} bytes, the file has ${BENCH_OBJECTS.video.size}`);
      ctx.check(got === want, 'the downloaded bytes are not the file');
    },
  },
  {
    id: 'ptp.malformed',
    family: 'ptp',
    title: 'malformed packets leave the responder alive',
    checks: 'short, huge, unknown and random PTP/IP packets on fresh connections: afterwards a new session still works',
    unavailable: noPtp,
    async run(ctx: CaseContext) {
      for (const [what, bytes] of MALFORMED) {
        const how = await sendRaw(ctx.device.ptp!, bytes);
        ctx.note('bench', `${what}: ${how}`);
      }
      const info = await session(ctx, (c) => c.deviceInfo());
      ctx.note('device', `new session after all of them: ${info.model}`);
      ctx.evidence(`${MALFORMED.length} malformed inputs; DeviceInfo afterwards: ${info.manufacturer} ${info.model}`);
    },
  },
];
