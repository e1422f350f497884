/**
 * `camwire testbench init`: everything a camera needs to be tested on the
 * bench, in one directory: the bench's CA, the services' server certificate
 * (SAN = every host the camera may dial, 127.0.0.1 always), the device's
 * certificate and key, the certificates the TLS cases present on purpose (one
 * from a CA the device must not trust, one for a host name it must refuse),
 * bench.json (ports, keys, names: what `testbench run` serves) and device.json
 * in the `camwire device --config` format, pointing at the bench.
 *
 * Ports are fixed at init (a camera's configuration is written once); keys
 * are written 0600, and bench.json too, since it holds the bench's S3/KVS
 * secret. Nothing is written when any file exists already, unless force.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { CamwireError } from '../errors';
import { writeBenchObjects } from './objects';
import { CertificateAuthority, checkThingName, refuseExisting, writePrivateKey, writePublicFile } from '../pki';

export const BENCH_VERSION = 1;

/** The ports `testbench run` listens on unless bench.json says otherwise. */
/** Where the reference camera (camwire device with the bench's device.json) serves PTP/IP. */
export const DEVICE_PTP_PORT = 19740;

export const DEFAULT_BENCH_PORTS = { mqtt: 18883, s3: 19000, kvs: 19443, iotCredentials: 19444 } as const;

export interface BenchConfig {
  version: 1;
  thing: string;
  /** The hosts a camera may dial the bench by (the server certificate's SANs); the first is in device.json. */
  hosts: string[];
  ports: { mqtt: number; s3: number; kvs: number; iotCredentials: number };
  region: string;
  bucket: string;
  stream: string;
  roleAlias: string;
  /** SigV4 keys of the bench's S3 store and KVS endpoint (the back end's, not the camera's). */
  keys: { accessKeyId: string; secretAccessKey: string };
  /** Files, relative to the bench directory. */
  files: {
    ca: string;
    caKey: string;
    server: string;
    serverKey: string;
    device: string;
    deviceChain: string;
    deviceKey: string;
    untrustedCa: string;
    untrustedServer: string;
    untrustedServerKey: string;
    wrongHostServer: string;
    wrongHostServerKey: string;
  };
}

export interface BenchInitOptions {
  out: string;
  thing: string;
  /** Hosts or IPs the camera reaches the bench by (default 127.0.0.1). */
  hosts?: string[];
  ports?: Partial<BenchConfig['ports']>;
  keyType?: 'rsa' | 'ec';
  force?: boolean;
}

export interface BenchInitResult {
  dir: string;
  config: BenchConfig;
  /** Every file written, absolute. */
  written: string[];
}

const WRONG_HOST = 'wrong-host.testbench.invalid';

function checkPort(p: number, what: string): number {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new CamwireError('CLI_BAD_ARGUMENT', `${what} port ${p} is not 1-65535`);
  return p;
}

export async function initBench(o: BenchInitOptions): Promise<BenchInitResult> {
  const thing = checkThingName(o.thing);
  // Each host is checked by issueServer (PKI_BAD_NAME) before anything is written.
  const hosts = [...new Set([...(o.hosts?.length ? o.hosts : ['127.0.0.1']), '127.0.0.1'])];
  const ports = { ...DEFAULT_BENCH_PORTS, ...o.ports };
  for (const [k, v] of Object.entries(ports)) checkPort(v, k);
  if (new Set(Object.values(ports)).size !== 4) throw new CamwireError('CLI_BAD_ARGUMENT', 'the four bench ports must differ');
  const dir = path.resolve(o.out);
  const rel = {
    ca: 'ca/ca.pem',
    caKey: 'ca/ca.key',
    server: 'server/server.pem',
    serverKey: 'server/server.key',
    device: `device/${thing}.pem`,
    deviceChain: `device/${thing}.chain.pem`,
    deviceKey: `device/${thing}.key`,
    untrustedCa: 'faults/untrusted-ca.pem',
    untrustedServer: 'faults/untrusted-server.pem',
    untrustedServerKey: 'faults/untrusted-server.key',
    wrongHostServer: 'faults/wrong-host-server.pem',
    wrongHostServerKey: 'faults/wrong-host-server.key',
  };
  const abs = (r: string): string => path.join(dir, r);
  const all = [...Object.values(rel), 'bench.json', 'device.json'].map(abs);
  // Nothing is generated when anything is there already: no half-written bench.
  refuseExisting(all, { overwrite: o.force === true });

  const keyType = o.keyType ?? 'ec';
  const days = 825;
  const { ca, certPem: caPem, keyPem: caKey } = await CertificateAuthority.create({ commonName: 'camwire testbench CA', keyType, days });
  const server = await ca.issueServer(hosts[0]!, hosts, { keyType, days });
  const device = await ca.issueDevice(thing, { keyType, days });
  const other = await CertificateAuthority.create({ commonName: 'not the device CA (testbench)', keyType, days });
  const untrusted = await other.ca.issueServer(hosts[0]!, hosts, { keyType, days });
  const wrongHost = await ca.issueServer(WRONG_HOST, [WRONG_HOST], { keyType, days });

  const config: BenchConfig = {
    version: BENCH_VERSION,
    thing,
    hosts,
    ports,
    region: 'us-east-1',
    bucket: 'testbench',
    stream: thing,
    roleAlias: 'testbench-kvs',
    keys: { accessKeyId: `AKIDBENCH${crypto.randomBytes(6).toString('hex').toUpperCase()}`, secretAccessKey: crypto.randomBytes(30).toString('base64url') },
    files: rel,
  };
  const host = hosts[0]!;
  const hostInUrl = net.isIPv6(host) ? `[${host}]` : host;
  const deviceConfig = {
    $comment: `camwire testbench: the device under test, for \`camwire device --config ${path.join(dir, 'device.json')}\` or a camera's own firmware. The bench serves it with \`camwire testbench run --dir ${dir}\`.`,
    thing,
    storage: 'storage',
    mqtt: {
      url: `mqtts://${hostInUrl}:${ports.mqtt}`,
      cert: rel.deviceChain,
      key: rel.deviceKey,
      ca: rel.ca,
      outboxDir: 'state/outbox',
      // Short, so the keep-alive case is quick; a camera with its own value is waited for up to 1.5 times it.
      keepaliveSeconds: 15,
    },
    // The reference camera's PTP/IP responder, for the ptp cases (a real camera: testbench run --ptp ITS_ADDRESS:15740).
    // Only on this machine: a camera on the LAN has its own address (testbench run --ptp).
    ...(host === '127.0.0.1' ? { ptp: { host: '127.0.0.1', port: DEVICE_PTP_PORT } } : {}),
    upload: { concurrency: 2, journalDir: 'state/journal', jobsDir: 'state/jobs' },
    kvs: {
      streamName: config.stream,
      region: config.region,
      endpoint: `https://${hostInUrl}:${ports.kvs}`,
      caFile: rel.ca,
      fragmentDurationMs: 1000,
      source: { synthetic: true, fps: 10 },
      iotCredentials: { endpoint: `https://${hostInUrl}:${ports.iotCredentials}`, roleAlias: config.roleAlias, ca: rel.ca },
    },
  };

  const written: string[] = [];
  const pub = (r: string, pem: string): void => {
    writePublicFile(abs(r), pem, { overwrite: true });
    written.push(abs(r));
  };
  const key = (r: string, pem: string): void => {
    writePrivateKey(abs(r), pem, { overwrite: true });
    written.push(abs(r));
  };
  for (const d of ['ca', 'server', 'device', 'faults']) fs.mkdirSync(abs(d), { recursive: true, mode: 0o700 });
  pub(rel.ca, caPem);
  key(rel.caKey, caKey);
  pub(rel.server, server.certPem);
  key(rel.serverKey, server.keyPem);
  pub(rel.device, device.certPem);
  pub(rel.deviceChain, device.chainPem);
  key(rel.deviceKey, device.keyPem);
  pub(rel.untrustedCa, other.certPem);
  pub(rel.untrustedServer, untrusted.certPem);
  key(rel.untrustedServerKey, untrusted.keyPem);
  pub(rel.wrongHostServer, wrongHost.certPem);
  key(rel.wrongHostServerKey, wrongHost.keyPem);
  // bench.json holds the bench's own S3/KVS secret: 0600 like a key.
  key('bench.json', JSON.stringify(config, null, 2) + '\n');
  pub('device.json', JSON.stringify(deviceConfig, null, 2) + '\n');
  fs.mkdirSync(abs('storage/DCIM/100CAMWR'), { recursive: true });
  writeBenchObjects(abs('storage'));
  return { dir, config, written };
}
