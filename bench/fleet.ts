/**
 * `camwire fleet run` against a plain loop of mqtt.js TLS clients, in the
 * same run, with the same device certificates, against the same local
 * Mosquitto (mutual TLS, require_certificate, CN as user name): connects per
 * second (connects started at --rate, default 1000/s, in 10 ms steps; time until all are connected), p99
 * PUBACK of QoS 1 telemetry, RSS growth per connected camera. Each side runs
 * in its own process so neither's memory counts for the other; the camwire
 * side is the CLI process a user runs.
 *   node --import tsx bench/fleet.ts [--devices N] [--rate R] [--quick] [--big]   (--big adds 10,000 if descriptors allow)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CertificateAuthority } from '../ts/pki';
import { LatencyRecorder } from '../ts/fleet/histogram';
import type { FleetReport } from '../ts/fleet/report-types';
import { readFdLimit } from '../ts/fleet/run';
import { MosquittoBroker } from '../test/helpers/mosquitto';

const argv = process.argv.slice(2);
const arg = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const CLI = path.join(__dirname, '..', 'bin', 'camwire.js');

interface Side {
  devices: number;
  connected: number;
  connectsPerS: number;
  pubackP99: number;
  published: number;
  acknowledged: number;
  rssPerCameraKiB: number;
  cpuMs: number;
  wallMs: number;
}

// --- the peer: a plain loop of mqtt.js clients (child process) -------------------------------
async function mqttjsChild(o: { certs: string; port: number; ca: string; devices: number; durationS: number; intervalS: number; rate: number }): Promise<void> {
  // mqtt.js loads only here, so the camwire side's process never has it.
  const mqtt = (await import('mqtt')).default;
  const ca = fs.readFileSync(o.ca);
  const things = fs
    .readdirSync(o.certs)
    .filter((f) => f.endsWith('.key'))
    .map((f) => f.slice(0, -4))
    .sort()
    .slice(0, o.devices);
  const rss0 = process.memoryUsage.rss();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const pub = new LatencyRecorder();
  let connected = 0;
  let allAt = 0;
  let published = 0;
  let acknowledged = 0;
  let stop = false;
  const connectOne = (thing: string) => {
    const c = mqtt.connect(`mqtts://127.0.0.1:${o.port}`, {
      clientId: thing,
      cert: fs.readFileSync(path.join(o.certs, `${thing}.pem`)),
      key: fs.readFileSync(path.join(o.certs, `${thing}.key`)),
      ca,
      rejectUnauthorized: true,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      keepalive: 60,
      will: { topic: `cameras/${thing}/status`, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    let seq = 0;
    const tick = () => {
      if (stop) return;
      const t = performance.now();
      published++;
      c.publish(`cameras/${thing}/telemetry`, JSON.stringify({ thing, seq: ++seq, sentAt: performance.timeOrigin + t }), { qos: 1 }, (err) => {
        if (!err) {
          acknowledged++;
          pub.recordMs(performance.now() - t);
        }
      });
      setTimeout(tick, o.intervalS * 1000 * (0.9 + 0.2 * Math.random()));
    };
    c.once('connect', () => {
      if (++connected === things.length) allAt = performance.now();
      c.publish(`cameras/${thing}/status`, 'online', { qos: 1, retain: true });
      c.subscribe(`cameras/${thing}/upload-targets`, { qos: 1 });
      setTimeout(tick, Math.random() * o.intervalS * 1000);
    });
    c.on('error', () => undefined);
    return c;
  };
  // The same ramp as fleet run's: starts due at `rate` per second, checked every 10 ms.
  const clients: Array<ReturnType<typeof connectOne>> = [];
  while (clients.length < things.length) {
    const due = Math.min(things.length, Math.floor(((performance.now() - t0) / 1000) * o.rate) + 1);
    while (clients.length < due) clients.push(connectOne(things[clients.length]!));
    if (clients.length < things.length) await new Promise((r) => setTimeout(r, 10));
  }
  while (!allAt && performance.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, o.durationS * 1000));
  const rssUp = process.memoryUsage.rss();
  stop = true;
  await new Promise((r) => setTimeout(r, 1000));
  const cpu = process.cpuUsage(cpu0);
  await Promise.all(clients.map((c) => c.endAsync().catch(() => undefined)));
  const side: Side = {
    devices: things.length,
    connected,
    connectsPerS: allAt ? (things.length * 1000) / (allAt - t0) : 0,
    pubackP99: pub.percentileMs(99),
    published,
    acknowledged,
    rssPerCameraKiB: (rssUp - rss0) / Math.max(1, connected) / 1024,
    cpuMs: (cpu.user + cpu.system) / 1000,
    wallMs: performance.now() - t0,
  };
  process.stdout.write(JSON.stringify(side) + '\n');
  process.exit(0);
}

function runChild(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; wallMs: number }> {
  const t0 = performance.now();
  const child = spawn(cmd, args);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr, wallMs: performance.now() - t0 })));
}

async function camwireSide(
  certs: string,
  broker: MosquittoBroker,
  ca: string,
  devices: number,
  durationS: number,
  intervalS: number,
  rate: number,
  dir: string,
): Promise<Side> {
  const report = path.join(dir, `camwire-${devices}.json`);
  const r = await runChild(process.execPath, [
    CLI,
    '--json',
    'fleet',
    'run',
    '--certs',
    certs,
    '--broker',
    broker.url('tls'),
    '--broker-ca',
    ca,
    '--devices',
    String(devices),
    '--rate',
    '1000000',
    '--duration',
    String(durationS),
    '--publish-interval',
    String(intervalS),
    '--report',
    report,
  ]);
  if (r.code !== 0) throw new Error(`camwire fleet run exited ${r.code}: ${r.stderr}${r.stdout}`);
  const rep = JSON.parse(fs.readFileSync(report, 'utf8')) as FleetReport;
  const p = rep.processes[0]!;
  return {
    devices,
    connected: rep.connected,
    connectsPerS: rep.rampMs ? (devices * 1000) / rep.rampMs : 0,
    pubackP99: rep.latency.publish.p99,
    published: rep.published,
    acknowledged: rep.acknowledged,
    rssPerCameraKiB: (rep.rssPerDeviceBytes ?? 0) / 1024,
    cpuMs: p.cpuUserMs + p.cpuSystemMs,
    wallMs: r.wallMs,
  };
}

async function mqttjsSide(
  certs: string,
  broker: MosquittoBroker,
  ca: string,
  devices: number,
  durationS: number,
  intervalS: number,
  rate: number,
): Promise<Side> {
  const spec = JSON.stringify({ certs, port: broker.tlsPort, ca, devices, durationS, intervalS, rate });
  const r = await runChild(process.execPath, ['--import', 'tsx', __filename, '--mqttjs-child', spec]);
  if (r.code !== 0) throw new Error(`the mqtt.js loop exited ${r.code}: ${r.stderr}`);
  return { ...(JSON.parse(r.stdout.trim().split('\n').pop()!) as Side), wallMs: r.wallMs };
}

function table(n: number, rate: number, ours: Side, peer: Side): void {
  const line = (name: string, a: number, b: number, unit: string, better: 'higher' | 'lower') => {
    const ratio = better === 'higher' ? a / b : b / a;
    console.log(`${name.padEnd(30)} ${a.toFixed(1).padStart(10)} ${b.toFixed(1).padStart(10)} ${unit.padEnd(9)} ${ratio.toFixed(2)}x`);
  };
  console.log(`\n# ${n} mutual-TLS cameras, connects started at ${rate}/s (10 ms steps), local Mosquitto, ${os.cpus().length} cores`);
  console.log(`${''.padEnd(30)} ${'camwire'.padStart(10)} ${'mqtt.js'.padStart(10)} ${''.padEnd(9)} ratio (camwire better when > 1)`);
  line('connects/s (all connected)', ours.connectsPerS, peer.connectsPerS, '/s', 'higher');
  line('p99 PUBACK', ours.pubackP99, peer.pubackP99, 'ms', 'lower');
  line('RSS per connected camera', ours.rssPerCameraKiB, peer.rssPerCameraKiB, 'KiB', 'lower');
  line('CPU of the process', ours.cpuMs, peer.cpuMs, 'ms', 'lower');
  line('CPU per camera (connect + run)', ours.cpuMs / n, peer.cpuMs / n, 'ms', 'lower');
  line('wall time of the process', ours.wallMs, peer.wallMs, 'ms', 'lower');
  console.log(
    `${'connected / acked of published'.padEnd(30)} ${`${ours.connected} ${ours.acknowledged}/${ours.published}`.padStart(10)} ${`${peer.connected} ${peer.acknowledged}/${peer.published}`.padStart(10)}`,
  );
}

async function main(): Promise<void> {
  const child = arg('--mqttjs-child');
  if (child) return mqttjsChild(JSON.parse(child) as Parameters<typeof mqttjsChild>[0]);
  const quick = argv.includes('--quick');
  const sizes = [Number(arg('--devices') ?? (quick ? 300 : 1000))];
  // Above what either side reaches on a small machine, paced so the broker's accept backlog does not overflow (SYN retries would be measured instead).
  const rate = Number(arg('--rate') ?? 1000);
  const fd = readFdLimit();
  if (argv.includes('--big')) {
    // Each side's process and the broker hold one descriptor per camera.
    if (!fd || fd.hard >= 10_100) sizes.push(10_000);
    else console.log(`(10,000 skipped: RLIMIT_NOFILE hard limit ${fd.hard})`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-bench-fleet-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const certs = path.join(dir, 'certs');
  fs.mkdirSync(certs);
  const { ca } = await CertificateAuthority.create({ keyType: 'ec' });
  const max = Math.max(...sizes);
  const t0 = performance.now();
  for (let i = 0; i < max; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, max - i) }, async (_, k) => {
        const thing = `cam${String(i + k).padStart(5, '0')}`;
        const d = await ca.issueDevice(thing, { keyType: 'ec' });
        fs.writeFileSync(path.join(certs, `${thing}.pem`), d.certPem);
        fs.writeFileSync(path.join(certs, `${thing}.key`), d.keyPem, { mode: 0o600 });
      }),
    );
  }
  console.log(`${max} EC P-256 device certificates in ${Math.round(performance.now() - t0)} ms; descriptors ${fd ? `${fd.soft}/${fd.hard}` : '?'}`);
  const brokerDir = path.join(dir, 'broker');
  fs.mkdirSync(brokerDir);
  // An EC broker certificate, as the devices': the broker's RSA signature would otherwise bound both sides alike.
  const server = await ca.issueServer('localhost', ['localhost', '127.0.0.1'], { keyType: 'ec' });
  const serverFiles = { certFile: path.join(brokerDir, 'server-ec.pem'), keyFile: path.join(brokerDir, 'server-ec.key') };
  fs.writeFileSync(serverFiles.certFile, server.certPem);
  fs.writeFileSync(serverFiles.keyFile, server.keyPem, { mode: 0o600 });
  const broker = await MosquittoBroker.start({ dir: brokerDir, ca, server: serverFiles });
  const caFile = path.join(brokerDir, 'ca.pem');
  try {
    for (const n of sizes) {
      const duration = quick ? 3 : 5;
      // Rounds alternate the sides; each side's best connects/s (and its p99, RSS of that round) is shown.
      const rounds = n > 2000 ? 1 : quick ? 1 : 2;
      // 10,000 started above the machine's handshake capacity would time out and retry; ramp them below it.
      const r = n > 2000 ? Math.min(rate, 250) : rate;
      let ours: Side | undefined;
      let peer: Side | undefined;
      for (let i = 0; i < rounds; i++) {
        const a = await camwireSide(certs, broker, caFile, n, duration, 1, r, dir);
        const b = await mqttjsSide(certs, broker, caFile, n, duration, 1, r);
        if (!ours || a.connectsPerS > ours.connectsPerS) ours = a;
        if (!peer || b.connectsPerS > peer.connectsPerS) peer = b;
      }
      table(n, r, ours!, peer!);
    }
  } finally {
    await broker.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
