/** Shared by the benchmarks: best-of-n timing and the raw loopback TCP peer. */
import { spawn } from 'node:child_process';
import net from 'node:net';

/** The smallest of n measurements. */
export async function best(n: number, f: () => Promise<number> | number): Promise<number> {
  let b = Infinity;
  for (let i = 0; i < n; i++) b = Math.min(b, await f());
  return b;
}

/** Raw loopback TCP: milliseconds to write `data` from this process to a Node process that discards it. */
export async function rawLoopbackTcpMs(data: Buffer): Promise<number> {
  const sink = spawn(
    process.execPath,
    ['-e', `const s=require('net').createServer(c=>{c.on('data',()=>{});c.on('end',()=>c.end())});s.listen(0,'127.0.0.1',()=>console.log(s.address().port))`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve) => sink.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  const t0 = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', async () => {
      for (let off = 0; off < data.length; off += 1 << 20) {
        if (!c.write(data.subarray(off, off + (1 << 20)))) await new Promise((r) => c.once('drain', r));
      }
      c.end();
    });
    c.on('data', () => undefined);
    c.on('end', () => resolve());
    c.on('error', reject);
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  sink.kill();
  return ms;
}
