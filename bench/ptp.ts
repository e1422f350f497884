/**
 * PTP/IP downloads, one run: an object served by camwire's simulated camera
 * (`camwire ptp serve`, its own process) fetched by gphoto2 and by camwire's
 * initiator (`camwire ptp get`, its own process), against raw loopback TCP
 * (Node -> discarding Node) of the same bytes; wall time and peak RSS of
 * each client process. camwire's initiator also fetches a 4x smaller object
 * to show its memory does not grow with the object. Then the smaller object
 * through the virtual USB camera (umockdev), gphoto2 vs camwire's USB
 * initiator (a ratio: the emulation itself busy-polls).
 *   node --import tsx bench/ptp.ts [--mib 200]
 */
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { best as bestMs, cliEnv, describeCliEnv, rawLoopbackTcpMs } from './common';

const mibArg = process.argv.indexOf('--mib');
const MIB = mibArg > 0 ? Number(process.argv[mibArg + 1]) : 200;
const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'camwire.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-bench-ptp-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

/** Wall seconds and peak RSS (MiB) of a child process, measured by python's getrusage. */
function measured(cmd: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): { s: number; rssMiB: number } {
  const py =
    'import resource,subprocess,sys,time\nt=time.time()\nr=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE)\n' +
    'd=time.time()-t\nif r.returncode: sys.stderr.write(r.stderr.decode()); sys.exit(r.returncode)\nprint(d, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)';
  const r = spawnSync('python3', ['-c', py, ...cmd], { cwd, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`);
  const [s, kb] = r.stdout.trim().split(' ').map(Number);
  return { s: s!, rssMiB: kb! / 1024 };
}

/** The same measurement, with the measured command run inside a wrapper (the virtual USB camera). */
function measuredWrapped(wrap: (cmd: string[]) => string[], cmd: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): { s: number; rssMiB: number } {
  const py =
    'import resource,subprocess,sys,time\nt=time.time()\nr=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE)\n' +
    'd=time.time()-t\nif r.returncode: sys.stderr.write(r.stderr.decode()); sys.exit(r.returncode)\nprint(d, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)';
  const argv = wrap(['python3', '-c', py, ...cmd]);
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`);
  const [s, kb] = r.stdout.trim().split('\n').pop()!.split(' ').map(Number);
  return { s: s!, rssMiB: kb! / 1024 };
}

function best<T extends { s: number }>(n: number, f: () => T): T {
  let b: T | undefined;
  for (let i = 0; i < n; i++) {
    const r = f();
    if (!b || r.s < b.s) b = r;
  }
  return b!;
}

(async () => {
  const storage = path.join(dir, 'storage', 'DCIM', '100CAMWR');
  fs.mkdirSync(storage, { recursive: true });
  const big = path.join(storage, 'trailer.mp4');
  const small = path.join(storage, 'clip.mp4');
  const block = crypto.randomBytes(1 << 20);
  for (const [f, n] of [
    [big, MIB],
    [small, Math.max(1, MIB / 4)],
  ] as const) {
    const fd = fs.openSync(f, 'w');
    for (let i = 0; i < n; i++) fs.writeSync(fd, block);
    fs.closeSync(fd);
  }
  const home = path.join(dir, 'home');
  fs.mkdirSync(path.join(home, '.gphoto'), { recursive: true });
  fs.writeFileSync(path.join(home, '.gphoto', 'settings'), 'ptp2_ip=guid=00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff\n');
  const serve = spawn(process.execPath, [CLI, '--json', 'ptp', 'serve', '--storage', path.join(dir, 'storage'), '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve) =>
    serve.stdout!.on('data', (d: Buffer) => {
      const m = /"port":\s*(\d+)/.exec(d.toString());
      if (m) resolve(Number(m[1]));
    }),
  );
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  try {
    const bytes = MIB * (1 << 20);
    const gp = best(3, () =>
      measured(
        ['gphoto2', '--port', `ptpip:127.0.0.1:${port}:${port}`, '--folder', '/store_00010001/DCIM/100CAMWR', '--get-file', '2', '--force-overwrite'],
        out,
        { ...process.env, HOME: home },
      ),
    );
    const { env, hostEnv } = cliEnv();
    const getArgs = (name: string) => [process.execPath, CLI, 'ptp', 'get', '--to', `ptpip:127.0.0.1:${port}`, `DCIM/100CAMWR/${name}`, '--out', out];
    const cw = best(3, () => measured(getArgs('trailer.mp4'), out, env));
    const cwHost = hostEnv ? best(3, () => measured(getArgs('trailer.mp4'), out, hostEnv)) : undefined;
    const cwSmall = best(3, () => measured(getArgs('clip.mp4'), out, env));
    for (const f of ['trailer.mp4']) {
      const a = crypto
        .createHash('md5')
        .update(fs.readFileSync(path.join(out, f)))
        .digest('hex');
      const b = crypto.createHash('md5').update(fs.readFileSync(big)).digest('hex');
      if (a !== b) throw new Error(`${f} differs after download`);
    }
    const bigBytes = fs.readFileSync(big);
    const raw = (await bestMs(3, () => rawLoopbackTcpMs(bigBytes))) / 1000;
    const mbs = (s: number) => (bytes / 1e6 / s).toFixed(0).padStart(6);
    console.log(`# ${MIB} MiB object from camwire's PTP/IP camera over loopback (whole client process, best of 3; ${describeCliEnv()})`);
    console.log(
      `camwire ptp get (GetPartialObject 8 MiB)   ${mbs(cw.s)} MB/s  peak RSS ${cw.rssMiB.toFixed(0)} MiB  ${(gp.s / cw.s).toFixed(1)}x gphoto2, ${(raw / cw.s).toFixed(2)}x raw TCP`,
    );
    if (cwHost) console.log(`  the same with this host's NODE_EXTRA_CA_CERTS ${mbs(cwHost.s)} MB/s  ${(gp.s / cwHost.s).toFixed(1)}x gphoto2`);
    console.log(`  peer: gphoto2 --get-file (1 MiB parts)    ${mbs(gp.s)} MB/s  peak RSS ${gp.rssMiB.toFixed(0)} MiB`);
    console.log(`  peer: raw loopback TCP, Node -> Node       ${mbs(raw)} MB/s`);
    console.log(
      `camwire ptp get of a ${Math.max(1, MIB / 4)} MiB object: peak RSS ${cwSmall.rssMiB.toFixed(0)} MiB (flat: memory does not follow the object size)`,
    );

    // USB: the same camera as a virtual USB device (umockdev). The emulation
    // busy-polls and costs CPU itself, so only the ratio between clients counts.
    const store = path.join(dir, 'storage');
    const usb = (cmd: string[]) => [process.execPath, CLI, 'ptp', 'serve', '--usb', '--storage', store, '--', ...cmd];
    const smallBytes = Math.max(1, MIB / 4) * (1 << 20);
    const gpUsb = best(3, () =>
      measuredWrapped(usb, ['gphoto2', '--folder', '/store_00010001/DCIM/100CAMWR', '--get-file', '1', '--force-overwrite'], out, {
        ...process.env,
        HOME: home,
      }),
    );
    const cwUsb = best(3, () => measuredWrapped(usb, [process.execPath, CLI, 'ptp', 'get', '--to', 'usb', 'DCIM/100CAMWR/clip.mp4', '--out', out], out, env));
    const a = crypto
      .createHash('md5')
      .update(fs.readFileSync(path.join(out, 'clip.mp4')))
      .digest('hex');
    if (a !== crypto.createHash('md5').update(fs.readFileSync(small)).digest('hex')) throw new Error('clip.mp4 differs after the USB download');
    const usbRate = (s: number) => (smallBytes / 1e6 / s).toFixed(0).padStart(6);
    console.log(`\n# ${Math.max(1, MIB / 4)} MiB object through the virtual USB camera (umockdev), whole client process, best of 3`);
    console.log(
      `camwire ptp get --to usb                   ${usbRate(cwUsb.s)} MB/s  peak RSS ${cwUsb.rssMiB.toFixed(0)} MiB  ${(gpUsb.s / cwUsb.s).toFixed(1)}x gphoto2`,
    );
    console.log(`  peer: gphoto2 --get-file over usb         ${usbRate(gpUsb.s)} MB/s  peak RSS ${gpUsb.rssMiB.toFixed(0)} MiB`);
  } finally {
    serve.kill('SIGTERM');
  }
})().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
