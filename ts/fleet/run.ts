/**
 * `fleet run`: N simulated cameras, each its own mutual-TLS MQTT connection
 * with its own certificate (client id = thing name), the retained status
 * `online` with a last will `offline`, subscribed to its upload targets and
 * publishing QoS 1 telemetry with jitter. One small MQTT 3.1.1 client per
 * device (../mqtt/wire) over tls.connect, one TLS context per device (each has
 * its own key), built at connect time and dropped with the socket.
 */
import { fork } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import { FullJitterBackoff } from '../common/backoff';
import { checkThingName } from '../common/thing-name';
import { topics } from '../common/topics';
import { CamwireError } from '../errors';
import { LatencyRecorder } from './histogram';
import { mergeReports } from './report';
import { checkStreamOptions, FleetStreamOptions, FleetStreams } from './streams';
import type { FleetUploadOptions, FleetUploads, UploadDevice } from './uploads';
import { FLEET_REPORT_KIND, FLEET_REPORT_VERSION, FleetReport } from './report-types';
import { DISCONNECT, encodeConnect, encodePuback, encodePublish, encodeSubscribe, Inbound, MqttProtocolError, PACKET, PacketReader } from '../mqtt/wire';

/** The identity the fleet-side subscriber uses unless told otherwise: `{certs}/fleet-subscriber.pem` and `.key`. */
export const DEFAULT_SUBSCRIBER_THING = 'fleet-subscriber';

export interface DeviceCertFiles {
  thing: string;
  certFile: string;
  keyFile: string;
}

export interface FleetRunOptions {
  /** Directory of device certificates: `{thing}.pem` (or `.crt`, or `.chain.pem`) beside `{thing}.key`. */
  certsDir: string;
  /** mqtts://HOST:PORT */
  broker: string;
  /** CA PEM that signed the broker's certificate (else Node's root store); verification is always on. */
  brokerCaPem?: string;
  /** Devices in the whole fleet (every shard); default: every certificate in certsDir. */
  devices?: number;
  /** New connections per second over this process (or over its workers together). Default 100. */
  rate?: number;
  /** Seconds of steady state after the ramp (every device connected, or the connect timeout passed since the last start). Default 10. */
  durationS?: number;
  /** Seconds between two telemetry messages of one device (±10 % jitter). Default 1. */
  publishIntervalS?: number;
  /** This shard of the fleet: devices [floor(index·N/count), floor((index+1)·N/count)). */
  shard?: { index: number; count: number };
  /** One Node process per worker, each a sub-shard; the reports are merged. */
  workers?: number;
  /** A fleet-side subscriber on cameras/+/telemetry measuring publish-to-delivery latency. */
  subscriber?: boolean | { certFile: string; keyFile: string; thing?: string };
  keepaliveS?: number;
  connectTimeoutS?: number;
  /** Handshakes open at once during the ramp (default: one second's worth at `rate`, at least 50). */
  maxPending?: number;
  /** Largest packet accepted from the broker (default 64 KiB). */
  maxPacketBytes?: number;
  /** Devices [from, to) of the fleet, when a parent gives a worker its part (overrides shard). */
  range?: { from: number; to: number };
  /** Live KVS streams for the first `streams.count` devices of this shard (or of a worker's range, when a parent gives it one). */
  streams?: FleetStreamOptions;
  /** Upload cycles for the first `uploads.count` devices of this shard (or of a worker's range). */
  uploads?: FleetUploadOptions;
}

export interface FleetProgress {
  elapsedS: number;
  devices: number;
  connected: number;
  published: number;
  acknowledged: number;
  delivered: number;
  msgsPerS: number;
  p99PublishMs: number;
  errors: number;
  /** Upload cycles completed (with --uploads). */
  uploads?: number;
}

export interface FleetRunHooks {
  onProgress?: (p: FleetProgress) => void;
  /** A note (the descriptor limit raised, a first error of a kind): said once. */
  onNote?: (note: string) => void;
  signal?: AbortSignal;
}

// --- certificates -----------------------------------------------------------

/**
 * The device certificates in dir: in fleet.json's order when `fleet certs`
 * wrote one (device i is index i), else every `{thing}.key` with its
 * certificate, sorted by thing name. The subscriber's identity is left out.
 */
export function listDeviceCerts(dir: string, exclude: ReadonlySet<string> = new Set([DEFAULT_SUBSCRIBER_THING])): DeviceCertFiles[] {
  const index = path.join(dir, 'fleet.json');
  if (fs.existsSync(index)) return fromIndex(dir, index);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    throw new CamwireError('FLEET_CERTS_NOT_FOUND', `cannot read the certificate directory ${dir}: ${(e as Error).message}`, {
      hint: 'make them with `camwire fleet certs --ca DIR --count N --out DIR`',
    });
  }
  const set = new Set(names);
  const out: DeviceCertFiles[] = [];
  for (const n of names) {
    if (!n.endsWith('.key')) continue;
    const thing = n.slice(0, -4);
    if (exclude.has(thing)) continue;
    const cert = [`${thing}.pem`, `${thing}.crt`, `${thing}.chain.pem`].find((c) => set.has(c));
    if (!cert) continue;
    out.push({ thing, certFile: path.join(dir, cert), keyFile: path.join(dir, n) });
  }
  out.sort((a, b) => (a.thing < b.thing ? -1 : a.thing > b.thing ? 1 : 0));
  return out;
}

/** Devices of fleet.json (`fleet certs`): { devices: [{ index, thing, cert, key }] }, files relative to dir. */
function fromIndex(dir: string, file: string): DeviceCertFiles[] {
  const bad = (why: string) =>
    new CamwireError('FLEET_CERTS_NOT_FOUND', `${file}: ${why}`, { hint: 'make the certificates again with `camwire fleet certs` (existing ones are reused)' });
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw bad(`not readable JSON (${(e as Error).message})`);
  }
  const devices = (v as { devices?: unknown })?.devices;
  if (!Array.isArray(devices)) throw bad('no devices list');
  return devices.map((d: unknown, i) => {
    const x = d as { index?: unknown; thing?: unknown; cert?: unknown; key?: unknown };
    if (x?.index !== i || typeof x.thing !== 'string' || typeof x.cert !== 'string' || typeof x.key !== 'string') throw bad(`device ${i} is malformed`);
    checkThingName(x.thing);
    // File names only: an index never points outside its directory.
    if (path.basename(x.cert) !== x.cert || path.basename(x.key) !== x.key) throw bad(`device ${i} names files outside the directory`);
    return { thing: x.thing, certFile: path.join(dir, x.cert), keyFile: path.join(dir, x.key) };
  });
}

// --- shards -------------------------------------------------------------------

export function parseShard(spec: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(spec.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !(count >= 1) || !(index >= 0) || index >= count) {
    throw new CamwireError('FLEET_BAD_OPTIONS', `--shard ${spec} is not I/N with 0 <= I < N`, { hint: 'e.g. --shard 0/3, --shard 1/3, --shard 2/3' });
  }
  return { index, count };
}

/** Devices [from, to) of shard index of count over total: consecutive shards meet exactly, never overlap. */
export function shardRange(total: number, index: number, count: number): { from: number; to: number } {
  return { from: Math.floor((index * total) / count), to: Math.floor(((index + 1) * total) / count) };
}

// --- descriptors --------------------------------------------------------------

/** The soft and hard RLIMIT_NOFILE of this process (from /proc/self/limits; Infinity for unlimited). */
export function readFdLimit(): { soft: number; hard: number } | undefined {
  try {
    const line = fs
      .readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const m = line && /Max open files\s+(\S+)\s+(\S+)/.exec(line);
    if (!m) return undefined;
    const n = (s: string) => (s === 'unlimited' ? Infinity : Number(s));
    return { soft: n(m[1]!), hard: n(m[2]!) };
  } catch {
    return undefined;
  }
}

/**
 * Makes sure this process may hold `need` descriptors: Node has no
 * setrlimit, so the soft limit is raised to the hard one with util-linux
 * `prlimit --pid` (allowed for one's own process up to the hard limit).
 * Refuses with FLEET_FD_LIMIT, naming the limit and the fix, when the hard
 * limit is too low or the raise is not possible.
 */
export function ensureFdLimit(need: number, note: (s: string) => void): number {
  const lim = readFdLimit();
  if (!lim) return Infinity; // not Linux: EMFILE is still counted and stated if it comes
  if (lim.soft >= need) {
    note(`descriptors: ${need} needed, RLIMIT_NOFILE soft ${lim.soft}, hard ${lim.hard} (Node raises the soft limit to the hard one at start)`);
    return lim.soft;
  }
  if (lim.hard >= need) {
    const target = lim.hard === Infinity ? 'unlimited' : String(lim.hard);
    const r = spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${target}:${target}`], { encoding: 'utf8' });
    const after = readFdLimit();
    if (after && after.soft >= need) {
      note(`descriptor limit (RLIMIT_NOFILE) raised from ${lim.soft} to ${after.soft} (hard limit) for ${need} needed`);
      return after.soft;
    }
    const why = r.error ? `prlimit is not available (${r.error.message})` : `prlimit failed: ${(r.stderr || '').trim()}`;
    throw new CamwireError('FLEET_FD_LIMIT', `${need} descriptors needed, the soft limit (RLIMIT_NOFILE) is ${lim.soft} and ${why}`, {
      hint: `run under \`ulimit -n ${lim.hard}\` (or \`prlimit --nofile=${lim.hard}\`), or split the fleet with --workers / --shard`,
    });
  }
  throw new CamwireError('FLEET_FD_LIMIT', `${need} descriptors needed, the hard limit (RLIMIT_NOFILE) is ${lim.hard}`, {
    hint: `raise it (limits.conf nofile, systemd LimitNOFILE=, docker --ulimit nofile=${need}:${need}, a pod's container runtime), or split the fleet: --workers W or --shard I/N across machines`,
  });
}

// --- one device -------------------------------------------------------------------

const STATE_IDLE = 0;
const STATE_CONNECTING = 1;
const STATE_UP = 2;
const STATE_STOPPED = 3;

interface PendingResult {
  topic: string;
  payload: Buffer;
  resolve: () => void;
  reject: (e: Error) => void;
}

interface Inflight {
  seq: number;
  sentAtMs: number;
  t0: number;
  telemetry: boolean;
  /** An upload result: resolved at its PUBACK, sent again after a reconnect. */
  result?: PendingResult;
}

class Device implements UploadDevice {
  state = STATE_IDLE;
  socket: tls.TLSSocket | undefined;
  reader: PacketReader | undefined;
  seq = 0;
  private packetId = 0;
  inflight: Map<number, Inflight> | undefined;
  timer: NodeJS.Timeout | undefined;
  connectT0 = 0;
  everConnected = false;
  backoff: FullJitterBackoff | undefined;
  /** Upload results waiting for a connection. */
  private queued: PendingResult[] | undefined;

  constructor(
    readonly fleet: Fleet,
    readonly files: DeviceCertFiles,
  ) {}

  get thing(): string {
    return this.files.thing;
  }

  isUp(): boolean {
    return this.state === STATE_UP;
  }

  publishQos1(topic: string, payload: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const r: PendingResult = { topic, payload, resolve, reject };
      if (this.state === STATE_STOPPED) reject(new Error('the device stopped'));
      else if (this.state === STATE_UP && this.socket) this.sendResult(r);
      else (this.queued ??= []).push(r);
    });
  }

  private sendResult(r: PendingResult): void {
    const id = this.nextPacketId();
    this.track(id, { seq: 0, sentAtMs: 0, t0: 0, telemetry: false, result: r });
    this.socket!.write(encodePublish(r.topic, r.payload, { qos: 1, packetId: id }));
  }

  nextPacketId(): number {
    this.packetId = (this.packetId % 0xffff) + 1;
    return this.packetId;
  }

  connect(): void {
    const f = this.fleet;
    if (f.stopping) return;
    this.state = STATE_CONNECTING;
    f.connecting++;
    this.connectT0 = performance.now();
    f.connects++;
    let socket: tls.TLSSocket;
    try {
      const secureContext = tls.createSecureContext({
        cert: fs.readFileSync(this.files.certFile),
        key: fs.readFileSync(this.files.keyFile),
        ...(f.caPem ? { ca: f.caPem } : {}),
      });
      socket = tls.connect({
        host: f.host,
        port: f.port,
        secureContext,
        ...(net.isIP(f.host) ? {} : { servername: f.host }),
        rejectUnauthorized: true,
      });
    } catch (e) {
      this.failed(e);
      return;
    }
    this.socket = socket;
    this.reader = new PacketReader(f.maxPacket);
    socket.setNoDelay(true);
    // Written before the handshake ends: TLS sends it right after, one round trip less.
    socket.write(
      encodeConnect({
        clientId: this.files.thing,
        keepaliveS: f.keepaliveS,
        will: { topic: topics.status(this.files.thing), payload: 'offline', qos: 1, retain: true },
      }),
    );
    this.timer = setTimeout(() => this.failed(new CamwireError('FLEET_CONNECT_TIMEOUT', `no CONNACK within ${f.connectTimeoutMs} ms`)), f.connectTimeoutMs);
    socket.on('data', (chunk: Buffer) => {
      try {
        if (socket === this.socket) this.reader!.push(chunk, (p) => this.packet(p));
      } catch (e) {
        this.failed(e);
      }
    });
    // A late event of a socket already given up must not end its successor.
    socket.on('error', (e) => socket === this.socket && this.failed(e));
    socket.on('close', () => socket === this.socket && this.failed(undefined));
  }

  private packet(p: Inbound): void {
    const f = this.fleet;
    switch (p.type) {
      case PACKET.CONNACK: {
        if (this.state !== STATE_CONNECTING) throw new MqttProtocolError('a second CONNACK');
        if (p.returnCode !== 0) {
          throw new CamwireError('FLEET_CONNACK_REFUSED', `the broker refused ${this.files.thing}: CONNACK return code ${p.returnCode}`);
        }
        clearTimeout(this.timer);
        this.state = STATE_UP;
        f.connecting--;
        f.recConnect.recordMs(performance.now() - this.connectT0);
        if (this.everConnected) f.reconnects++;
        else f.everConnected++;
        this.everConnected = true;
        this.backoff?.reset();
        f.up(+1);
        const s = this.socket!;
        const id = this.nextPacketId();
        this.track(id, { seq: 0, sentAtMs: 0, t0: 0, telemetry: false });
        s.write(encodePublish(topics.status(this.files.thing), Buffer.from('online'), { qos: 1, retain: true, packetId: id }));
        s.write(encodeSubscribe(this.nextPacketId(), [{ topic: topics.uploadTargets(this.files.thing), qos: 1 }]));
        // What a lost connection left unacknowledged goes again (clean session: new packet ids).
        const again = this.inflight ? [...this.inflight.entries()].filter(([, m]) => m.telemetry || m.result) : [];
        for (const [oldId, m] of again) {
          this.inflight!.delete(oldId);
          if (m.result) this.sendResult(m.result);
          else this.sendTelemetry(m.seq, m.sentAtMs);
        }
        const queued = this.queued;
        this.queued = undefined;
        for (const r of queued ?? []) this.sendResult(r);
        this.timer = setTimeout(() => this.tick(), Math.random() * f.intervalMs);
        return;
      }
      case PACKET.PUBACK: {
        const m = this.inflight?.get(p.packetId);
        if (!m) return;
        this.inflight!.delete(p.packetId);
        if (m.telemetry) {
          f.acknowledged++;
          f.recPublish.recordMs(performance.now() - m.t0);
        } else m.result?.resolve();
        return;
      }
      case PACKET.PUBLISH:
        // Upload targets for this camera: acknowledged, and carried out by an uploading device.
        f.targetsReceived++;
        if (p.qos === 1) this.socket?.write(encodePuback(p.packetId));
        if (f.uploads?.has(this.files.thing)) f.uploads.receivedTarget(this.files.thing, p.payload);
        return;
      case PACKET.SUBACK:
        if (p.granted.some((g) => g === 0x80)) f.count('FLEET_SUBSCRIBE_REFUSED', `the broker refused ${this.files.thing} its upload-targets subscription`);
        return;
      default:
        return;
    }
  }

  private track(id: number, m: Inflight): void {
    (this.inflight ??= new Map()).set(id, m);
  }

  private tick(): void {
    const f = this.fleet;
    if (this.state !== STATE_UP || f.publishingStopped) return;
    this.seq++;
    f.published++;
    this.sendTelemetry(this.seq, performance.timeOrigin + performance.now());
    this.timer = setTimeout(() => this.tick(), f.intervalMs * (0.9 + 0.2 * Math.random()));
  }

  private sendTelemetry(seq: number, sentAtMs: number): void {
    const id = this.nextPacketId();
    const payload = Buffer.from(`{"thing":"${this.files.thing}","seq":${seq},"sentAt":${sentAtMs.toFixed(3)}}`);
    this.track(id, { seq, sentAtMs, t0: performance.now(), telemetry: true });
    this.socket!.write(encodePublish(this.fleet.telemetryTopic(this.files.thing), payload, { qos: 1, packetId: id }));
  }

  /** Any end of a connection: counted once, then a reconnect after backoff unless the run is over. */
  failed(e: unknown): void {
    const f = this.fleet;
    if (this.state === STATE_IDLE || this.state === STATE_STOPPED) return;
    const wasUp = this.state === STATE_UP;
    if (this.state === STATE_CONNECTING) f.connecting--;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.socket?.destroy();
    this.socket = undefined;
    this.reader = undefined;
    this.state = STATE_IDLE;
    if (wasUp) f.up(-1);
    if (f.stopping) {
      this.state = STATE_STOPPED;
      return;
    }
    f.countError(e, wasUp, this.files.thing);
    this.backoff ??= new FullJitterBackoff({ baseMs: 500, capMs: 30_000 });
    this.timer = setTimeout(() => this.connect(), this.backoff.next());
  }

  /** A clean goodbye: the retained status `offline` (a clean DISCONNECT suppresses the will), then DISCONNECT. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const s = this.socket;
    if (this.state === STATE_UP && s) {
      this.fleet.up(-1);
      s.write(encodePublish(topics.status(this.files.thing), Buffer.from('offline'), { qos: 1, retain: true, packetId: this.nextPacketId() }));
      s.end(DISCONNECT);
    } else {
      s?.destroy();
    }
    this.state = STATE_STOPPED;
    // Results still unacknowledged now never will be.
    const gone = new Error('not acknowledged by the end of the run');
    for (const r of this.queued ?? []) r.reject(gone);
    this.queued = undefined;
    if (this.inflight) for (const m of this.inflight.values()) m.result?.reject(gone);
  }

  get unacknowledged(): number {
    let n = 0;
    if (this.inflight) for (const m of this.inflight.values()) if (m.telemetry) n++;
    return n;
  }
}

// --- the fleet of one process ---------------------------------------------------------

class Fleet {
  readonly host: string;
  readonly port: number;
  readonly caPem: string | undefined;
  readonly keepaliveS: number;
  readonly connectTimeoutMs: number;
  readonly intervalMs: number;
  readonly maxPacket: number;
  stopping = false;
  publishingStopped = false;
  connected = 0;
  /** Devices between tls.connect and CONNACK: the ramp holds new ones back while the broker is this far behind. */
  connecting = 0;
  peakConnected = 0;
  everConnected = 0;
  connects = 0;
  reconnects = 0;
  published = 0;
  acknowledged = 0;
  targetsReceived = 0;
  /** The upload cycles, with --uploads. */
  uploads: FleetUploads | undefined;
  readonly errors: Record<string, number> = {};
  readonly notes: string[] = [];
  readonly recConnect = new LatencyRecorder();
  readonly recPublish = new LatencyRecorder();
  private readonly topicCache = new Map<string, string>();

  constructor(
    o: FleetRunOptions,
    private readonly note: (s: string) => void,
  ) {
    const u = parseBroker(o.broker);
    this.host = u.host;
    this.port = u.port;
    this.caPem = o.brokerCaPem;
    this.intervalMs = (o.publishIntervalS ?? 1) * 1000;
    // A PUBLISH counts as keep-alive traffic, so the interval bounds the silence.
    this.keepaliveS = o.keepaliveS ?? Math.max(60, Math.ceil((o.publishIntervalS ?? 1) * 2));
    this.connectTimeoutMs = (o.connectTimeoutS ?? 30) * 1000;
    this.maxPacket = o.maxPacketBytes ?? 65_536;
  }

  telemetryTopic(thing: string): string {
    let t = this.topicCache.get(thing);
    if (t === undefined) this.topicCache.set(thing, (t = topics.telemetry(thing)));
    return t;
  }

  /** Devices of this process; when all are connected at once the first time, `allConnectedAt` is set (performance.now()). */
  target = 0;
  allConnectedAt: number | undefined;

  up(d: number): void {
    this.connected += d;
    if (this.connected > this.peakConnected) this.peakConnected = this.connected;
    if (this.connected === this.target && this.allConnectedAt === undefined) this.allConnectedAt = performance.now();
  }

  count(code: string, message: string): void {
    const first = !this.errors[code];
    this.errors[code] = (this.errors[code] ?? 0) + 1;
    if (first) this.addNote(`${code}: ${message} (stated once; every occurrence is counted in errors)`);
  }

  addNote(s: string): void {
    this.notes.push(s);
    this.note(s);
  }

  countError(e: unknown, wasUp: boolean, thing: string): void {
    const { code, message } = classify(e, wasUp);
    this.count(code, `${thing}: ${message}`);
  }
}

function classify(e: unknown, wasUp: boolean): { code: string; message: string } {
  if (e === undefined) return { code: wasUp ? 'FLEET_CONNECTION_LOST' : 'FLEET_CONNECT_FAILED', message: 'the broker closed the connection' };
  if (e instanceof CamwireError) return { code: e.code, message: e.message };
  if (e instanceof MqttProtocolError) return { code: 'FLEET_PROTOCOL', message: e.message };
  const errno = (e as NodeJS.ErrnoException).code;
  const msg = e instanceof Error ? e.message : String(e);
  if (errno === 'EMFILE' || errno === 'ENFILE') {
    return { code: 'FLEET_FD_LIMIT', message: `${errno}: out of file descriptors (${msg}); raise RLIMIT_NOFILE or use --workers / --shard` };
  }
  if (errno === 'EADDRNOTAVAIL') {
    return {
      code: 'FLEET_PORTS_EXHAUSTED',
      message: `EADDRNOTAVAIL: no local port left towards the broker (${msg}); widen net.ipv4.ip_local_port_range, add broker addresses, or shard across machines`,
    };
  }
  return { code: wasUp ? 'FLEET_CONNECTION_LOST' : 'FLEET_CONNECT_FAILED', message: errno ? `${errno}: ${msg}` : msg };
}

function parseBroker(url: string): { host: string; port: number } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CamwireError('FLEET_BAD_OPTIONS', `--broker ${url} is not a URL`, { hint: 'mqtts://HOST:PORT' });
  }
  if (u.protocol !== 'mqtts:') {
    throw new CamwireError('FLEET_BAD_OPTIONS', `--broker ${url}: fleet cameras speak mutual TLS only (mqtts://)`, { hint: 'mqtts://HOST:PORT' });
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return { host, port: u.port ? Number(u.port) : 8883 };
}

// --- the fleet-side subscriber -------------------------------------------------------------

class DeliverySubscriber {
  delivered = 0;
  readonly things = new Set<string>();
  readonly rec = new LatencyRecorder();
  private socket: tls.TLSSocket | undefined;

  static async open(
    o: { host: string; port: number; caPem?: string; certFile: string; keyFile: string; thing: string; timeoutMs: number },
    onError: (code: string, msg: string) => void,
  ): Promise<DeliverySubscriber> {
    const sub = new DeliverySubscriber();
    const reader = new PacketReader(1 << 20);
    const socket = tls.connect({
      host: o.host,
      port: o.port,
      secureContext: tls.createSecureContext({ cert: fs.readFileSync(o.certFile), key: fs.readFileSync(o.keyFile), ...(o.caPem ? { ca: o.caPem } : {}) }),
      ...(net.isIP(o.host) ? {} : { servername: o.host }),
      rejectUnauthorized: true,
    });
    sub.socket = socket;
    socket.write(encodeConnect({ clientId: o.thing, keepaliveS: 60 }));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new CamwireError('FLEET_CONNECT_TIMEOUT', `the subscriber ${o.thing} got no SUBACK within ${o.timeoutMs} ms`)),
        o.timeoutMs,
      );
      const fail = (e: unknown) => {
        clearTimeout(t);
        reject(
          e instanceof CamwireError
            ? e
            : new CamwireError('FLEET_CONNECT_FAILED', `the fleet-side subscriber ${o.thing} could not connect: ${e instanceof Error ? e.message : 'closed'}`),
        );
      };
      socket.once('error', fail);
      socket.once('close', () => fail(undefined));
      socket.on('data', (chunk: Buffer) => {
        try {
          reader.push(chunk, (p) => {
            if (p.type === PACKET.CONNACK) {
              if (p.returnCode !== 0)
                throw new CamwireError('FLEET_CONNACK_REFUSED', `the broker refused the subscriber ${o.thing}: return code ${p.returnCode}`);
              socket.write(encodeSubscribe(1, [{ topic: topics.allTelemetry(), qos: 1 }]));
            } else if (p.type === PACKET.SUBACK) {
              clearTimeout(t);
              if (p.granted[0] === 0x80) {
                reject(
                  new CamwireError('FLEET_SUBSCRIBE_REFUSED', `the broker refused ${o.thing} the subscription ${topics.allTelemetry()}`, {
                    hint: `grant that identity read on ${topics.allTelemetry()} in the broker's ACL`,
                  }),
                );
              } else {
                socket.removeAllListeners('close');
                socket.removeAllListeners('error');
                socket.on('error', (e) => onError('FLEET_CONNECTION_LOST', `the subscriber: ${e.message}`));
                resolve();
              }
            } else if (p.type === PACKET.PUBLISH) {
              if (p.qos === 1) socket.write(encodePuback(p.packetId));
              sub.receive(p.payload);
            }
          });
        } catch (e) {
          socket.destroy();
          fail(e);
        }
      });
    });
    return sub;
  }

  private receive(payload: Buffer): void {
    const now = performance.timeOrigin + performance.now();
    let m: unknown;
    try {
      m = JSON.parse(payload.toString('utf8'));
    } catch {
      return;
    }
    if (!m || typeof m !== 'object') return;
    const { thing, sentAt } = m as { thing?: unknown; sentAt?: unknown };
    if (typeof thing !== 'string' || typeof sentAt !== 'number') return;
    this.delivered++;
    this.things.add(thing);
    this.rec.recordMs(now - sentAt);
  }

  close(): void {
    this.socket?.end(DISCONNECT);
  }
}

// --- runFleet ------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long the stop waits for the streams' last fragments to be PERSISTED before it aborts them. */
const STREAM_CLOSE_WAIT_MS = 15_000;
/** How long the stop waits for the upload cycles under way (their results acknowledged) before it cuts them. */
const UPLOAD_STOP_WAIT_MS = 15_000;

/** The upload module (and the AWS SDK under it) loads only with --uploads. */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the upload cycles (and the AWS SDK) load only with --uploads
const uploadsLib = () => require('./uploads') as typeof import('./uploads');

function camwireVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function checkOptions(o: FleetRunOptions): void {
  const bad = (m: string) => {
    throw new CamwireError('FLEET_BAD_OPTIONS', m);
  };
  if (o.rate !== undefined && !(o.rate > 0)) bad('--rate must be above 0');
  if (o.durationS !== undefined && !(o.durationS >= 0)) bad('--duration must be 0 or more');
  if (o.publishIntervalS !== undefined && !(o.publishIntervalS > 0)) bad('--publish-interval must be above 0');
  if (o.workers !== undefined && !(Number.isInteger(o.workers) && o.workers >= 1)) bad('--workers must be a whole number of 1 or more');
  if (o.devices !== undefined && !(Number.isInteger(o.devices) && o.devices >= 1)) bad('--devices must be a whole number of 1 or more');
  if (o.streams) checkStreamOptions(o.streams);
  if (o.uploads) uploadsLib().checkUploadOptions(o.uploads);
}

/** Resolves the devices of this run: the whole fleet's certificates, the shard's range. */
function planDevices(o: FleetRunOptions): { all: DeviceCertFiles[]; total: number; from: number; to: number; shard: { index: number; count: number } } {
  const subscriberThing = typeof o.subscriber === 'object' ? (o.subscriber.thing ?? DEFAULT_SUBSCRIBER_THING) : DEFAULT_SUBSCRIBER_THING;
  const all = listDeviceCerts(o.certsDir, new Set([subscriberThing]));
  const total = o.devices ?? all.length;
  if (total > all.length) {
    throw new CamwireError('FLEET_CERTS_NOT_FOUND', `--devices ${total} but ${o.certsDir} holds ${all.length} device certificates`, {
      hint: `make the rest with \`camwire fleet certs --count ${total} …\``,
    });
  }
  if (total === 0) throw new CamwireError('FLEET_CERTS_NOT_FOUND', `${o.certsDir} holds no device certificates ({thing}.pem with {thing}.key)`);
  const shard = o.shard ?? { index: 0, count: 1 };
  const { from, to } = o.range ?? shardRange(total, shard.index, shard.count);
  return { all, total, from, to, shard };
}

/**
 * Runs this process's part of the fleet (or, with `workers` > 1, forks that
 * many processes for it and merges their reports) and resolves with the report.
 */
export async function runFleet(options: FleetRunOptions, hooks: FleetRunHooks = {}): Promise<FleetReport> {
  checkOptions(options);
  const plan = planDevices(options);
  const workers = Math.min(options.workers ?? 1, Math.max(1, plan.to - plan.from));
  // The local S3 store (--s3-local) runs here, once for every worker: they are given its endpoint and keys.
  const u = options.uploads;
  let store: Awaited<ReturnType<typeof import('./uploads').startLocalStore>> | undefined;
  let o = options;
  if (u?.localStoreDir && u.presign && u.count > 0) {
    store = await uploadsLib().startLocalStore(u.localStoreDir, u.presign.bucket, u.presign.region ?? 'us-east-1');
    hooks.onNote?.(`camwire's local S3 store for the uploads: ${store.endpoint}, bucket ${u.presign.bucket}, objects in ${u.localStoreDir}`);
    const rest = { ...u };
    delete rest.localStoreDir;
    o = { ...options, uploads: { ...rest, presign: { ...u.presign, endpoint: store.endpoint, credentials: store.credentials } } };
  }
  try {
    if (workers > 1) return await runWorkers(o, plan, workers, hooks);
    return await runHere(o, plan, hooks);
  } finally {
    await store?.stop();
  }
}

async function runHere(o: FleetRunOptions, plan: ReturnType<typeof planDevices>, hooks: FleetRunHooks): Promise<FleetReport> {
  const startedAt = new Date();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const rssStart = process.memoryUsage.rss();
  const noteFn = hooks.onNote ?? (() => undefined);
  const fleet = new Fleet(o, noteFn);
  const count = plan.to - plan.from;
  const streamCount = Math.min(count, o.streams?.count ?? 0);
  const uploadCount = Math.min(count, o.uploads?.count ?? 0);
  // A stream holds a PutMedia connection and, now and then, a GetDataEndpoint one; an upload one HTTP connection and its file.
  const fdLimit = ensureFdLimit(count + 64 + (o.subscriber ? 1 : 0) + 2 * streamCount + 2 * uploadCount, (s) => fleet.addNote(s));
  const devices = plan.all.slice(plan.from, plan.to).map((f) => new Device(fleet, f));
  fleet.target = count;
  const rate = o.rate ?? 100;
  const durationMs = (o.durationS ?? 10) * 1000;

  let subscriber: DeliverySubscriber | undefined;
  if (o.subscriber) {
    const s = typeof o.subscriber === 'object' ? o.subscriber : undefined;
    const thing = s?.thing ?? DEFAULT_SUBSCRIBER_THING;
    const certFile = s?.certFile ?? path.join(o.certsDir, `${thing}.pem`);
    const keyFile = s?.keyFile ?? path.join(o.certsDir, `${thing}.key`);
    if (!fs.existsSync(certFile) || !fs.existsSync(keyFile)) {
      throw new CamwireError('FLEET_CERTS_NOT_FOUND', `the fleet-side subscriber needs its own identity: ${certFile} and ${keyFile}`, {
        hint: `issue a certificate for "${thing}" into the certificate directory and grant it read on ${topics.allTelemetry()} in the broker's ACL`,
      });
    }
    subscriber = await DeliverySubscriber.open(
      { host: fleet.host, port: fleet.port, caPem: o.brokerCaPem, certFile, keyFile, thing, timeoutMs: fleet.connectTimeoutMs },
      (c, m) => fleet.count(c, m),
    );
  }

  // The streams start with the ramp: the first streamCount devices of this range.
  const streams = streamCount > 0 ? new FleetStreams(o.streams!, (c, m) => fleet.count(c, m)) : undefined;
  try {
    await streams?.start(devices.slice(0, streamCount));
  } catch (e) {
    streams?.abort();
    subscriber?.close();
    throw e;
  }
  // The upload cycles too: the first uploadCount devices (a cycle waits for its device to be connected).
  if (uploadCount > 0) {
    const uploads = new (uploadsLib().FleetUploads)(o.uploads!, (c, m) => fleet.count(c, m));
    try {
      await uploads.start(devices.slice(0, uploadCount));
    } catch (e) {
      uploads.abortAll();
      streams?.abort();
      subscriber?.close();
      throw e;
    }
    fleet.uploads = uploads;
    if (!o.uploads!.presign) {
      fleet.addNote(
        `uploads: ${uploadCount} devices carry out the targets a back end sends on cameras/{thing}/upload-targets (no --s3-bucket or --s3-local: the fleet presigns none)`,
      );
    }
  }
  const uploads = fleet.uploads;

  let peakRss = process.memoryUsage.rss();
  const ramp: Array<{ t: number; connected: number }> = [];
  let lastPublished = 0;
  let lastSample = t0;
  const sampler = setInterval(() => {
    const now = performance.now();
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    ramp.push({ t: Math.round((now - t0) / 1000), connected: fleet.connected });
    const msgsPerS = ((fleet.published - lastPublished) * 1000) / Math.max(1, now - lastSample);
    lastPublished = fleet.published;
    lastSample = now;
    hooks.onProgress?.({
      elapsedS: (now - t0) / 1000,
      devices: count,
      connected: fleet.connected,
      published: fleet.published,
      acknowledged: fleet.acknowledged,
      delivered: subscriber?.delivered ?? 0,
      msgsPerS,
      p99PublishMs: fleet.recPublish.percentileMs(99),
      errors: Object.values(fleet.errors).reduce((a, b) => a + b, 0),
      ...(uploads ? { uploads: uploads.totals().completed } : {}),
    });
  }, 1000);

  const aborted = () => hooks.signal?.aborted === true;
  // The ramp: connects started at `rate` per second, checked every 10 ms, with
  // at most `maxPending` handshakes open: above what the broker (or this
  // machine) completes, the ramp slows to its pace instead of piling up
  // handshakes until they time out.
  const maxPending = o.maxPending ?? Math.max(50, Math.ceil(rate));
  let started = 0;
  let held = false;
  while (started < count && !aborted()) {
    const due = Math.min(count, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
    while (started < due && fleet.connecting < maxPending) devices[started++]!.connect();
    if (started < due && !held) {
      held = true;
      fleet.addNote(`the ramp was held back at ${started} started: ${maxPending} handshakes were open (the broker's pace is below --rate ${rate}/s)`);
    }
    if (started < count) await sleep(10);
  }
  const rampStartedAt = t0;
  // The ramp ends when every device is connected (or the connect timeout has passed since the last start).
  const rampDeadline = performance.now() + fleet.connectTimeoutMs;
  while (fleet.allConnectedAt === undefined && performance.now() < rampDeadline && !aborted()) await sleep(10);
  // Steady state.
  const endAt = performance.now() + durationMs;
  while (performance.now() < endAt && !aborted()) await sleep(Math.min(100, endAt - performance.now()));
  // Memory per camera: RSS with the fleet up, after the handshakes' garbage had the steady state to go.
  const rssUp = process.memoryUsage.rss();
  const connectedUp = fleet.connected;

  // Drain: no new telemetry; wait for the PUBACKs of what was sent. The streams close meanwhile (each waits for its PERSISTED acks).
  fleet.publishingStopped = true;
  const streamsStopped = streams?.stop(STREAM_CLOSE_WAIT_MS);
  const uploadsStopped = uploads?.stop(UPLOAD_STOP_WAIT_MS);
  const drainUntil = performance.now() + Math.max(5000, fleet.connectTimeoutMs);
  const unacked = () => fleet.published - fleet.acknowledged;
  while (unacked() > 0 && fleet.connected > 0 && performance.now() < drainUntil) await sleep(20);
  if (subscriber) {
    const deliverUntil = performance.now() + 5000;
    while (subscriber.delivered < fleet.acknowledged && performance.now() < deliverUntil) await sleep(20);
  }
  await streamsStopped;
  await uploadsStopped;
  fleet.stopping = true;
  clearInterval(sampler);
  for (const d of devices) d.stop();
  subscriber?.close();
  // Let the goodbyes leave before the process may exit.
  await sleep(Math.min(2000, 200 + count / 10));
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  const cpu = process.cpuUsage(cpu0);
  const lost = devices.reduce((s, d) => s + d.unacknowledged, 0);
  if (lost > 0) fleet.addNote(`${lost} telemetry messages were not acknowledged by the end of the run`);
  ramp.push({ t: Math.round((performance.now() - t0) / 1000), connected: fleet.connected });

  const report: FleetReport = {
    kind: FLEET_REPORT_KIND,
    version: FLEET_REPORT_VERSION,
    camwire: camwireVersion(),
    shards: [{ index: plan.shard.index, count: plan.shard.count, from: plan.from, to: plan.to }],
    broker: o.broker,
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - t0),
    devices: count,
    connected: fleet.peakConnected,
    everConnected: fleet.everConnected,
    connects: fleet.connects,
    reconnects: fleet.reconnects,
    published: fleet.published,
    acknowledged: fleet.acknowledged,
    ...(subscriber ? { delivered: subscriber.delivered, deliveredThings: subscriber.things.size } : {}),
    errors: fleet.errors,
    latency: {
      connect: fleet.recConnect.summary(),
      publish: fleet.recPublish.summary(),
      ...(subscriber ? { delivery: subscriber.rec.summary() } : {}),
      ...(streams ? { persist: streams.persist.summary() } : {}),
      ...(uploads ? { upload: uploads.latency.summary() } : {}),
    },
    ...(streams ? { streams: streams.totals() } : {}),
    ...(uploads ? { uploads: uploads.totals() } : {}),
    ramp,
    processes: [
      {
        shard: plan.shard.index,
        pid: process.pid,
        cpuUserMs: Math.round(cpu.user / 1000),
        cpuSystemMs: Math.round(cpu.system / 1000),
        rssStartBytes: rssStart,
        peakRssBytes: peakRss,
        fdLimit: Number.isFinite(fdLimit) ? fdLimit : -1,
      },
    ],
    ...(connectedUp > 0 ? { rssPerDeviceBytes: Math.round((rssUp - rssStart) / connectedUp) } : {}),
    ...(fleet.allConnectedAt !== undefined ? { rampMs: Math.round(fleet.allConnectedAt - rampStartedAt) } : {}),
    notes: fleet.notes,
  };
  return report;
}

// --- workers ----------------------------------------------------------------------------------

/** What a worker process is sent (IPC) and sends back. */
export type WorkerRequest = { kind: 'run'; options: FleetRunOptions };
export type WorkerMessage =
  | { kind: 'progress'; progress: FleetProgress }
  | { kind: 'note'; note: string }
  | { kind: 'report'; report: FleetReport }
  | { kind: 'error'; code: string; message: string; hint?: string };

async function runWorkers(o: FleetRunOptions, plan: ReturnType<typeof planDevices>, workers: number, hooks: FleetRunHooks): Promise<FleetReport> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const rssStart = process.memoryUsage.rss();
  const startedAt = new Date();
  const entry = path.join(__dirname, `run-worker${path.extname(__filename)}`);
  const notes: string[] = [];
  const note = (s: string) => {
    notes.push(s);
    hooks.onNote?.(s);
  };
  const progress: Array<FleetProgress | undefined> = [];
  const n = plan.to - plan.from;
  const subscriberOpt = o.subscriber;

  // The fleet-side subscriber lives in the parent: one identity for all the workers.
  let subscriber: DeliverySubscriber | undefined;
  const subErrors: Record<string, number> = {};
  if (subscriberOpt) {
    const s = typeof subscriberOpt === 'object' ? subscriberOpt : undefined;
    const thing = s?.thing ?? DEFAULT_SUBSCRIBER_THING;
    const { host, port } = parseBroker(o.broker);
    subscriber = await DeliverySubscriber.open(
      {
        host,
        port,
        caPem: o.brokerCaPem,
        certFile: s?.certFile ?? path.join(o.certsDir, `${thing}.pem`),
        keyFile: s?.keyFile ?? path.join(o.certsDir, `${thing}.key`),
        thing,
        timeoutMs: (o.connectTimeoutS ?? 30) * 1000,
      },
      (c) => (subErrors[c] = (subErrors[c] ?? 0) + 1),
    );
  }
  const timer = setInterval(() => {
    const ps = progress.filter((p): p is FleetProgress => p !== undefined);
    if (!ps.length) return;
    hooks.onProgress?.({
      elapsedS: (performance.now() - t0) / 1000,
      devices: n,
      connected: ps.reduce((s, p) => s + p.connected, 0),
      published: ps.reduce((s, p) => s + p.published, 0),
      acknowledged: ps.reduce((s, p) => s + p.acknowledged, 0),
      delivered: subscriber?.delivered ?? 0,
      msgsPerS: ps.reduce((s, p) => s + p.msgsPerS, 0),
      p99PublishMs: Math.max(...ps.map((p) => p.p99PublishMs)),
      errors: ps.reduce((s, p) => s + p.errors, 0),
      ...(o.uploads ? { uploads: ps.reduce((s, p) => s + (p.uploads ?? 0), 0) } : {}),
    });
  }, 1000);

  const runs = Array.from({ length: workers }, (_, w) => {
    const range = { from: plan.from + Math.floor((w * n) / workers), to: plan.from + Math.floor(((w + 1) * n) / workers) };
    const child = fork(entry, [], { execArgv: process.execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const onAbort = () => child.kill('SIGINT');
    hooks.signal?.addEventListener('abort', onAbort, { once: true });
    const opts: FleetRunOptions = {
      ...o,
      workers: 1,
      subscriber: false,
      range,
      rate: (o.rate ?? 100) / workers,
      ...(o.maxPending ? { maxPending: Math.max(1, Math.ceil(o.maxPending / workers)) } : {}),
      devices: plan.total,
      shard: plan.shard,
      // The shard's first K devices stream: each worker those of them in its range.
      ...(o.streams ? { streams: { ...o.streams, count: Math.max(0, Math.min(range.to, plan.from + o.streams.count) - range.from) } } : {}),
      ...(o.uploads ? { uploads: { ...o.uploads, count: Math.max(0, Math.min(range.to, plan.from + o.uploads.count) - range.from) } } : {}),
    };
    child.send({ kind: 'run', options: opts } satisfies WorkerRequest);
    return new Promise<FleetReport>((resolve, reject) => {
      let report: FleetReport | undefined;
      let error: CamwireError | undefined;
      child.on('message', (m: WorkerMessage) => {
        if (m.kind === 'progress') progress[w] = m.progress;
        else if (m.kind === 'note') note(`worker ${w}: ${m.note}`);
        else if (m.kind === 'report') report = m.report;
        else if (m.kind === 'error') error = new CamwireError(m.code as 'FLEET_WORKER_FAILED', `worker ${w}: ${m.message}`, m.hint ? { hint: m.hint } : {});
      });
      child.on('exit', (code, sig) => {
        hooks.signal?.removeEventListener('abort', onAbort);
        if (report) resolve(report);
        else reject(error ?? new CamwireError('FLEET_WORKER_FAILED', `worker ${w} (pid ${child.pid}) exited with ${sig ?? code} before its report`));
      });
    });
  });
  let reports: FleetReport[];
  try {
    reports = await Promise.all(runs);
  } finally {
    clearInterval(timer);
  }
  if (subscriber) {
    const acked = reports.reduce((s, r) => s + r.acknowledged, 0);
    const until = performance.now() + 5000;
    while (subscriber.delivered < acked && performance.now() < until) await sleep(20);
    subscriber.close();
  }
  // The same merge as `fleet merge`: histograms added, counts summed.
  const merged = mergeReports(reports);
  const cpu = process.cpuUsage(cpu0);
  merged.shards = [{ index: plan.shard.index, count: plan.shard.count, from: plan.from, to: plan.to }];
  merged.startedAt = startedAt.toISOString();
  merged.durationMs = Math.round(performance.now() - t0);
  for (const [k, v] of Object.entries(subErrors)) merged.errors[k] = (merged.errors[k] ?? 0) + v;
  merged.processes.push({
    shard: plan.shard.index,
    pid: process.pid,
    cpuUserMs: Math.round(cpu.user / 1000),
    cpuSystemMs: Math.round(cpu.system / 1000),
    rssStartBytes: rssStart,
    peakRssBytes: Math.max(rssStart, process.memoryUsage.rss()),
    fdLimit: readFdLimit()?.soft ?? -1,
  });
  merged.notes = [...notes, ...merged.notes.filter((x) => !notes.some((y) => y.endsWith(x)))];
  if (subscriber) {
    merged.delivered = subscriber.delivered;
    merged.deliveredThings = subscriber.things.size;
    merged.latency.delivery = subscriber.rec.summary();
  }
  return merged;
}
