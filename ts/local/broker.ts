/**
 * An embedded MQTT broker with mutual TLS for `camwire demo` and local
 * bring-up: aedes (moscajs/aedes, MQTT 3.1.1) behind a Node TLS server on
 * 127.0.0.1 that requires a client certificate from the given CA. It applies
 * the rule of camwire's AWS IoT policy: the client id must be the
 * certificate's CN (the thing name), and a camera may publish and subscribe
 * only under `cameras/{thing}/` (wildcards within it included); certificates
 * whose CN is listed in `operators` (the back end, the phone app) may use any
 * topic. A publish outside is dropped with the client, as AWS IoT does.
 */
import { EventEmitter } from 'node:events';
import tls from 'node:tls';
import { CamwireError } from '../errors';
import { listenLocal } from './server';

export interface LocalBrokerOptions {
  /** The broker's server certificate and key (PEM); its SAN must name 127.0.0.1 or the host clients dial. */
  cert: string | Buffer;
  key: string | Buffer;
  /** The CA that signs client certificates (PEM). */
  ca: string | Buffer;
  /** Client certificate CNs allowed every topic. */
  operators?: string[];
  /** 0 (default) picks a free port. */
  port?: number;
  topicRoot?: string;
}

/** What a client's CONNECT said (the device test bench checks it). */
export interface ConnectInfo {
  keepalive: number;
  clean: boolean;
  protocolVersion: number;
  will?: { topic: string; payload: string; qos: number; retain: boolean };
}

export interface LocalBrokerEvents {
  /** conn: a serial per connection, so a takeover (new connection before the old one's close) is told apart. */
  connected: [{ clientId: string; cn: string; conn: number; connect?: ConnectInfo }];
  disconnected: [{ clientId: string; conn: number }];
  /** A TLS handshake that failed (no or a bad client certificate, a protocol mismatch). */
  'tls-error': [{ message: string; remote: string }];
  refused: [{ clientId: string; cn?: string; reason: string }];
  /** Every message the broker took (a will included); payload is the message itself. */
  published: [{ clientId: string; topic: string; bytes: number; retain: boolean; qos: number; dup: boolean; payload: Buffer }];
  subscribed: [{ clientId: string; topics: string[]; qos: number[] }];
  ping: [{ clientId: string }];
  /** A PUBLISH held without its PUBACK (withholdPuback). */
  withheld: [{ clientId: string; topic: string; messageId?: number }];
}

interface AedesClient {
  id: string;
  conn: tls.TLSSocket;
}
interface AedesBroker {
  handle(stream: tls.TLSSocket): unknown;
  close(cb?: () => void): void;
  on(event: string, listener: (...args: never[]) => void): unknown;
}

export class LocalBroker extends EventEmitter<LocalBrokerEvents> {
  private server: tls.Server | undefined;
  private broker: AedesBroker | undefined;
  private readonly sockets = new Set<import('node:net').Socket>();
  /** Publishes whose authorisation (and so PUBACK and delivery) is held. */
  private readonly held: Array<(err: Error | null) => void> = [];
  private withhold: { match: (topic: string, payload: Buffer) => boolean; left: number } | undefined;
  port = 0;

  constructor(private readonly o: LocalBrokerOptions) {
    super();
  }

  get url(): string {
    return `mqtts://127.0.0.1:${this.port}`;
  }

  /**
   * The next `count` QoS 1 PUBLISHes whose topic matches get no PUBACK and
   * are not delivered (their authorisation is held), as when the broker's
   * answer is lost; releaseWithheld() fails them. For the test bench: a
   * device must send such a message again after it reconnects.
   */
  withholdPuback(match: (topic: string, payload: Buffer) => boolean, count = 1): void {
    this.withhold = { match, left: count };
  }

  /** Ends every held PUBLISH (refused; its client is gone by then, usually). Returns how many. */
  releaseWithheld(): number {
    const held = this.held.splice(0);
    this.withhold = undefined;
    for (const cb of held) cb(new Error('withheld by the test bench'));
    return held.length;
  }

  /** Publishes as the broker itself (the back end's side of the bench), resolving once stored and sent on. */
  publish(topic: string, payload: string | Buffer, o: { qos?: 0 | 1; retain?: boolean } = {}): Promise<void> {
    const broker = this.broker as unknown as {
      publish(p: object, cb: (e?: Error) => void): void;
    };
    return new Promise((resolve, reject) =>
      broker.publish(
        { cmd: 'publish', topic, payload: Buffer.from(payload), qos: o.qos ?? 1, retain: o.retain ?? false, dup: false, messageId: 0 },
        (e?: Error) => (e ? reject(e) : resolve()),
      ),
    );
  }

  async start(): Promise<void> {
    // aedes is an ES module; camwire is CommonJS: load it on demand.
    const { Aedes } = await import('aedes');
    const root = this.o.topicRoot ?? 'cameras';
    const operators = new Set(this.o.operators ?? []);
    // The CN is read once, at CONNECT: a will is authorised after the link
    // died, when the socket may no longer have a peer certificate to ask.
    const identities = new WeakMap<object, string>();
    const connects = new WeakMap<object, ConnectInfo>();
    const serials = new WeakMap<object, number>();
    let serial = 0;
    const peerCn = (c: AedesClient): string | undefined => {
      const cn = c.conn.getPeerCertificate?.()?.subject?.CN;
      return Array.isArray(cn) ? cn[0] : cn;
    };
    // As the IoT policy's topicfilter cameras/${thing}/*: anything below the
    // camera's own root, wildcards included (they cannot reach above it).
    const allowed = (c: AedesClient | null, topic: string): boolean => {
      if (!c) return true; // the broker's own messages
      const cn = identities.get(c);
      if (!cn) return false;
      return operators.has(cn) || topic.startsWith(`${root}/${cn}/`);
    };
    const broker = await Aedes.createBroker({
      preConnect: (client, packet, done) => {
        const p = packet as unknown as {
          keepalive?: number;
          clean?: boolean;
          protocolVersion?: number;
          will?: { topic: string; payload: Buffer; qos: number; retain: boolean };
        };
        connects.set(client, {
          keepalive: p.keepalive ?? 0,
          clean: p.clean !== false,
          protocolVersion: p.protocolVersion ?? 4,
          ...(p.will
            ? { will: { topic: p.will.topic, payload: Buffer.from(p.will.payload ?? '').toString('utf8'), qos: p.will.qos, retain: !!p.will.retain } }
            : {}),
        });
        done(null, true);
      },
      authenticate: (client, _u, _p, done) => {
        const c = client as unknown as AedesClient;
        const cn = peerCn(c);
        if (!cn || (cn !== c.id && !operators.has(cn))) {
          this.emit('refused', { clientId: c.id, ...(cn ? { cn } : {}), reason: `client id "${c.id}" is not the certificate's CN "${cn ?? ''}"` });
          const e = Object.assign(new Error('client id must equal the certificate CN'), { returnCode: 2 as const });
          done(e as Parameters<typeof done>[0], false);
          return;
        }
        identities.set(client, cn);
        const connect = connects.get(client);
        serials.set(client, ++serial);
        this.emit('connected', { clientId: c.id, cn, conn: serial, ...(connect ? { connect } : {}) });
        done(null, true);
      },
      authorizePublish: (client, packet, cb) => {
        const ok = allowed(client as unknown as AedesClient | null, packet.topic);
        if (!ok && client) this.emit('refused', { clientId: client.id, reason: `publish to ${packet.topic} is outside ${root}/{thing}/` });
        const w = this.withhold;
        if (ok && client && packet.qos === 1 && w && w.left > 0 && w.match(packet.topic, Buffer.from(packet.payload ?? ''))) {
          w.left--;
          this.held.push(cb);
          this.emit('withheld', { clientId: client.id, topic: packet.topic, ...(packet.messageId !== undefined ? { messageId: packet.messageId } : {}) });
          return;
        }
        cb(ok ? null : new Error(`not authorized to publish to ${packet.topic}`));
      },
      authorizeSubscribe: (client, sub, cb) => {
        if (allowed(client as unknown as AedesClient, sub.topic)) {
          cb(null, sub);
          return;
        }
        this.emit('refused', { clientId: client.id, reason: `subscribe to ${sub.topic} is outside ${root}/{thing}/` });
        cb(null, null); // SUBACK 0x80 for this filter
      },
    });
    broker.on('publish', (packet, client) => {
      if (client) {
        const payload = Buffer.from(packet.payload ?? '');
        this.emit('published', {
          clientId: client.id,
          topic: packet.topic,
          bytes: payload.length,
          retain: packet.retain,
          qos: packet.qos,
          dup: !!(packet as { dup?: boolean }).dup,
          payload,
        });
      }
    });
    broker.on('subscribe', (subs, client) => {
      const granted = subs.filter((x) => (x.qos as number) !== 128);
      if (granted.length) this.emit('subscribed', { clientId: client.id, topics: granted.map((x) => x.topic), qos: granted.map((x) => x.qos) });
    });
    broker.on('ping', (_p, client) => this.emit('ping', { clientId: client.id }));
    broker.on('clientDisconnect', (client) => this.emit('disconnected', { clientId: client.id, conn: serials.get(client) ?? 0 }));
    this.broker = broker as unknown as AedesBroker;
    this.server = tls.createServer(
      { cert: this.o.cert, key: this.o.key, ca: this.o.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
      (socket) => {
        this.broker!.handle(socket);
      },
    );
    this.server.on('connection', (socket: import('node:net').Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server.on('tlsClientError', (e: Error, socket: tls.TLSSocket) => {
      this.emit('tls-error', { message: e.message, remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}` });
      /* an untrusted or missing client certificate: the handshake fails, nothing else to do */
    });
    try {
      this.port = await listenLocal(this.server, this.o.port ?? 0);
    } catch (e) {
      throw new CamwireError('MQTT_BROKER_LISTEN', `the embedded broker could not listen on 127.0.0.1:${this.o.port ?? 0}: ${(e as Error).message}`);
    }
  }

  async stop(): Promise<void> {
    this.releaseWithheld();
    const broker = this.broker;
    // aedes waits for each client to close; one caught mid-CONNECT (refused, or its socket gone) may never
    // report it, so the close is bounded and the sockets are destroyed either way.
    if (broker) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((r) => broker.close(() => r())),
        new Promise<void>((r) => {
          timer = setTimeout(r, 3000);
        }),
      ]);
      clearTimeout(timer);
    }
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
