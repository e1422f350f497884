/**
 * One behaviour suite, run over both transports (as MQTT.js runs its suite
 * per transport): camwire's initiator against camwire's simulated camera
 * over PTP/IP and over (virtual) USB — list, streamed downloads with equal
 * md5, upload-target handover, and a camera that stops answering: a
 * PTP_TIMEOUT within the configured time, then the next session works.
 * The initiator runs as its own process (test/fixtures/ptp-scenario.js), so
 * for USB it can run inside umockdev's environment.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CLI, ROOT } from './helpers/run';
import { tempDir } from './helpers/tmp';

const dir = tempDir('ptp-transports');
const storage = path.join(dir, 'storage');
const SCENARIO = path.join(ROOT, 'test', 'fixtures', 'ptp-scenario.js');
const md5 = (f: string) => crypto.createHash('md5').update(fs.readFileSync(f)).digest('hex');

interface Outcome {
  files?: Record<string, string>;
  error?: string;
  message?: string;
  after?: number;
  fatal?: { code: string; message: string };
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, args, { cwd: dir });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs a scenario against a camera served over `transport`, with optional camera flags. */
async function scenario(transport: 'ptpip' | 'usb', name: string, flags: string[] = []): Promise<{ outcome: Outcome; targets: string[] }> {
  const out = fs.mkdtempSync(path.join(dir, `${transport}-`));
  if (transport === 'usb') {
    const r = await run([CLI, '--json', 'ptp', 'serve', '--usb', '--storage', storage, ...flags, '--', process.execPath, SCENARIO, 'usb', name, out]);
    const lines = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    return {
      outcome: lines.find((l) => l['scenario'] === name) as Outcome,
      targets: lines.filter((l) => l['event'] === 'upload-target').map((l) => (l['target'] as { id: string }).id),
    };
  }
  const serve = spawn(process.execPath, [CLI, '--json', 'ptp', 'serve', '--storage', storage, '--port', '0', ...flags], { cwd: dir });
  let served = '';
  serve.stdout.on('data', (d: Buffer) => (served += d.toString()));
  const port = await new Promise<number>((resolve) => {
    const check = () => {
      const m = /"port":\s*(\d+)/.exec(served);
      if (m) resolve(Number(m[1]));
      else setTimeout(check, 20);
    };
    check();
  });
  const r = await run([SCENARIO, `ptpip:127.0.0.1:${port}`, name, out]);
  serve.kill('SIGTERM');
  await new Promise((res) => serve.on('close', res));
  const lines = served
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return {
    outcome: JSON.parse(r.stdout) as Outcome,
    targets: lines.filter((l) => l['event'] === 'upload-target').map((l) => (l['target'] as { id: string }).id),
  };
}

test.before(() => {
  const folder = path.join(storage, 'DCIM', '100CAMWR');
  fs.mkdirSync(folder, { recursive: true });
  fs.writeFileSync(path.join(folder, 'IMG_0001.JPG'), crypto.randomBytes(5000));
  fs.writeFileSync(path.join(folder, 'EDGE_512.JPG'), crypto.randomBytes(4 * 512 - 12)); // container on a packet boundary
  fs.writeFileSync(path.join(folder, 'clip.mp4'), crypto.randomBytes(9 * 1024 * 1024 + 7)); // two GetPartialObject pieces
});

for (const transport of ['ptpip', 'usb'] as const) {
  test.serial(`${transport}: ls, get (md5 equal), send-target`, async (t) => {
    const { outcome, targets } = await scenario(transport, 'basic');
    t.falsy(outcome.fatal, JSON.stringify(outcome.fatal));
    const expected = Object.fromEntries(
      ['IMG_0001.JPG', 'EDGE_512.JPG', 'clip.mp4'].map((f) => [`DCIM/100CAMWR/${f}`, md5(path.join(storage, 'DCIM', '100CAMWR', f))]),
    );
    t.deepEqual(outcome.files, expected);
    t.true(
      targets.some((id) => id.startsWith('target-')),
      targets.join(),
    );
  });

  test.serial(`${transport}: a camera that stops answering is a PTP_TIMEOUT, and the next session works`, async (t) => {
    const { outcome } = await scenario(transport, 'stall', ['--fault-stall', '0x1004']);
    t.falsy(outcome.fatal, JSON.stringify(outcome.fatal));
    t.is(outcome.error, 'PTP_TIMEOUT');
    // The client's own 1500 ms bound is what ended the wait (PTP/IP names it; libusb's timeout is set from it).
    t.regex(outcome.message!, transport === 'ptpip' ? /for 1500 ms/ : /did not answer in time/);
    t.is(outcome.after, 5, 'DCIM, 100CAMWR and three files');
  });
}
