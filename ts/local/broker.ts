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

export interface LocalBrokerEvents {
  connected: [{ clientId: string; cn: string }];
  disconnected: [{ clientId: string }];
  refused: [{ clientId: string; cn?: string; reason: string }];
  published: [{ clientId: string; topic: string; bytes: number; retain: boolean }];
  subscribed: [{ clientId: string; topics: string[] }];
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
  port = 0;

  constructor(private readonly o: LocalBrokerOptions) {
    super();
  }

  get url(): string {
    return `mqtts://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    // aedes is an ES module; camwire is CommonJS: load it on demand.
    const { Aedes } = await import('aedes');
    const root = this.o.topicRoot ?? 'cameras';
    const operators = new Set(this.o.operators ?? []);
    // The CN is read once, at CONNECT: a will is authorised after the link
    // died, when the socket may no longer have a peer certificate to ask.
    const identities = new WeakMap<object, string>();
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
        this.emit('connected', { clientId: c.id, cn });
        done(null, true);
      },
      authorizePublish: (client, packet, cb) => {
        const ok = allowed(client as unknown as AedesClient | null, packet.topic);
        if (!ok && client) this.emit('refused', { clientId: client.id, reason: `publish to ${packet.topic} is outside ${root}/{thing}/` });
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
      if (client) this.emit('published', { clientId: client.id, topic: packet.topic, bytes: packet.payload?.length ?? 0, retain: packet.retain });
    });
    broker.on('subscribe', (subs, client) => {
      const granted = subs.filter((x) => (x.qos as number) !== 128).map((x) => x.topic);
      if (granted.length) this.emit('subscribed', { clientId: client.id, topics: granted });
    });
    broker.on('clientDisconnect', (client) => this.emit('disconnected', { clientId: client.id }));
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
    this.server.on('tlsClientError', () => {
      /* an untrusted or missing client certificate: the handshake fails, nothing else to do */
    });
    try {
      this.port = await listenLocal(this.server, this.o.port ?? 0);
    } catch (e) {
      throw new CamwireError('MQTT_BROKER_LISTEN', `the embedded broker could not listen on 127.0.0.1:${this.o.port ?? 0}: ${(e as Error).message}`);
    }
  }

  async stop(): Promise<void> {
    const broker = this.broker;
    if (broker) await new Promise<void>((r) => broker.close(() => r()));
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
