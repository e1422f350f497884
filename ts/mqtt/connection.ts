/**
 * A camera's MQTT connection, as a camera talks to AWS IoT Core: client id =
 * thing name, mutual TLS with SNI (and ALPN `x-amzn-mqtt-ca` on port 443),
 * reconnect with full-jitter backoff, QoS 1 through an outbox, and a retained
 * `online` status with a last-will `offline`.
 */
import { EventEmitter } from 'node:events';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import net from 'node:net';
import mqtt, { IClientOptions, MqttClient, IPublishPacket, IConnackPacket, Packet } from 'mqtt';
import { CamwireError } from '../errors';
import { checkThingName } from '../common/thing-name';
import { BackoffOptions, FullJitterBackoff } from '../common/backoff';
import { classifyMqttError } from './errors';
import { DurableOutbox, MemoryOutbox, Outbox, OutboxRecord } from './outbox';
import { topics } from '../common/topics';
import { filterPubacks } from './puback-filter';
import { encodePublishInto, publishSize } from './wire';

/** A topic a message may be published on: not empty, no wildcard, no NUL. */
function checkPublishTopic(topic: string): void {
  if (!topic || topic.includes('+') || topic.includes('#') || topic.includes('\0')) {
    throw new CamwireError('MQTT_BAD_OPTIONS', `cannot publish on "${topic}": a topic to publish on has no wildcard (+ #), no NUL and is not empty`);
  }
}

/** A QoS 1 message that fits one MQTT packet (topic up to 65 535 bytes, packet up to 256 MiB); refused before the outbox otherwise. */
function checkPublishSize(topic: string, payloadBytes: number): void {
  try {
    publishSize(Buffer.byteLength(topic, 'utf8'), payloadBytes, 1);
  } catch (e) {
    throw new CamwireError('MQTT_BAD_OPTIONS', `cannot publish ${payloadBytes} bytes on "${topic.slice(0, 80)}": ${(e as Error).message}`);
  }
}

/**
 * Packet ids shared by mqtt.js (its own publishes and subscriptions) and the
 * QoS 1 fast path below: two packets in flight never share an id.
 */
class SharedPacketIds implements NonNullable<IClientOptions['messageIdProvider']> {
  private readonly used = new Set<number>();
  private next = 1;
  private last: number | null = null;

  allocate(): number | null {
    if (this.used.size >= 0xffff) return null;
    while (this.used.has(this.next)) this.next = (this.next % 0xffff) + 1;
    const id = this.next;
    this.used.add(id);
    this.last = id;
    this.next = (id % 0xffff) + 1;
    return id;
  }

  getLastAllocated(): number | null {
    return this.last;
  }

  register(id: number): boolean {
    if (this.used.has(id)) return false;
    this.used.add(id);
    return true;
  }

  deallocate(id: number): void {
    this.used.delete(id);
  }

  clear(): void {
    this.used.clear();
  }
}

export type MqttVersion = 4 | 5;

export interface DeviceConnectionOptions {
  /** `mqtt://host:port` (plain, bring-up) or `mqtts://host:port` (mutual TLS). */
  url: string;
  /** Thing name: the client id, and the `{thing}` of every topic. */
  thing: string;
  /** Client certificate PEM (may hold the chain: leaf then CA, for JITP). */
  cert?: string | Buffer;
  /** Client private key PEM. */
  key?: string | Buffer;
  /** CA(s) to trust for the broker. Without it Node's default roots are used. */
  ca?: string | Buffer;
  /** Verify the broker's certificate (default true). */
  rejectUnauthorized?: boolean;
  /** TLS server name; default the URL host when it is a name. */
  servername?: string;
  /** ALPN protocols; default `['x-amzn-mqtt-ca']` on port 443, none otherwise. */
  alpn?: string[];
  /** 4 = MQTT 3.1.1 (default), 5 = MQTT 5. */
  protocolVersion?: MqttVersion;
  keepaliveSeconds?: number;
  /** Clean session (default true). */
  clean?: boolean;
  /** Milliseconds to wait for CONNACK on each attempt (default 10000). */
  connectTimeoutMs?: number;
  /** Publish retained `online` on connect with a last will `offline` (default true). */
  status?: boolean;
  backoff?: BackoffOptions;
  /** Directory of the durable outbox; without it QoS 1 messages wait in memory. */
  outboxDir?: string;
  /** QoS 1 messages in flight at once (default 64; AWS IoT allows 100). */
  maxInFlight?: number;
  /** Keep retrying after errors that the same identity cannot fix (default false). */
  retryFatal?: boolean;
}

export interface PublishOptions {
  qos?: 0 | 1;
  retain?: boolean;
}

export interface DeviceConnectionEvents {
  connect: [info: { sessionPresent: boolean; attempt: number }];
  /**
   * Every failed attempt or lost connection; `fatal` ones stop the retries.
   * Optional: unlike a plain EventEmitter, no listener means no throw.
   */
  error: [err: CamwireError, info: { fatal: boolean }];
  reconnecting: [info: { attempt: number; delayMs: number }];
  offline: [];
  message: [topic: string, payload: Buffer, packet: IPublishPacket];
  /** A QoS 1 message the broker acknowledged. */
  delivered: [rec: OutboxRecord];
}

interface Delivery {
  resolve(): void;
  reject(e: Error): void;
  /** A publishMany: messages still unacknowledged (it resolves at 0, rejects at the first refusal). */
  left?: number;
  failed?: boolean;
}

export class DeviceConnection extends EventEmitter<DeviceConnectionEvents> {
  readonly thing: string;
  readonly url: URL;
  private client: MqttClient | undefined;
  private outbox!: Outbox;
  private readonly backoff: FullJitterBackoff;
  private readonly subscriptions = new Map<string, 0 | 1>();
  private readonly deliveries = new Map<number, Delivery>();
  private readonly drainWaiters: Delivery[] = [];
  /** Records not yet handed to the current connection, in order. */
  private toSend = new RecordQueue();
  private corked = false;
  /** Records handed to the current connection and waiting for PUBACK. */
  private readonly inFlight = new Map<number, OutboxRecord>();
  /**
   * MQTT 3.1.1: the outbox's QoS 1 messages are encoded here and written to
   * the socket directly, their PUBACKs matched by packet id (mqtt.js ignores
   * acks it did not send for). mqtt.js's publish path (option clone, store,
   * packet object, several writes, debug calls) was about a third of the
   * CPU of `mqtt pub --count 20000`. MQTT 5 keeps mqtt.js's path (properties).
   */
  private readonly ids = new SharedPacketIds();
  private readonly fastById = new Map<number, OutboxRecord>();
  private generation = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private stopped = false;
  private lastError: CamwireError | undefined;
  private firstConnect: { resolve(): void; reject(e: Error): void } | undefined;

  constructor(private readonly options: DeviceConnectionOptions) {
    super();
    this.thing = checkThingName(options.thing);
    try {
      this.url = new URL(options.url);
    } catch {
      throw new CamwireError('MQTT_BAD_OPTIONS', `"${options.url}" is not a URL; use mqtt://HOST:PORT or mqtts://HOST:PORT`);
    }
    if (!['mqtt:', 'mqtts:'].includes(this.url.protocol)) {
      throw new CamwireError('MQTT_BAD_OPTIONS', `unsupported scheme ${this.url.protocol} in ${options.url}; use mqtt:// or mqtts://`);
    }
    if (this.url.protocol === 'mqtts:') {
      checkIdentity(options, this.thing);
      checkCa(options);
    }
    this.backoff = new FullJitterBackoff(options.backoff);
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  /** Messages an earlier run left unacknowledged in the durable outbox, found when connect() opened it; they go out first. */
  recovered = 0;

  /** Pending QoS 1 messages (in the outbox, not yet acknowledged). */
  get pendingCount(): number {
    return this.outbox?.size ?? 0;
  }

  /**
   * Connects, retrying transient failures with backoff. Resolves on the first
   * CONNACK; rejects with the classified error when a failure is fatal, or
   * after `timeoutMs` (default: never) with the last error seen.
   */
  async connect(o: { timeoutMs?: number } = {}): Promise<void> {
    if (this.client) throw new CamwireError('MQTT_BAD_OPTIONS', 'connect() was already called');
    this.outbox = this.options.outboxDir ? await DurableOutbox.open(this.options.outboxDir) : new MemoryOutbox();
    this.toSend = new RecordQueue(this.outbox.pending());
    this.recovered = this.toSend.length;
    const done = new Promise<void>((resolve, reject) => {
      this.firstConnect = { resolve, reject };
    });
    let timer: NodeJS.Timeout | undefined;
    if (o.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        const last = this.lastError;
        this.failFirstConnect(
          last
            ? new CamwireError(last.code, `${last.message} (gave up after ${o.timeoutMs} ms)`, { cause: last, ...(last.hint ? { hint: last.hint } : {}) })
            : new CamwireError('MQTT_CONNECT_TIMEOUT', `no connection to ${this.options.url} within ${o.timeoutMs} ms`),
        );
        void this.close({ force: true });
      }, o.timeoutMs);
    }
    this.client = mqtt.connect(this.clientOptions());
    this.wire(this.client);
    try {
      await done;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  private clientOptions(): IClientOptions {
    const o = this.options;
    const tls = this.url.protocol === 'mqtts:';
    const host = this.url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = this.url.port ? Number(this.url.port) : tls ? 8883 : 1883;
    const statusTopic = topics.status(this.thing);
    const opts: IClientOptions = {
      protocol: tls ? 'mqtts' : 'mqtt',
      host,
      port,
      clientId: this.thing,
      protocolVersion: o.protocolVersion ?? 4,
      keepalive: o.keepaliveSeconds ?? 60,
      clean: o.clean ?? true,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      // camwire drives reconnects itself (full jitter backoff); see onClose().
      reconnectPeriod: 0,
      resubscribe: false,
      queueQoSZero: false,
      timerVariant: 'native',
      messageIdProvider: this.ids,
    };
    if (o.status !== false) {
      opts.will = { topic: statusTopic, payload: Buffer.from('offline'), qos: 1, retain: true };
    }
    if (tls) {
      if (o.cert) opts.cert = o.cert;
      if (o.key) opts.key = o.key;
      if (o.ca) opts.ca = o.ca;
      opts.rejectUnauthorized = o.rejectUnauthorized !== false;
      const servername = o.servername ?? (net.isIP(host) ? undefined : host);
      if (servername) opts.servername = servername;
      const alpn = o.alpn ?? (port === 443 ? ['x-amzn-mqtt-ca'] : undefined);
      if (alpn) opts.ALPNProtocols = alpn;
    }
    return opts;
  }

  private wire(client: MqttClient): void {
    client.on('connect', (packet: IConnackPacket) => this.onConnect(packet));
    client.on('close', () => this.onClose());
    client.on('error', (err: Error) => this.onError(err));
    client.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => this.emit('message', topic, payload, packet));
    client.on('packetreceive', (packet: Packet) => {
      if (packet.cmd === 'puback' && packet.messageId !== undefined) this.onFastPuback(packet.messageId);
    });
  }

  private get fast(): boolean {
    return (this.options.protocolVersion ?? 4) === 4;
  }

  /** Whether packet id is one of camwire's own publishes (then settled); false for mqtt.js's own. */
  private onFastPuback(id: number): boolean {
    const rec = this.fastById.get(id);
    if (!rec) return false;
    this.fastById.delete(id);
    this.ids.deallocate(id);
    if (this.inFlight.get(rec.seq) !== rec) return true;
    this.inFlight.delete(rec.seq);
    this.outbox.ack(rec.seq);
    this.emit('delivered', rec);
    this.settle(rec.seq);
    this.pump();
    return true;
  }

  private onConnect(packet: IConnackPacket): void {
    this.generation++;
    // camwire's PUBACKs are taken out of the socket's bytes before mqtt.js parses them (see puback-filter.ts).
    if (this.fast && this.client?.stream) filterPubacks(this.client.stream, (id) => this.onFastPuback(id));
    const attempt = this.backoff.attempts;
    this.backoff.reset();
    this.lastError = undefined;
    const sessionPresent = packet.sessionPresent === true;
    if (this.options.status !== false) {
      this.client!.publish(topics.status(this.thing), 'online', { qos: 1, retain: true }, () => {
        /* re-sent on next connect */
      });
    }
    if (!sessionPresent && this.subscriptions.size) {
      const subs: Record<string, { qos: 0 | 1 }> = {};
      for (const [t, qos] of this.subscriptions) subs[t] = { qos };
      this.client!.subscribe(subs, () => {
        /* errors surface as 'error' events */
      });
    }
    this.emit('connect', { sessionPresent, attempt });
    if (this.firstConnect) {
      this.firstConnect.resolve();
      this.firstConnect = undefined;
    }
    this.pump();
  }

  private onError(err: Error): void {
    const c = classifyMqttError(err, { url: this.options.url, thing: this.thing });
    this.lastError = c.error;
    // Without a listener an 'error' event would throw; the failure still
    // reaches the caller through connect()'s rejection and lastError.
    if (this.listenerCount('error') > 0) this.emit('error', c.error, { fatal: c.fatal });
    if (c.fatal && !this.options.retryFatal) {
      this.stopped = true;
      this.failFirstConnect(c.error);
    }
  }

  private failFirstConnect(e: CamwireError): void {
    if (!this.firstConnect) return;
    this.firstConnect.reject(e);
    this.firstConnect = undefined;
  }

  private onClose(): void {
    // Whatever was in flight on the lost connection is sent again, in order,
    // on the next one: mqtt.js's own store does not survive reconnect().
    // mqtt.js keeps callbacks of the lost connection's packets; they will
    // never fire, and a clean end() would wait for them forever.
    const client = this.client;
    if (client) for (const id of Object.keys(client.outgoing)) delete client.outgoing[Number(id)];
    for (const id of this.fastById.keys()) this.ids.deallocate(id);
    this.fastById.clear();
    if (this.inFlight.size) {
      this.toSend = new RecordQueue([...this.inFlight.values(), ...this.toSend.drain()].sort((a, b) => a.seq - b.seq));
      this.inFlight.clear();
    }
    this.emit('offline');
    if (this.closing || this.stopped || this.reconnectTimer) {
      if (this.stopped && !this.closing) void this.close({ force: true });
      return;
    }
    const delayMs = this.backoff.next();
    this.emit('reconnecting', { attempt: this.backoff.attempts, delayMs });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.closing && !this.stopped) this.client?.reconnect();
    }, delayMs);
  }

  /**
   * Publishes a message. QoS 1 (the default) goes through the outbox and the
   * promise resolves on PUBACK, however many reconnects that takes; QoS 0 is
   * sent only when connected and resolves once written.
   */
  async publish(topic: string, payload: string | Buffer, o: PublishOptions = {}): Promise<void> {
    const buf = typeof payload === 'string' ? Buffer.from(payload) : payload;
    if ((o.qos ?? 1) === 0) {
      const client = this.requireClient();
      if (!client.connected) throw new CamwireError('MQTT_NOT_CONNECTED', 'QoS 0 messages are not queued while offline; use QoS 1');
      await new Promise<void>((res, rej) => client.publish(topic, buf, { qos: 0, retain: o.retain ?? false }, (e) => (e ? rej(e) : res())));
      return;
    }
    const { delivered } = await this.enqueue(topic, buf, o);
    await delivered;
  }

  /**
   * Stores a QoS 1 message in the outbox. Resolves as soon as it is stored (on
   * disk when the outbox is durable) with a promise of its delivery.
   */
  async enqueue(topic: string, payload: string | Buffer, o: { retain?: boolean } = {}): Promise<{ seq: number; delivered: Promise<void> }> {
    this.requireClient();
    checkPublishTopic(topic);
    checkPublishSize(topic, typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length);
    const rec = await this.outbox.append({ topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, retain: o.retain ?? false });
    const delivered = new Promise<void>((resolve, reject) => this.deliveries.set(rec.seq, { resolve, reject }));
    this.toSend.push(rec);
    this.pump();
    return { seq: rec.seq, delivered };
  }

  /**
   * Many QoS 1 messages on one topic, in order: stored together (one write
   * and one fdatasync when durable), resolving once every one is
   * acknowledged, rejecting at the first the broker refuses (the rest are
   * still sent). What `mqtt pub --count` uses: one promise for the lot
   * instead of several per message.
   */
  async publishMany(topic: string, payloads: Buffer[], o: { retain?: boolean } = {}): Promise<void> {
    this.requireClient();
    checkPublishTopic(topic);
    const retain = o.retain ?? false;
    if (!payloads.length) return;
    checkPublishSize(
      topic,
      payloads.reduce((m, p) => Math.max(m, p.length), 0),
    );
    // The whole batch is on disk before any of it is sent: killed after the first delivery, a process has stored every message of the batch.
    const recs = await this.outbox.appendMany(payloads.map((payload) => ({ topic, payload, retain })));
    const delivered = new Promise<void>((resolve, reject) => {
      const d: Delivery = { resolve, reject, left: recs.length };
      for (const rec of recs) {
        this.deliveries.set(rec.seq, d);
        this.toSend.push(rec);
      }
    });
    this.pump();
    await delivered;
  }

  /** Resolves when every message in the outbox has been acknowledged (or refused). */
  drain(): Promise<void> {
    if (!this.outbox || this.outbox.size === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  private pump(): void {
    const client = this.client;
    if (!client?.connected) return;
    const max = this.options.maxInFlight ?? 64;
    const gen = this.generation;
    // The publishes of one turn of the event loop (the PUBACKs of one read
    // each free a slot) go out in one write: the socket stays corked until
    // the loop's check phase. Without it, each message is its own writev.
    const stream = client.stream as { cork?: () => void; uncork?: () => void } | undefined;
    if (this.toSend.length && this.inFlight.size < max && !this.corked && stream?.cork && stream.uncork) {
      this.corked = true;
      stream.cork();
      setImmediate(() => {
        this.corked = false;
        stream.uncork!();
      });
    }
    const fastStream = this.fast ? (client.stream as { write?: (b: Buffer) => boolean } | undefined) : undefined;
    if (fastStream?.write) {
      // Every PUBLISH this turn in one buffer, one write.
      const batch: Array<{ rec: OutboxRecord; id: number }> = [];
      let bytes = 0;
      while (this.toSend.length && this.inFlight.size < max) {
        const id = this.ids.allocate();
        if (id === null) break;
        const rec = this.toSend.shift()!;
        let size: number;
        try {
          size = publishSize(Buffer.byteLength(rec.topic, 'utf8'), rec.payload.length, 1);
        } catch (e) {
          // Refused at enqueue now; one from an older journal is dropped with its error, not left to block the rest.
          this.ids.deallocate(id);
          this.outbox.ack(rec.seq);
          this.settle(rec.seq, new CamwireError('MQTT_BAD_OPTIONS', `cannot publish on "${rec.topic.slice(0, 80)}": ${(e as Error).message}`));
          continue;
        }
        this.inFlight.set(rec.seq, rec);
        this.fastById.set(id, rec);
        bytes += size;
        batch.push({ rec, id });
      }
      if (!batch.length) return;
      const out = Buffer.allocUnsafe(bytes);
      let at = 0;
      for (const { rec, id } of batch) at = encodePublishInto(out, at, rec.topic, rec.payload, { qos: 1, retain: rec.retain, packetId: id });
      fastStream.write(out);
      return;
    }
    while (this.toSend.length && this.inFlight.size < max) {
      const rec = this.toSend.shift()!;
      this.inFlight.set(rec.seq, rec);
      client.publish(rec.topic, rec.payload, { qos: 1, retain: rec.retain }, (err) => {
        if (gen !== this.generation || this.inFlight.get(rec.seq) !== rec) return; // a stale connection's callback
        this.inFlight.delete(rec.seq);
        if (err) {
          const rc = (err as { code?: number }).code;
          if (typeof rc === 'number' && rc >= 0x80) {
            // MQTT 5 PUBACK with a failure reason: the broker will never take it.
            this.outbox.ack(rec.seq);
            const e = new CamwireError(
              rc === 0x87 ? 'MQTT_PUBLISH_NOT_AUTHORIZED' : 'MQTT_PUBLISH_REFUSED',
              `broker refused the message on ${rec.topic} (reason 0x${rc.toString(16)})`,
              { cause: err, hint: 'a camera may only publish under cameras/{thing}/' },
            );
            this.settle(rec.seq, e);
            this.pump();
            return;
          }
          // Connection went away mid-flight: put it back, onClose/onConnect resend.
          this.toSend.unshift(rec);
          return;
        }
        this.outbox.ack(rec.seq);
        this.emit('delivered', rec);
        this.settle(rec.seq);
        this.pump();
      });
    }
  }

  private settle(seq: number, err?: Error): void {
    const d = this.deliveries.get(seq);
    this.deliveries.delete(seq);
    if (this.outbox.size === 0) for (const w of this.drainWaiters.splice(0)) w.resolve();
    if (!d) return;
    if (d.left === undefined) {
      if (err) d.reject(err);
      else d.resolve();
      return;
    }
    if (err && !d.failed) {
      d.failed = true;
      d.reject(err);
    }
    if (--d.left === 0 && !d.failed) d.resolve();
  }

  /** Subscribes (and re-subscribes after every clean reconnect). Returns the granted QoS. */
  async subscribe(filter: string, o: { qos?: 0 | 1 } = {}): Promise<number> {
    const client = this.requireClient();
    const qos = o.qos ?? 1;
    this.subscriptions.set(filter, qos);
    if (!client.connected) return qos;
    const granted = await client.subscribeAsync(filter, { qos });
    const g = granted[0]?.qos ?? 0x80;
    if (g >= 0x80) {
      this.subscriptions.delete(filter);
      throw new CamwireError('MQTT_SUBSCRIBE_REFUSED', `broker refused the subscription to ${filter} (0x${g.toString(16)})`, {
        hint: 'a camera may only subscribe under cameras/{thing}/',
      });
    }
    return g;
  }

  /**
   * Disconnects. A clean close publishes retained `offline` first (a clean
   * DISCONNECT suppresses the will). The outbox keeps what is unacknowledged.
   */
  async close(o: { force?: boolean } = {}): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const client = this.client;
    if (client) {
      if (!o.force && client.connected && this.options.status !== false) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          client.publishAsync(topics.status(this.thing), 'offline', { qos: 1, retain: true }).catch(() => undefined),
          new Promise((r) => {
            timer = setTimeout(r, 2000);
          }),
        ]);
        clearTimeout(timer); // else a clean close keeps the process alive 2 s longer
      }
      // A clean end waits for this connection's in-flight PUBACKs; bounded, then forced.
      // mqtt.js ignores a second end() while the first waits, so the bound
      // destroys the socket itself: a broker that never acknowledges must not
      // keep the process alive.
      await new Promise<void>((res) => {
        const t = setTimeout(() => {
          client.stream?.destroy();
          res();
        }, 5000);
        client.end(o.force === true || !client.connected, {}, () => {
          clearTimeout(t);
          res();
        });
      });
    }
    const closed = new CamwireError('MQTT_CLOSED', `connection closed with ${this.outbox?.size ?? 0} message(s) unacknowledged; they stay in the outbox`);
    for (const w of this.drainWaiters.splice(0)) w.reject(closed);
    for (const [seq, d] of this.deliveries) {
      d.reject(new CamwireError('MQTT_CLOSED', `connection closed before message ${seq} was acknowledged; it stays in the outbox`));
    }
    this.deliveries.clear();
    this.failFirstConnect(this.lastError ?? new CamwireError('MQTT_CLOSED', 'connection closed before it was established'));
    await this.outbox?.close();
  }

  private requireClient(): MqttClient {
    if (!this.client) throw new CamwireError('MQTT_NOT_CONNECTED', 'call connect() first');
    if (this.closing) throw new CamwireError('MQTT_CLOSED', 'the connection is closed');
    return this.client;
  }
}

/** Checks the client identity locally so a wrong key is named before any network I/O. */
/**
 * A --ca that holds no certificate (a key, a truncated file, the wrong file)
 * is named as such, not blamed on the broker as MQTT_SERVER_UNTRUSTED.
 */
function checkCa(o: DeviceConnectionOptions): void {
  if (o.ca === undefined) return;
  const text = Buffer.isBuffer(o.ca) ? o.ca.toString('latin1') : String(o.ca);
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    throw new CamwireError('MQTT_BAD_OPTIONS', 'the CA file (--ca) holds no PEM certificate', {
      hint: "pass the certificate(s) of the CA that signed the broker's certificate (for AWS IoT: AmazonRootCA1.pem), a file with -----BEGIN CERTIFICATE-----",
    });
  }
  blocks.forEach((b, i) => {
    try {
      new X509Certificate(b);
    } catch (e) {
      throw new CamwireError('MQTT_BAD_OPTIONS', `certificate ${i + 1} of the CA file (--ca) is not readable (${(e as Error).message})`, { cause: e });
    }
  });
}

function checkIdentity(o: DeviceConnectionOptions, thing: string): void {
  if (!o.cert && !o.key) return; // server-auth-only TLS is allowed (e.g. a broker with passwords)
  if (!o.cert || !o.key) throw new CamwireError('MQTT_BAD_OPTIONS', 'mutual TLS needs both --cert and --key');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(o.cert);
  } catch (e) {
    throw new CamwireError('MQTT_BAD_OPTIONS', `the client certificate is not a readable PEM certificate (${(e as Error).message})`, { cause: e });
  }
  let key;
  try {
    key = createPrivateKey(o.key);
  } catch (e) {
    throw new CamwireError('MQTT_BAD_OPTIONS', `the client key is not a readable PEM private key (${(e as Error).message})`, { cause: e });
  }
  if (!cert.checkPrivateKey(key)) {
    throw new CamwireError('MQTT_KEY_MISMATCH', `the private key does not belong to the certificate "${cert.subject.replace(/\n/g, ', ')}" of ${thing}`, {
      hint: 'pass the key made together with this certificate (camwire pki issue writes NAME.pem and NAME.key side by side)',
    });
  }
}

/** A FIFO of outbox records: shift() is O(1) (an array's is O(n) on a long queue). */
class RecordQueue {
  private items: OutboxRecord[];
  private head = 0;
  constructor(items: OutboxRecord[] = []) {
    this.items = items;
  }
  get length(): number {
    return this.items.length - this.head;
  }
  push(r: OutboxRecord): void {
    this.items.push(r);
  }
  shift(): OutboxRecord | undefined {
    if (this.head >= this.items.length) return undefined;
    const r = this.items[this.head]!;
    this.items[this.head++] = undefined as unknown as OutboxRecord; // let it be collected
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return r;
  }
  unshift(r: OutboxRecord): void {
    if (this.head > 0) this.items[--this.head] = r;
    else this.items.unshift(r);
  }
  /** Everything queued, in order; the queue is left empty. */
  drain(): OutboxRecord[] {
    const out = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return out;
  }
}
