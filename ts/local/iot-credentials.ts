/**
 * A local stand-in for the AWS IoT credentials provider (AWS itself cannot be
 * reached here): HTTPS with mutual TLS on 127.0.0.1, the client certificate
 * must chain to the fleet CA (refused with 403 otherwise) and its CN must equal x-amzn-iot-thingname; it
 * issues short-lived credentials and hands them to a LocalKvsEndpoint, which
 * then accepts requests signed with them (session token included) until they
 * expire.
 */
import crypto from 'node:crypto';
import https from 'node:https';
import { TLSSocket } from 'node:tls';
import { LocalKvsEndpoint } from './kvs-endpoint';
import { HttpFaults } from './faults';
import { closeServer, listenLocal } from './server';

export interface LocalCredentialsOptions {
  /** CA that signed the device certificates. */
  ca: string;
  /** The endpoint's own certificate and key (e.g. CertificateAuthority.issueServer). */
  cert: string;
  key: string;
  roleAlias: string;
  /** Lifetime of issued credentials in seconds (default 3600). */
  lifetimeSeconds?: number;
  kvs: LocalKvsEndpoint;
}

export class LocalIotCredentialsEndpoint {
  private server: https.Server | undefined;
  port = 0;
  issued = 0;
  /** Error answers given before the endpoint sees a request (e.g. 503 to the next call). */
  readonly faults = new HttpFaults();

  constructor(private readonly o: LocalCredentialsOptions) {}

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = https.createServer({ ca: this.o.ca, cert: this.o.cert, key: this.o.key, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      if (this.faults.answer(req, res)) return;
      const deny = (status: number, message: string) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message }));
      };
      const m = /^\/role-aliases\/([^/]+)\/credentials$/.exec(req.url ?? '');
      if (req.method !== 'GET' || !m) return deny(404, 'not found');
      if (decodeURIComponent(m[1]!) !== this.o.roleAlias) return deny(403, 'Access Denied: unknown role alias');
      // Untrusted certificates get a clear 403 rather than a TLS reset, so the
      // refusal is visible to the client; the CN check follows.
      const socket = req.socket as TLSSocket;
      if (!socket.authorized) return deny(403, `Access Denied: client certificate not trusted (${String(socket.authorizationError ?? 'no certificate')})`);
      const peer = socket.getPeerCertificate();
      const thing = String(req.headers['x-amzn-iot-thingname'] ?? '');
      if (!thing || peer.subject?.CN !== thing) return deny(403, 'Access Denied: the certificate is not attached to that thing');
      const expiration = new Date(Date.now() + (this.o.lifetimeSeconds ?? 3600) * 1000);
      const credentials = {
        accessKeyId: `ASIA${crypto.randomBytes(8).toString('hex').toUpperCase()}`,
        secretAccessKey: crypto.randomBytes(30).toString('base64'),
        sessionToken: crypto.randomBytes(48).toString('base64'),
        expiration: expiration.toISOString(),
      };
      this.o.kvs.addTemporaryCredentials({ ...credentials, expiration });
      this.issued++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ credentials }));
    });
    this.port = await listenLocal(this.server, 0);
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }
}
