/**
 * The bench's services for `testbench run`: the local cloud (broker, S3
 * store, KVS endpoint, credentials provider) on the ports bench.json names,
 * each behind a fault proxy, plus the two impostors the TLS cases switch the
 * MQTT port to (a server certificate from another CA, one for another host
 * name). Everything the device does is recorded as it happens (`events`), so
 * a case asks what the device did since it started, not whether a callback
 * fired at the right moment.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { CamwireError } from '../errors';
import { LocalCloud, LocalKvsFaults, LocalS3Request } from '../local';
import { UploadTarget } from '../upload';
import { presignMultipart, presignPut } from '../upload/presign';
import { topics } from '../mqtt';
import { BenchConfig } from './init';
import { BENCH_OBJECTS, BENCH_PART_SIZE } from './objects';

export { BENCH_OBJECTS, BENCH_PART_SIZE, benchObjectBytes, writeBenchObjects } from './objects';

/** One thing the device (or the bench) did, at a time in ms (Date.now()). */
export type BenchEvent = { at: number } & (
  | { kind: 'tcp'; service: string; n: number; fault: string; upstream: number }
  | { kind: 'tls-error'; message: string }
  | { kind: 'connect'; conn: number; keepalive: number; clean: boolean; will?: { topic: string; payload: string; qos: number; retain: boolean } }
  | { kind: 'refused'; reason: string }
  | { kind: 'disconnect'; conn: number }
  | { kind: 'publish'; topic: string; payload: Buffer; qos: number; retain: boolean; dup: boolean }
  | { kind: 'subscribe'; topics: string[]; qos: number[] }
  | { kind: 'ping' }
  | { kind: 'withheld'; topic: string }
  | { kind: 's3'; request: LocalS3Request }
  | { kind: 'impostor'; which: Impostor; handshake: 'done' | 'failed'; detail: string; appBytes: number }
);

export type Impostor = 'untrusted' | 'wrong-host';

export interface BenchFiles {
  dir: string;
  config: BenchConfig;
  read(rel: string): string;
}

export function loadBench(dir: string): BenchFiles {
  const abs = path.resolve(dir);
  const file = path.join(abs, 'bench.json');
  let config: BenchConfig;
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8')) as BenchConfig;
  } catch (e) {
    throw new CamwireError(
      'TESTBENCH_NO_BENCH',
      `${file} is missing or unreadable (${(e as Error).message}); make one with camwire testbench init --out ${dir} --thing NAME`,
    );
  }
  if (config.version !== 1 || !config.thing || !config.ports || !config.files)
    throw new CamwireError('TESTBENCH_NO_BENCH', `${file} is not a bench.json of version 1; make one with camwire testbench init`);
  return { dir: abs, config, read: (rel: string) => fs.readFileSync(path.join(abs, rel), 'utf8') };
}

export class Bench {
  readonly events: BenchEvent[] = [];
  readonly kvsFaults: LocalKvsFaults = {};
  private readonly impostors = new Map<Impostor, { server: tls.Server; port: number }>();
  private constructor(
    readonly files: BenchFiles,
    readonly cloud: LocalCloud,
  ) {}

  get thing(): string {
    return this.files.config.thing;
  }

  /** The host the camera dials (the first of bench.json's hosts). */
  get host(): string {
    return this.files.config.hosts[0] ?? '127.0.0.1';
  }

  static async start(files: BenchFiles, o: { services?: Array<'mqtt' | 's3' | 'kvs' | 'iot-credentials'> } = {}): Promise<Bench> {
    const c = files.config;
    const f = c.files;
    const hosts = c.hosts.length ? c.hosts : ['127.0.0.1'];
    // 127.0.0.1 unless the bench was made for a camera on the LAN: then the address the camera dials
    // (every IPv4 address when that is a DNS name; the certificate names the hosts either way).
    const first = hosts[0]!;
    const loopback = (h: string) => h === '127.0.0.1' || h === 'localhost' || h === '::1';
    const listenHost = loopback(first) ? '127.0.0.1' : net.isIP(first) ? first : '0.0.0.0';
    const kvsFaults: LocalKvsFaults = {};
    let cloud: LocalCloud;
    try {
      cloud = await LocalCloud.start({
        dir: path.join(files.dir, 'run'),
        tls: { cert: files.read(f.server), key: files.read(f.serverKey), ca: files.read(f.ca) },
        keys: c.keys,
        region: c.region,
        buckets: [c.bucket],
        roleAlias: c.roleAlias,
        kvsFaults,
        minPartSize: BENCH_PART_SIZE,
        ports: { mqtt: c.ports.mqtt, s3: c.ports.s3, kvs: c.ports.kvs, 'iot-credentials': c.ports.iotCredentials },
        listenHost,
        publicHost: loopback(first) ? '127.0.0.1' : first,
        ...(o.services ? { services: o.services } : {}),
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE' || /EADDRINUSE/.test(String((e as Error).message)))
        throw new CamwireError(
          'TESTBENCH_PORT_BUSY',
          `a bench port is in use (${(e as Error).message}): another testbench run, or something else on ${Object.values(c.ports).join(', ')}; stop it or make the bench with other ports (testbench init --mqtt-port …)`,
        );
      throw e;
    }
    const bench = new Bench(files, cloud);
    Object.assign(bench, { kvsFaults });
    try {
      await bench.observe();
    } catch (e) {
      await bench.stop();
      throw e;
    }
    return bench;
  }

  private record(e: BenchEvent): void {
    this.events.push(e);
  }

  private async observe(): Promise<void> {
    const thing = this.thing;
    const now = () => Date.now();
    const b = this.cloud.broker;
    if (b) {
      b.on('connected', (x) => {
        if (x.clientId !== thing) return;
        this.live.add(x.conn);
        this.record({
          at: now(),
          kind: 'connect',
          conn: x.conn,
          keepalive: x.connect?.keepalive ?? 0,
          clean: x.connect?.clean ?? true,
          ...(x.connect?.will ? { will: x.connect.will } : {}),
        });
      });
      b.on('refused', (x) => {
        if (x.clientId === thing || x.cn === thing) this.record({ at: now(), kind: 'refused', reason: x.reason });
      });
      b.on('disconnected', (x) => {
        if (x.clientId !== thing) return;
        this.live.delete(x.conn);
        this.record({ at: now(), kind: 'disconnect', conn: x.conn });
      });
      b.on('published', (x) => {
        if (x.clientId === thing) this.record({ at: now(), kind: 'publish', topic: x.topic, payload: x.payload, qos: x.qos, retain: x.retain, dup: x.dup });
      });
      b.on('subscribed', (x) => {
        if (x.clientId === thing) this.record({ at: now(), kind: 'subscribe', topics: x.topics, qos: x.qos });
      });
      b.on('tls-error', (x) => this.record({ at: now(), kind: 'tls-error', message: x.message }));
      b.on('ping', (x) => {
        if (x.clientId === thing) this.record({ at: now(), kind: 'ping' });
      });
      b.on('withheld', (x) => {
        if (x.clientId === thing) this.record({ at: now(), kind: 'withheld', topic: x.topic });
      });
    }
    this.cloud.s3?.on('request', (r) => this.record({ at: now(), kind: 's3', request: r }));
    for (const [service, p] of Object.entries(this.cloud.proxies)) {
      p?.on('connection', (x) => this.record({ at: now(), kind: 'tcp', service, n: x.n, fault: x.fault, upstream: x.upstream }));
    }
    const f = this.files.config.files;
    await this.impostor('untrusted', f.untrustedServer, f.untrustedServerKey);
    await this.impostor('wrong-host', f.wrongHostServer, f.wrongHostServerKey);
  }

  /** A TLS server with certificates the device must refuse; it records whether a handshake completed and any MQTT bytes came. */
  private async impostor(which: Impostor, cert: string, key: string): Promise<void> {
    const server = tls.createServer({ cert: this.files.read(cert), key: this.files.read(key), requestCert: false });
    server.on('secureConnection', (s) => {
      let appBytes = 0;
      const done = () =>
        this.record({ at: Date.now(), kind: 'impostor', which, handshake: 'done', detail: `TLS ${s.getProtocol() ?? ''} completed`, appBytes });
      s.on('data', (d: Buffer) => {
        appBytes += d.length;
      });
      s.on('error', () => undefined);
      s.on('close', done);
      // Whatever it sends, the impostor never answers: a CONNECT is evidence enough.
      setTimeout(() => s.destroy(), 3000).unref();
    });
    server.on('tlsClientError', (e: Error) => {
      this.record({ at: Date.now(), kind: 'impostor', which, handshake: 'failed', detail: e.message, appBytes: 0 });
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
    });
    this.impostors.set(which, { server, port });
  }

  /** New MQTT connections meet this impostor (undefined: the broker again); open ones are dropped. */
  impersonate(which: Impostor | undefined): void {
    const p = this.cloud.proxies.mqtt!;
    p.retarget(which ? this.impostors.get(which)!.port : undefined);
  }

  /** Events since a time, optionally of one kind. */
  since<K extends BenchEvent['kind']>(t: number, kind: K): Array<Extract<BenchEvent, { kind: K }>> {
    return this.events.filter((e): e is Extract<BenchEvent, { kind: K }> => e.at >= t && e.kind === kind);
  }

  /** The device's connections the broker holds (a takeover overlaps two for a moment). */
  private readonly live = new Set<number>();

  /** Is the device connected to the broker now? */
  get connected(): boolean {
    return this.live.size > 0;
  }

  /** The S3 endpoint as the camera dials it. */
  get s3Url(): string {
    return this.cloud.urls.s3!;
  }

  private static seq = 0;
  /** A key under the bench's bucket for one case's upload. */
  key(caseId: string, file: string): string {
    return `testbench/${this.thing}/${caseId}-${Date.now().toString(36)}-${++Bench.seq}/${path.basename(file)}`;
  }

  async putTarget(caseId: string, o: { object?: keyof typeof BENCH_OBJECTS; expiresIn?: number } = {}): Promise<{ target: UploadTarget; key: string }> {
    const obj = BENCH_OBJECTS[o.object ?? 'photo'];
    const key = this.key(caseId, obj.path);
    const c = this.files.config;
    const target = await presignPut({
      endpoint: this.s3Url,
      region: c.region,
      bucket: c.bucket,
      key,
      credentials: c.keys,
      contentType: obj.contentType,
      id: `${caseId}-${crypto.randomBytes(4).toString('hex')}`,
      shareExpiresIn: 0,
      ...(o.expiresIn ? { expiresIn: o.expiresIn } : {}),
    });
    target.object = { path: obj.path };
    return { target, key };
  }

  async multipartTarget(caseId: string): Promise<{ target: UploadTarget; key: string; parts: number }> {
    const obj = BENCH_OBJECTS.video;
    const key = this.key(caseId, obj.path);
    const c = this.files.config;
    const target = await presignMultipart({
      endpoint: this.s3Url,
      region: c.region,
      bucket: c.bucket,
      key,
      credentials: c.keys,
      contentType: obj.contentType,
      id: `${caseId}-${crypto.randomBytes(4).toString('hex')}`,
      shareExpiresIn: 0,
      size: obj.size,
      partSize: BENCH_PART_SIZE,
      minPartSize: BENCH_PART_SIZE,
    });
    target.object = { path: obj.path };
    return { target, key, parts: target.multipart!.parts.length };
  }

  /**
   * Publishes a target to the device at QoS 1 (as the back end does), once
   * the device has subscribed to its targets at least once (its session keeps
   * the subscription after that): a target sent between its CONNACK and its
   * SUBSCRIBE would be lost by any broker. After 10 s it is sent anyway.
   */
  async sendTarget(target: UploadTarget): Promise<void> {
    const want = topics.uploadTargets(this.thing);
    const root = `cameras/${this.thing}/`;
    const covers = (f: string) => f === want || f === `${root}#` || f === `${root}+` || f === 'cameras/+/upload-targets' || f === '#';
    for (let end = Date.now() + 10_000; Date.now() < end;) {
      if (this.events.some((e) => e.kind === 'subscribe' && e.topics.some(covers))) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.cloud.broker!.publish(topics.uploadTargets(this.thing), JSON.stringify(target), { qos: 1 });
  }

  /** The device's results for a target id since t, parsed (unparsable ones as { raw }). */
  results(t: number, id?: string): Array<{ at: number; dup: boolean; result?: Record<string, unknown>; raw: string }> {
    return this.since(t, 'publish')
      .filter((p) => p.topic === topics.uploads(this.thing))
      .map((p) => {
        const raw = p.payload.toString('utf8');
        let result: Record<string, unknown> | undefined;
        try {
          const v: unknown = JSON.parse(raw);
          if (typeof v === 'object' && v && !Array.isArray(v)) result = v as Record<string, unknown>;
        } catch {
          /* reported by the case */
        }
        return { at: p.at, dup: p.dup, raw, ...(result ? { result } : {}) };
      })
      .filter((r) => id === undefined || r.result?.['id'] === id);
  }

  s3Requests(t: number, key?: string): LocalS3Request[] {
    return this.since(t, 's3')
      .map((e) => e.request)
      .filter((r) => key === undefined || r.key === key);
  }

  async stop(): Promise<void> {
    this.cloud.broker?.releaseWithheld();
    for (const { server } of this.impostors.values()) await new Promise<void>((r) => server.close(() => r()));
    this.impostors.clear();
    await this.cloud.stop();
  }
}
