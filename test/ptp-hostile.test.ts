/**
 * The simulated camera against a hostile PTP/IP peer: truncated packets,
 * absurd lengths, wrong packet types, phases out of order. Each time the
 * camera answers with an error or drops that connection, never crashes,
 * never allocates what a length claims, and serves the next initiator.
 */
import test from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PtpCamera, PtpClient } from '../ts/ptp';
import { tempDir } from './helpers/tmp';

const dir = tempDir('ptp-hostile');
let cam: PtpCamera;
let port = 0;

test.before(() => {
  fs.mkdirSync(path.join(dir, 'DCIM'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'DCIM', 'IMG_0001.JPG'), Buffer.alloc(4096, 7));
  cam = new PtpCamera({ storage: dir, port: 0 });
  port = cam.start().port;
});
test.after.always(() => cam?.stop());

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
};
const u64 = (v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
};
const packet = (type: number, payload: Buffer = Buffer.alloc(0)) => Buffer.concat([u32(8 + payload.length), u32(type), payload]);
const initCommand = () => packet(1, Buffer.concat([Buffer.alloc(16, 1), Buffer.from('e\0v\0i\0l\0\0\0', 'latin1'), u32(0x00010000)]));
const request = (code: number, tid: number, params: number[] = [], dataOut = false) =>
  packet(6, Buffer.concat([u32(dataOut ? 2 : 1), u16(code), u32(tid), ...params.map(u32)]));

/** Opens a socket, writes, and resolves with what came back once the camera closed it (or after ms). */
function exchange(chunks: Buffer[], o: { ms?: number; sock?: net.Socket } = {}): Promise<{ data: Buffer; closedByPeer: boolean; sock: net.Socket }> {
  return new Promise((resolve) => {
    const sock = o.sock ?? net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let closed = false;
    sock.on('data', (d) => got.push(d));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      closed = true;
    });
    for (const c of chunks) sock.write(c);
    setTimeout(() => resolve({ data: Buffer.concat(got), closedByPeer: closed, sock }), o.ms ?? 400);
  });
}

/** A full handshake by hand: command socket (with its Ack read) and event socket. */
async function handshake(): Promise<{ cmd: net.Socket; ev: net.Socket }> {
  const c = await exchange([initCommand()], { ms: 200 });
  const conn = c.data.readUInt32LE(8);
  const e = await exchange([packet(3, u32(conn))], { ms: 200 });
  if (e.data.readUInt32LE(4) !== 4) throw new Error('no Init Event Ack');
  return { cmd: c.sock, ev: e.sock };
}

async function stillServes(t: { true(v: boolean, m?: string): void }): Promise<void> {
  let c: PtpClient | undefined;
  for (let i = 0; i < 30 && !c; i++) {
    c = await PtpClient.connect(`ptpip:127.0.0.1:${port}`).catch(() => undefined);
    if (!c) await new Promise((r) => setTimeout(r, 100));
  }
  t.true(c !== undefined, 'a well-behaved initiator is served afterwards');
  t.true((await c!.list()).some((x) => x.filename === 'IMG_0001.JPG'));
  await c!.close();
  await new Promise((r) => setTimeout(r, 50));
}

test.serial('a first packet declaring 0xFFFFFFFF bytes: closed, nothing allocated', async (t) => {
  const rss = process.memoryUsage().rss;
  const r = await exchange([Buffer.concat([u32(0xffffffff), u32(1), Buffer.alloc(64)])]);
  t.true(r.closedByPeer);
  t.true(process.memoryUsage().rss - rss < 64 << 20, 'no 4 GiB buffer');
  await stillServes(t);
});

test.serial('a truncated first packet and a peer that goes silent: dropped after the handshake timeout', async (t) => {
  const r = await exchange([Buffer.concat([u32(100), u32(1), Buffer.alloc(10)])], { ms: 3200 });
  t.true(r.closedByPeer);
  await stillServes(t);
});

test.serial('a wrong first packet type and an Init Event Request for an unknown connection: Init Fail', async (t) => {
  for (const first of [request(0x1001, 1), packet(3, u32(999)), packet(9, Buffer.alloc(12))]) {
    const r = await exchange([first]);
    t.is(r.data.readUInt32LE(4), 5, 'Init Fail');
    t.true(r.closedByPeer);
  }
  await stillServes(t);
});

test.serial('after the handshake: a data packet where an operation is expected ends that connection only', async (t) => {
  const { cmd, ev } = await handshake();
  const r = await exchange([request(0x1002, 0, [1]), packet(10, Buffer.concat([u32(1), Buffer.alloc(100)]))], { sock: cmd });
  t.is(r.data.readUInt32LE(4), 7, 'OpenSession answered');
  t.is(r.data.readUInt16LE(8), 0x2001);
  t.true(r.closedByPeer, 'the out-of-order Data packet closed the connection');
  ev.destroy();
  await stillServes(t);
});

test.serial('after the handshake: an operation request of 0xFFFFFFFF bytes, and a data phase that lies about its length', async (t) => {
  {
    const { cmd, ev } = await handshake();
    const r = await exchange([Buffer.concat([u32(0xffffffff), u32(6), Buffer.alloc(32)])], { sock: cmd });
    t.true(r.closedByPeer);
    ev.destroy();
  }
  {
    const { cmd, ev } = await handshake();
    // SetUploadTarget announcing 10 bytes, then a Data packet carrying 100.
    const r = await exchange(
      [
        request(0x1002, 0, [1]),
        request(0x9a01, 1, [], true),
        packet(9, Buffer.concat([u32(1), u64(10n)])),
        packet(12, Buffer.concat([u32(1), Buffer.alloc(100, 0x7b)])),
      ],
      { sock: cmd },
    );
    t.true(r.closedByPeer);
    ev.destroy();
  }
  {
    const { cmd, ev } = await handshake();
    // A data phase of 2^63 bytes is refused at once (the ticket limit is 64 KiB).
    const r = await exchange([request(0x1002, 0, [1]), request(0x9a01, 1, [], true), packet(9, Buffer.concat([u32(1), u64(1n << 63n)]))], { sock: cmd });
    t.true(r.closedByPeer);
    ev.destroy();
  }
  await stillServes(t);
});

test.serial('operations outside a session, unknown operations and bad handles get PTP error responses, not a dropped connection', async (t) => {
  const { cmd, ev } = await handshake();
  const r = await exchange(
    [
      request(0x1007, 1, [0xffffffff, 0, 0xffffffff]),
      request(0x1002, 0, [1]),
      request(0x9999, 2),
      request(0x1008, 3, [0xdead]),
      request(0x101b, 4, [0xdead, 0, 16]),
    ],
    { sock: cmd },
  );
  const codes: number[] = [];
  for (let off = 0; off + 8 <= r.data.length;) {
    const len = r.data.readUInt32LE(off);
    if (r.data.readUInt32LE(off + 4) === 7) codes.push(r.data.readUInt16LE(off + 8));
    off += len;
  }
  t.deepEqual(codes, [0x2003, 0x2001, 0x2005, 0x2009, 0x2009]);
  t.false(r.closedByPeer);
  cmd.destroy();
  ev.destroy();
  await stillServes(t);
});
