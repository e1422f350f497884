/** Shared by the benchmarks: best-of-n timing, the raw loopback TCP peer, and the environment of the camwire processes timed. */
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

/**
 * The environment a timed camwire CLI process runs in: what a user who
 * installed the package has.
 *  - The committed prebuild when it is current (what `npm install` gives a
 *    user: the addon with libcurl and libusb inside, 2–3 ms to load), not the
 *    development build in build/Release, which links the system's libcurl and
 *    its 35 libraries (10 ms to load). A stale prebuild: the development build.
 *  - Without NODE_EXTRA_CA_CERTS: this host sets it to a bundle of ~140 CA
 *    certificates, which every Node process then parses before running any
 *    JavaScript (25–30 ms: `node -e 0` takes 31 ms without, 60 ms with). A
 *    stock machine does not set it; the peers (ffmpeg, gphoto2,
 *    mosquitto_pub) never read it. `nodeStartMs()` prints both.
 */
export interface CliEnv {
  env: NodeJS.ProcessEnv;
  /** The same with this host's NODE_EXTRA_CA_CERTS put back (undefined when the host sets none). */
  hostEnv: NodeJS.ProcessEnv | undefined;
  addon: string;
}

let cached: CliEnv | undefined;

/** The environment (worked out once per bench process: the prebuild check hashes the native sources). */
export function cliEnv(): CliEnv {
  if (cached) return cached;
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['NODE_EXTRA_CA_CERTS'];
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS script of the repo
  const { checkPrebuilds } = require('../scripts/check-prebuilds.js') as { checkPrebuilds(): { problems: string[] } };
  const mine = `prebuilds/${process.platform}-${process.arch}/`;
  const stale = checkPrebuilds().problems.some((p) => p.startsWith(mine));
  if (!stale) env['PREBUILDS_ONLY'] = '1';
  const ca = process.env['NODE_EXTRA_CA_CERTS'];
  cached = {
    env,
    hostEnv: ca ? { ...env, NODE_EXTRA_CA_CERTS: ca } : undefined,
    addon: stale ? 'the development build (build/Release; the prebuild is stale)' : `the committed prebuild (${mine})`,
  };
  return cached;
}

/** Best-of-n milliseconds of `node -e 0` with this environment and with NODE_EXTRA_CA_CERTS removed. */
export function nodeStartMs(n = 5): { asIs: number; clean: number } {
  const run = (env: NodeJS.ProcessEnv) => {
    let b = Infinity;
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      spawnSync(process.execPath, ['-e', '0'], { env, cwd: ROOT });
      b = Math.min(b, Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return b;
  };
  const clean = { ...process.env };
  delete clean['NODE_EXTRA_CA_CERTS'];
  return { asIs: run(process.env), clean: run(clean) };
}

/** One line saying what the timed camwire processes load and what Node's own start costs here. */
export function describeCliEnv(): string {
  const { addon } = cliEnv();
  const start = nodeStartMs();
  const ca = process.env['NODE_EXTRA_CA_CERTS']
    ? `; this host sets NODE_EXTRA_CA_CERTS (node -e 0: ${start.asIs.toFixed(0)} ms with it, ${start.clean.toFixed(0)} ms without): camwire processes run without it, as on a stock machine`
    : `; node -e 0: ${start.clean.toFixed(0)} ms`;
  return `camwire processes load ${addon}${ca}`;
}

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
