/**
 * One way to start the local cloud a camera talks to: the MQTT broker, the S3
 * store, the KVS endpoint and the IoT credentials provider (any subset), each
 * on 127.0.0.1 behind its own FaultProxy, so a test, the demo, a bench or the
 * device test bench can break any one of them (refuse, stall, delay, cut,
 * drop) and, for the HTTP ones, make it answer errors (`faults`). The URLs it
 * hands out are the proxies'; the services behind them are there for counts
 * and records.
 */
import path from 'node:path';
import { LocalBroker, LocalBrokerOptions } from './broker';
import { FaultProxy, HttpFaults } from './faults';
import { LocalIotCredentialsEndpoint } from './iot-credentials';
import { LocalKvsCredentials, LocalKvsEndpoint, LocalKvsFaults } from './kvs-endpoint';
import { LocalS3Store } from './s3';

export type LocalService = 'mqtt' | 's3' | 'kvs' | 'iot-credentials';

export interface LocalCloudOptions {
  /** Where the S3 store keeps objects (DIR/s3) and the KVS endpoint its sessions (DIR/kvs). */
  dir: string;
  /** Which services (default all four; iot-credentials needs kvs). */
  services?: LocalService[];
  /**
   * The services' TLS: a server certificate and key whose SAN names 127.0.0.1
   * (CertificateAuthority.issueServer), and the CA whose client certificates
   * the broker and the credentials provider accept.
   */
  tls: { cert: string; key: string; ca: string };
  /** SigV4 keys the S3 store and the KVS endpoint accept. */
  keys: { accessKeyId: string; secretAccessKey: string };
  region?: string;
  /** Buckets that exist from the start (default ['media']). */
  buckets?: string[];
  /** Broker: client certificate CNs allowed every topic (a back end, an app). */
  operators?: LocalBrokerOptions['operators'];
  /** The credentials provider's role alias (default camwire-kvs). */
  roleAlias?: string;
  /** Lifetime of the credentials it issues (default 3600 s). */
  credentialsLifetimeSeconds?: number;
  /** The KVS endpoint's own faults (drops by fragment count, ERROR acks, no acks). */
  kvsFaults?: LocalKvsFaults;
  /** The S3 store's smallest part (default 5 MiB, as S3). */
  minPartSize?: number;
  /** Fixed ports for the proxies (default any free ones): a camera's configuration names them. */
  ports?: Partial<Record<LocalService, number>>;
  /**
   * Where the proxies listen (default 127.0.0.1; the services behind them
   * always do). Only the device test bench sets it: a camera on the LAN.
   */
  listenHost?: string;
  /** The host in the URLs handed out (and in GetDataEndpoint's answer): the one the camera dials (default listenHost). */
  publicHost?: string;
}

export interface LocalCloudUrls {
  /** mqtts://127.0.0.1:PORT (mutual TLS). */
  mqtt?: string;
  /** http://127.0.0.1:PORT (path-style S3). */
  s3?: string;
  /** https://127.0.0.1:PORT: the KVS control plane; GetDataEndpoint answers the same proxy. */
  kvs?: string;
  /** https://127.0.0.1:PORT: the IoT credentials provider (mutual TLS). */
  iotCredentials?: string;
}

export class LocalCloud {
  readonly urls: LocalCloudUrls = {};
  /** The proxy in front of each service: set a fault, drop its connections. */
  readonly proxies: Partial<Record<LocalService, FaultProxy>> = {};
  broker: LocalBroker | undefined;
  s3: LocalS3Store | undefined;
  kvs: LocalKvsEndpoint | undefined;
  credentials: LocalIotCredentialsEndpoint | undefined;
  private readonly stops: Array<() => Promise<void>> = [];

  private constructor(readonly options: LocalCloudOptions) {}

  /** Starts the services and their proxies; on a failure stops what had started and rejects. */
  static async start(o: LocalCloudOptions): Promise<LocalCloud> {
    const cloud = new LocalCloud(o);
    try {
      await cloud.startAll();
    } catch (e) {
      await cloud.stop();
      throw e;
    }
    return cloud;
  }

  /** The error answers of each HTTP service. */
  get faults(): { s3?: HttpFaults; kvs?: HttpFaults; iotCredentials?: HttpFaults } {
    return {
      ...(this.s3 ? { s3: this.s3.faults } : {}),
      ...(this.kvs ? { kvs: this.kvs.httpFaults } : {}),
      ...(this.credentials ? { iotCredentials: this.credentials.faults } : {}),
    };
  }

  /** Every proxy back to pass and every HTTP fault cleared. */
  clearFaults(): void {
    for (const p of Object.values(this.proxies)) p?.set({ kind: 'pass' });
    for (const f of Object.values(this.faults)) f?.clear();
  }

  async stop(): Promise<void> {
    const stops = this.stops.splice(0).reverse();
    const results = await Promise.allSettled(stops.map((s) => s()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private at(p: FaultProxy): string {
    const host = this.options.publicHost ?? this.options.listenHost ?? '127.0.0.1';
    return `${host.includes(':') ? `[${host}]` : host}:${p.port}`;
  }

  private async proxy(name: LocalService, port: number): Promise<FaultProxy> {
    const p = new FaultProxy({ port }, this.options.ports?.[name] ?? 0, this.options.listenHost ?? '127.0.0.1');
    await p.start();
    this.stops.push(() => p.stop());
    this.proxies[name] = p;
    return p;
  }

  private async startAll(): Promise<void> {
    const o = this.options;
    const want = new Set<LocalService>(o.services ?? ['mqtt', 's3', 'kvs', 'iot-credentials']);
    const region = o.region ?? 'us-east-1';
    if (want.has('mqtt')) {
      const broker = new LocalBroker({ cert: o.tls.cert, key: o.tls.key, ca: o.tls.ca, ...(o.operators ? { operators: o.operators } : {}) });
      await broker.start();
      this.stops.push(() => broker.stop());
      this.broker = broker;
      this.urls.mqtt = `mqtts://${this.at(await this.proxy('mqtt', broker.port))}`;
    }
    if (want.has('s3')) {
      const s3 = new LocalS3Store({
        dir: path.join(o.dir, 's3'),
        credentials: o.keys,
        region,
        buckets: o.buckets ?? ['media'],
        ...(o.minPartSize ? { minPartSize: o.minPartSize } : {}),
      });
      await s3.start();
      this.stops.push(() => s3.stop());
      this.s3 = s3;
      this.urls.s3 = `http://${this.at(await this.proxy('s3', s3.port))}`;
    }
    if (want.has('kvs') || want.has('iot-credentials')) {
      const keys: LocalKvsCredentials[] = [o.keys];
      const kvs = new LocalKvsEndpoint({
        dir: path.join(o.dir, 'kvs'),
        credentials: keys,
        region,
        tls: { cert: o.tls.cert, key: o.tls.key },
        ...(o.kvsFaults ? { faults: o.kvsFaults } : {}),
      });
      await kvs.start();
      this.stops.push(() => kvs.stop());
      this.kvs = kvs;
      this.urls.kvs = `https://${this.at(await this.proxy('kvs', kvs.port))}`;
      kvs.publicUrl = this.urls.kvs;
    }
    if (want.has('iot-credentials')) {
      const creds = new LocalIotCredentialsEndpoint({
        ca: o.tls.ca,
        cert: o.tls.cert,
        key: o.tls.key,
        roleAlias: o.roleAlias ?? 'camwire-kvs',
        kvs: this.kvs!,
        ...(o.credentialsLifetimeSeconds ? { lifetimeSeconds: o.credentialsLifetimeSeconds } : {}),
      });
      await creds.start();
      this.stops.push(() => creds.stop());
      this.credentials = creds;
      this.urls.iotCredentials = `https://${this.at(await this.proxy('iot-credentials', creds.port))}`;
    }
  }
}
