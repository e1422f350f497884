/**
 * The simulated camera as a virtual USB still-image device (umockdev; this
 * kernel has no USB at all) with unmodified gphoto2 on the other side:
 * auto-detect, summary, listing, byte-identical downloads (a container that
 * ends exactly on a packet boundary, and 50 MiB through GetPartialObject),
 * a ticket handed over, ObjectAdded on the interrupt endpoint.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CLI } from './helpers/run';
import { tempDir } from './helpers/tmp';

const dir = tempDir('ptp-usb');
const storage = path.join(dir, 'storage');
const folder = path.join(storage, 'DCIM', '100CAMWR');
const home = path.join(dir, 'home');
const md5 = (f: string) => crypto.createHash('md5').update(fs.readFileSync(f)).digest('hex');

/** `camwire ptp serve --usb --storage … -- CMD…`: the camera lives as long as CMD. */
function withUsbCamera(cmd: string[], cwd = dir): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, '--json', 'ptp', 'serve', '--usb', '--storage', storage, '--', ...cmd], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, HOME: home },
    timeout: 180_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test.before(() => {
  fs.mkdirSync(folder, { recursive: true });
  fs.mkdirSync(path.join(home, '.gphoto'), { recursive: true });
  fs.writeFileSync(path.join(folder, 'IMG_0001.JPG'), crypto.randomBytes(100));
  // Data container = 12 + 102388 bytes = exactly 200 packets of 512: it must end with a zero-length packet.
  fs.writeFileSync(path.join(folder, 'IMG_0002.JPG'), crypto.randomBytes(200 * 512 - 12));
  const fd = fs.openSync(path.join(folder, 'clip.mp4'), 'w');
  const block = crypto.randomBytes(1 << 20);
  for (let i = 0; i < 50; i++) fs.writeSync(fd, block);
  fs.closeSync(fd);
});

test.serial('gphoto2 --auto-detect finds the virtual USB camera, and --summary talks to it', (t) => {
  const a = withUsbCamera(['gphoto2', '--auto-detect']);
  t.is(a.status, 0, a.stderr);
  t.regex(a.stdout, /USB PTP Class Camera\s+usb:001,001/);
  const s = withUsbCamera(['gphoto2', '--summary']);
  t.is(s.status, 0, s.stderr);
  t.regex(s.stdout, /Manufacturer: camwire/);
  t.regex(s.stdout, /Serial Number: CW0000000001/);
  t.regex(s.stdout, /Property 0xd2a1:\(read only\)/);
});

test.serial('gphoto2 --list-files over USB', (t) => {
  const r = withUsbCamera(['gphoto2', '--list-files']);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /There are 3 files in folder '\/store_00010001\/DCIM\/100CAMWR'/);
});

test.serial('gphoto2 --get-all-files over USB: byte-identical, packet-boundary and 50 MiB files included', (t) => {
  const out = path.join(dir, 'got');
  fs.mkdirSync(out);
  const r = withUsbCamera(['gphoto2', '--get-all-files'], out);
  t.is(r.status, 0, r.stderr);
  for (const f of ['IMG_0001.JPG', 'IMG_0002.JPG', 'clip.mp4']) t.is(md5(path.join(out, f)), md5(path.join(folder, f)), f);
});

test.serial('gphoto2 --upload-file x.camwire.json over USB hands over the upload target', (t) => {
  const ticket = path.join(dir, 'usb.camwire.json');
  fs.writeFileSync(
    ticket,
    JSON.stringify({ version: 1, id: 'usb-ticket', object: { path: 'DCIM/100CAMWR/IMG_0001.JPG' }, put: { url: 'https://bucket.example/u' } }),
  );
  const r = withUsbCamera(['gphoto2', '--folder', '/store_00010001/DCIM', '--upload-file', ticket]);
  t.is(r.status, 0, r.stderr);
  const events = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event?: string; via?: string; target?: { id: string } });
  t.like(
    events.find((e) => e.event === 'upload-target'),
    { via: 'ticket', target: { id: 'usb-ticket' } },
  );
});

test.serial('gphoto2 --wait-event over USB sees ObjectAdded on the interrupt endpoint', (t) => {
  const added = path.join(folder, 'NEW_0004.JPG');
  const r = withUsbCamera(['sh', '-c', `(sleep 1.5; head -c 2000 /dev/urandom > ${added}) & gphoto2 --wait-event=4s`]);
  fs.rmSync(added, { force: true });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /FILEADDED NEW_0004\.JPG \/store_00010001\/DCIM\/100CAMWR/);
});
