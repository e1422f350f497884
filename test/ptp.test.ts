/**
 * The simulated camera over PTP/IP with real gphoto2 as the other side, and
 * camwire's own initiator against it: summary, listing, byte-identical
 * downloads (a 200 MiB file through GetPartialObject), upload-target
 * handover by ticket file and by vendor operation, a writable property,
 * ObjectAdded events, one session at a time, and a killed initiator.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PtpCamera, PtpClient } from '../ts/ptp';
import { CamwireError } from '../ts/errors';
import { CLI, run } from './helpers/run';
import { tempDir } from './helpers/tmp';

const dir = tempDir('ptp');
const storage = path.join(dir, 'storage');
const home = path.join(dir, 'home');
const GUID = '00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff';
let cam: PtpCamera;
let port = 0;
const targets: Array<{ target: { id: string }; via: string }> = [];
const props: Array<{ code: number; value: string }> = [];
const md5 = (f: string) => crypto.createHash('md5').update(fs.readFileSync(f)).digest('hex');
const BIG = path.join(storage, 'DCIM', '100CAMWR', 'trailer.mp4');
const JPG = path.join(storage, 'DCIM', '100CAMWR', 'IMG_0001.JPG');

function gphoto2(args: string[], cwd = dir): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('gphoto2', ['--port', `ptpip:127.0.0.1:${port}:${port}`, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, HOME: home },
    timeout: 120_000,
  });
  if (r.error) throw new Error(`gphoto2 (apt-get install gphoto2): ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test.before(() => {
  fs.mkdirSync(path.dirname(JPG), { recursive: true });
  fs.mkdirSync(path.join(home, '.gphoto'), { recursive: true });
  // gphoto2's initiator GUID is pinned through its settings file in HOME.
  fs.writeFileSync(path.join(home, '.gphoto', 'settings'), `ptp2_ip=guid=${GUID}\n`);
  const r = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=640x480', '-frames:v', '1', JPG]);
  if (r.status !== 0) throw new Error(`ffmpeg: ${r.stderr}`);
  // 200 MiB (random bytes: the transfer, not the codec, is under test), written in pieces.
  const fd = fs.openSync(BIG, 'w');
  const block = crypto.randomBytes(8 << 20);
  for (let i = 0; i < 25; i++) fs.writeSync(fd, block.subarray(0, (8 << 20) - (i === 24 ? 12345 : 0)), 0);
  fs.closeSync(fd);
  cam = new PtpCamera({ storage, port: 0, manufacturer: 'camwire labs', model: 'SimCam 1', serial: 'SN-4242' });
  cam.on('upload-target', (t: { target: { id: string }; via: string }) => targets.push(t));
  cam.on('property-changed', (p: { code: number; value: string }) => props.push(p));
  port = cam.start().port;
});
test.after.always(() => cam?.stop());

async function until<T>(f: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test.serial("gphoto2 --summary shows the camera's manufacturer, model and serial, its store and properties", (t) => {
  const r = gphoto2(['--summary']);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /Manufacturer: camwire labs/);
  t.regex(r.stdout, /Model: SimCam 1/);
  t.regex(r.stdout, /Serial Number: SN-4242/);
  t.regex(r.stdout, /store_00010001/);
  t.regex(r.stdout, /Battery Level\(0x5001\):\(read only\).*100%/);
  t.regex(r.stdout, /Property 0xd2a1:\(read only\) \(type=0xffff\) 'none'/);
});

test.serial('gphoto2 --list-files lists the storage', (t) => {
  const r = gphoto2(['--list-files']);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /There are 2 files in folder '\/store_00010001\/DCIM\/100CAMWR'/);
  t.regex(r.stdout, /IMG_0001\.JPG\s+rd\s+\d+ KB image\/jpeg/);
  t.regex(r.stdout, /trailer\.mp4\s+rd\s+204788 KB/);
});

test.serial('gphoto2 --get-all-files: byte-identical, the 200 MiB file through GetPartialObject', (t) => {
  const out = path.join(dir, 'gphoto-get');
  fs.mkdirSync(out);
  const r = gphoto2(['--get-all-files'], out);
  t.is(r.status, 0, r.stderr);
  t.is(md5(path.join(out, 'IMG_0001.JPG')), md5(JPG));
  t.is(fs.statSync(path.join(out, 'trailer.mp4')).size, fs.statSync(BIG).size);
  t.is(md5(path.join(out, 'trailer.mp4')), md5(BIG));
});

test.serial('gphoto2 downloads HEIC, camera raw, Matroska and raw H.264 (each has its object format); an Undefined .bin is listed but not saved', async (t) => {
  const folder = path.join(storage, 'DCIM', '101FORMT');
  fs.mkdirSync(folder, { recursive: true });
  const names = ['IMG_0002.HEIC', 'IMG_0003.CR3', 'clip.mkv', 'live.h264', 'voice.aac'];
  for (const n of names) fs.writeFileSync(path.join(folder, n), crypto.randomBytes(3000));
  fs.writeFileSync(path.join(folder, 'firmware.bin'), crypto.randomBytes(3000));
  const out = path.join(dir, 'formats');
  fs.mkdirSync(out);
  await new Promise((r) => setTimeout(r, 1500)); // the camera rescans its directory twice a second
  try {
    const r = gphoto2(['--folder', '/store_00010001/DCIM/101FORMT', '--get-all-files'], out);
    t.is(r.status, 0, r.stderr);
    t.deepEqual(fs.readdirSync(out).sort(), [...names].sort());
    t.regex(gphoto2(['--folder', '/store_00010001/DCIM/101FORMT', '--list-files']).stdout, /firmware\.bin/);
    for (const n of names) t.is(md5(path.join(out, n)), md5(path.join(folder, n)));
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
});

test.serial('gphoto2 --upload-file x.camwire.json hands over an upload target the camera receives', async (t) => {
  const ticket = path.join(dir, 'DSC0001.camwire.json');
  fs.writeFileSync(
    ticket,
    JSON.stringify({
      version: 1,
      id: 'ticket-1',
      object: { path: 'DCIM/100CAMWR/IMG_0001.JPG' },
      put: { url: 'https://bucket.example/x?X-Amz-Signature=abc' },
    }),
  );
  const r = gphoto2(['--folder', '/store_00010001/DCIM', '--upload-file', ticket]);
  t.is(r.status, 0, r.stderr);
  const got = await until(() => targets.find((x) => x.target.id === 'ticket-1'));
  t.is(got.via, 'ticket');
  t.false(fs.existsSync(path.join(storage, 'DCIM', 'DSC0001.camwire.json')), 'a ticket is handed over, not stored');
  // A ticket that is not a valid upload target is reported, and nothing is handed on.
  const rejected: CamwireError[] = [];
  cam.once('rejected-target', (e: CamwireError) => rejected.push(e));
  const bad = path.join(dir, 'BAD.camwire.json');
  fs.writeFileSync(bad, JSON.stringify({ version: 1, id: 'no-url', object: { path: 'x' } }));
  t.is(gphoto2(['--folder', '/store_00010001/DCIM', '--upload-file', bad]).status, 0);
  t.is((await until(() => rejected[0])).code, 'UPLOAD_TARGET_INVALID');
  t.false(targets.some((x) => x.target.id === 'no-url'));
});

test.serial('gphoto2 --set-config on a writable property changes it', async (t) => {
  const r = gphoto2(['--set-config', '501e=alice']);
  t.is(r.status, 0, r.stderr);
  await until(() => props.find((p) => p.code === 0x501e));
  t.is(cam.property(0x501e), 'alice');
  const back = gphoto2(['--get-config', '501e']);
  t.regex(back.stdout, /Current: alice/);
  const ro = gphoto2(['--set-config', 'd2a1=hacked']);
  t.not(ro.status, 0, 'a read-only property refuses');
  t.is(cam.property(0xd2a1), 'none');
});

test.serial('gphoto2 --wait-event sees ObjectAdded when a file appears in the storage', async (t) => {
  const p = spawn('gphoto2', ['--port', `ptpip:127.0.0.1:${port}:${port}`, '--wait-event=4s'], { env: { ...process.env, HOME: home } });
  let stdout = '';
  p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  await new Promise((r) => setTimeout(r, 1500));
  fs.writeFileSync(path.join(storage, 'DCIM', '100CAMWR', 'NEW_0002.JPG'), fs.readFileSync(JPG));
  await new Promise((r) => p.on('close', r));
  t.regex(stdout, /FILEADDED NEW_0002\.JPG \/store_00010001\/DCIM\/100CAMWR/);
  fs.unlinkSync(path.join(storage, 'DCIM', '100CAMWR', 'NEW_0002.JPG'));
  await new Promise((r) => setTimeout(r, 700));
});

test.serial('camwire initiator sees ObjectAdded, and the camera reports the new file', async (t) => {
  const added: Array<{ handle: number; path: string }> = [];
  cam.on('object-added', (a: { handle: number; path: string }) => added.push(a));
  const c = await PtpClient.connect(`ptpip:127.0.0.1:${port}`);
  try {
    fs.writeFileSync(path.join(storage, 'DCIM', '100CAMWR', 'NEW_0003.JPG'), fs.readFileSync(JPG));
    const ev = await c.waitEvent(5000);
    t.is(ev?.code, 0x4002);
    const a = await until(() => added.find((x) => x.path === 'DCIM/100CAMWR/NEW_0003.JPG'));
    t.deepEqual(ev?.params, [a.handle]);
  } finally {
    await c.close();
    fs.unlinkSync(path.join(storage, 'DCIM', '100CAMWR', 'NEW_0003.JPG'));
    await new Promise((r) => setTimeout(r, 700));
  }
});

test.serial('camwire initiator: ls, get (md5 equal, streamed), send-target', async (t) => {
  const c = await PtpClient.connect(`ptpip:127.0.0.1:${port}`);
  try {
    const files = (await c.list())
      .filter((x) => !x.folder)
      .map((x) => x.path)
      .sort();
    t.deepEqual(files, ['DCIM/100CAMWR/IMG_0001.JPG', 'DCIM/100CAMWR/trailer.mp4']);
    const big = (await c.list()).find((x) => x.filename === 'trailer.mp4')!;
    const dest = path.join(dir, 'camwire-trailer.mp4');
    t.is(await c.get(big, dest), fs.statSync(BIG).size);
    t.is(md5(dest), md5(BIG));
    await c.sendTarget({ version: 1, id: 'op-1', object: { path: 'DCIM/100CAMWR/trailer.mp4' }, put: { url: 'https://bucket.example/t' } });
    t.is((await until(() => targets.find((x) => x.target.id === 'op-1'))).via, 'vendor-op');
    await t.throwsAsync(c.sendTarget('{"version":1}'), { code: 'UPLOAD_TARGET_INVALID' });
  } finally {
    await c.close();
  }
});

/** Connects once the camera has let go of the previous session (its release is asynchronous: under load it lags a close). */
async function connectWhenFree(url: string, ms = 5000): Promise<PtpClient> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await PtpClient.connect(url);
    } catch (e) {
      if ((e as CamwireError).code !== 'PTP_BUSY' || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

test.serial('one session at a time: a second initiator is told busy; the next one after it is served', async (t) => {
  // The test before this one closed its session: wait until the camera is free again.
  const first = await connectWhenFree(`ptpip:127.0.0.1:${port}`);
  const e = await t.throwsAsync<CamwireError>(PtpClient.connect(`ptpip:127.0.0.1:${port}`));
  t.is(e!.code, 'PTP_BUSY');
  const g = gphoto2(['--summary']);
  t.not(g.status, 0, 'gphoto2 is refused as well');
  await first.close();
  const second = await connectWhenFree(`ptpip:127.0.0.1:${port}`);
  t.true((await second.list()).length >= 4);
  await second.close();
});

test.serial('an initiator killed mid-transfer leaves the camera serving the next session', async (t) => {
  const out = path.join(dir, 'killed');
  const p = spawn(process.execPath, [CLI, 'ptp', 'get', '--to', `ptpip:127.0.0.1:${port}`, 'DCIM/100CAMWR/trailer.mp4', '--out', out]);
  // Kill it once the transfer has started (its partial file exists and grows).
  await until(() => (fs.existsSync(path.join(out, 'trailer.mp4.part')) && fs.statSync(path.join(out, 'trailer.mp4.part')).size > 0 ? true : undefined), 20_000);
  p.kill('SIGKILL');
  await new Promise((r) => p.on('close', r));
  t.false(fs.existsSync(path.join(out, 'trailer.mp4')), 'no complete file from a killed transfer');
  // The camera notices the dead connection and takes the next initiator.
  let next: PtpClient | undefined;
  for (let i = 0; i < 50 && !next; i++) {
    next = await PtpClient.connect(`ptpip:127.0.0.1:${port}`).catch(() => undefined);
    if (!next) await new Promise((r) => setTimeout(r, 100));
  }
  t.truthy(next);
  t.true((await next!.list()).some((x) => x.filename === 'IMG_0001.JPG'));
  await next!.close();
});

test.serial('gphoto2 gets through while another client keeps two idle sockets open (and re-opens them when closed)', async (t) => {
  // Before, the camera awaited one first packet at a time for 2.5 s each, so two
  // silent sockets locked every initiator out.
  const holder = spawn(process.execPath, [path.join(__dirname, 'helpers', 'idle-sockets.js'), String(port), '2'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    if (holder.exitCode === null) holder.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    holder.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve();
    });
    holder.once('exit', (code) => reject(new Error(`idle-sockets helper exited ${code}`)));
  });
  await new Promise((r) => setTimeout(r, 300));
  // The holder is its own process, so gphoto2 may run synchronously here.
  for (let i = 0; i < 3; i++) {
    const r = gphoto2(['--summary']);
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, /Model: SimCam 1/);
  }
  holder.kill('SIGTERM');
});
