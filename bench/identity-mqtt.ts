/**
 * camwire benchmarks. Every number is printed next to a peer measured in the
 * same run on the same machine, as a ratio; nothing here asserts on time.
 *   npm run bench            (needs mosquitto, mosquitto-clients, openssl; then bench/upload.ts)
 *   npm run bench -- --quick (fewer rounds)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { CertificateAuthority } from '../ts/pki';
import { DeviceConnection } from '../ts/mqtt';
import { MosquittoBroker } from '../test/helpers/mosquitto';
import { cliEnv, describeCliEnv } from './common';

const quick = process.argv.includes('--quick');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-bench-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

function row(name: string, value: number, unit: string, peerName?: string, peer?: number): void {
  const ratio = peer ? `  ${(value / peer).toFixed(2)}x ${peerName}` : '';
  console.log(`${name.padEnd(52)} ${value.toFixed(1).padStart(9)} ${unit}${ratio}`);
}

async function perSecond(n: number, f: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await f(i);
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

function opensslPerSecond(n: number, keyArgs: string, caKey: string, caPem: string): number {
  // The peer: the same work (new key, CSR, CA-signed certificate) with the openssl CLI in one shell script.
  const script = `set -e; cd ${dir}; for i in $(seq 1 ${n}); do openssl req -new ${keyArgs} -nodes -keyout k.pem -subj /CN=cam$i -out r.csr 2>/dev/null; openssl x509 -req -in r.csr -CA ${caPem} -CAkey ${caKey} -CAcreateserial -days 365 -out c.pem 2>/dev/null; done`;
  const t0 = process.hrtime.bigint();
  const r = spawnSync('sh', ['-c', script]);
  if (r.status !== 0) throw new Error(`openssl peer failed: ${r.stderr}`);
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function pki(): Promise<void> {
  console.log('\n# device certificates issued per second (new key + signed certificate)');
  for (const keyType of ['rsa', 'ec'] as const) {
    const { ca, certPem, keyPem } = await CertificateAuthority.create({ keyType });
    fs.writeFileSync(path.join(dir, `ca-${keyType}.pem`), certPem);
    fs.writeFileSync(path.join(dir, `ca-${keyType}.key`), keyPem);
    const n = keyType === 'rsa' ? (quick ? 10 : 40) : quick ? 50 : 200;
    const ours = await perSecond(n, (i) => ca.issueDevice(`cam${i}`, { keyType }));
    const peer = opensslPerSecond(
      Math.ceil(n / 2),
      keyType === 'rsa' ? '-newkey rsa:2048' : '-newkey ec -pkeyopt ec_paramgen_curve:P-256',
      path.join(dir, `ca-${keyType}.key`),
      path.join(dir, `ca-${keyType}.pem`),
    );
    row(`camwire pki issue (${keyType})`, ours, 'certs/s', 'openssl CLI', peer);
    row(`  peer: openssl req + x509 -req (${keyType})`, peer, 'certs/s');
  }
}

async function publishes(): Promise<void> {
  const { ca } = await CertificateAuthority.create({ keyType: 'ec' });
  const broker = await MosquittoBroker.start({ dir, ca });
  try {
    const n = quick ? 1000 : 5000;
    const topic = 'cameras/camera001/uploads';
    console.log(`\n# QoS 1 publishes per second, ${n} x 200 B, plain listener on 127.0.0.1 (mosquitto)`);
    const payload = Buffer.alloc(200, 'x');

    // Peer 1: mosquitto_pub, the broker project's own client, one process, --repeat.
    const t0 = process.hrtime.bigint();
    const mosquittoPub = (count: number, id: string) => [
      'mosquitto_pub',
      '-h',
      '127.0.0.1',
      '-p',
      String(broker.plainPort),
      '-q',
      '1',
      '-t',
      topic,
      '-m',
      payload.toString(),
      '--repeat',
      String(count),
      '-i',
      id,
    ];
    const [mpCmd, ...mpArgs] = mosquittoPub(n, 'peer-pub');
    const mp = spawnSync(mpCmd!, mpArgs);
    if (mp.status !== 0) throw new Error(`mosquitto_pub failed: ${mp.stderr}`);
    const mosq = n / (Number(process.hrtime.bigint() - t0) / 1e9);

    // Peer 2: mqtt.js publishAsync in this process, 64 in flight, no outbox.
    const raw = await mqtt.connectAsync(broker.url('plain'), { clientId: 'peer-mqttjs', reconnectPeriod: 0 });
    const rawRate = await windowed(n, 64, () => raw.publishAsync(topic, payload, { qos: 1 }));
    await raw.endAsync();

    for (const durable of [false, true]) {
      const c = new DeviceConnection({
        url: broker.url('plain'),
        thing: durable ? 'bench-durable' : 'bench-memory',
        status: false,
        ...(durable ? { outboxDir: path.join(dir, 'outbox') } : {}),
      });
      await c.connect({ timeoutMs: 5000 });
      const rate = await windowed(n, 64, () => c.publish(topic, payload));
      row(`camwire DeviceConnection, ${durable ? 'durable outbox (fdatasync)' : 'memory outbox'}`, rate, 'msg/s', 'mosquitto_pub', mosq);
      row('', rate, 'msg/s', 'mqtt.js', rawRate);
      await c.close();
    }
    row('  peer: mosquitto_pub --repeat', mosq, 'msg/s');
    row('  peer: mqtt.js publishAsync, 64 in flight', rawRate, 'msg/s');
    // What a user runs: the whole CLI process, durable (every message fdatasync'd before it is sent), against mosquitto_pub (no durability).
    const cliN = quick ? 5000 : 20000;
    const { env, hostEnv } = cliEnv();
    const cliRun = (args: string[], runEnv: NodeJS.ProcessEnv = env) => {
      const t = process.hrtime.bigint();
      const r = spawnSync(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: runEnv });
      if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    const cliMs: number[] = [];
    const cliHostMs: number[] = [];
    const mosqMs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const cliArgs = (box: string) => [
        process.execPath,
        path.join(__dirname, '..', 'bin', 'camwire.js'),
        'mqtt',
        'pub',
        '--url',
        broker.url('plain'),
        '--thing',
        'bench-cli',
        '--topic',
        topic,
        '--message',
        payload.toString(),
        '--count',
        String(cliN),
        '--qos',
        '1',
        '--outbox',
        box,
      ];
      cliMs.push(cliRun(cliArgs(path.join(dir, `cli-outbox-${i}`))));
      if (hostEnv) cliHostMs.push(cliRun(cliArgs(path.join(dir, `cli-outbox-host-${i}`)), hostEnv));
      mosqMs.push(cliRun(mosquittoPub(cliN, 'peer-cli'), process.env));
    }
    const cliRate = cliN / (Math.min(...cliMs) / 1000);
    const mosqRate = cliN / (Math.min(...mosqMs) / 1000);
    console.log(`\n# whole processes, ${cliN} QoS 1 messages, best of 3 interleaved (${describeCliEnv()})`);
    row('camwire mqtt pub --count --qos 1 --outbox (process)', cliRate, 'msg/s', 'mosquitto_pub', mosqRate);
    if (cliHostMs.length) row("  the same with this host's NODE_EXTRA_CA_CERTS", cliN / (Math.min(...cliHostMs) / 1000), 'msg/s', 'mosquitto_pub', mosqRate);
    row('  peer: mosquitto_pub --repeat -q 1 (process)', mosqRate, 'msg/s');
  } finally {
    await broker.stop();
  }
}

/** Runs n operations with at most w in flight; returns operations per second. */
async function windowed(n: number, w: number, op: () => Promise<unknown>): Promise<number> {
  let started = 0;
  const t0 = process.hrtime.bigint();
  const lane = async () => {
    while (started < n) {
      started++;
      await op();
    }
  };
  await Promise.all(Array.from({ length: w }, lane));
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

(async () => {
  console.log(`camwire bench on ${os.cpus().length} CPU(s), Node ${process.version}, ${new Date().toISOString()}`);
  await pki();
  await publishes();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
