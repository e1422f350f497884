/**
 * A real Mosquitto broker for tests, on 127.0.0.1 only, in its own temp
 * directory, with certificates made by camwire's own PKI, stopped by PID.
 * Listeners:
 *   plain   anonymous, no ACL (phase 1 bring-up)
 *   tls     mutual TLS: require_certificate, CN as user name, ACL cameras/%u/#
 *   noauth  plain, anonymous refused (CONNACK "not authorised")
 * With `crl`, the TLS listener checks revocation against that CRL; with
 * `server`, the TLS listener serves those certificate and key files instead
 * of a certificate issued here for localhost and 127.0.0.1.
 */
import { spawn, ChildProcess, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CertificateAuthority } from '../../ts/pki';
import { freePort } from './ports';

export const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => fs.existsSync(p));

export function requireMosquitto(): string {
  if (!MOSQUITTO) throw new Error('mosquitto is not installed: apt-get install mosquitto mosquitto-clients (tests need a real broker)');
  return MOSQUITTO;
}

export interface BrokerOptions {
  dir: string;
  ca: CertificateAuthority;
  /** Keep messages across restarts (persistence on, saved after every change). */
  persistence?: boolean;
  crlPem?: string;
  /** The broker's own certificate and key files, used where they are. */
  server?: { certFile: string; keyFile: string };
  /** More ACL lines after the camera pattern (e.g. `user fleet-subscriber` + `topic read cameras/+/telemetry`). */
  acl?: string[];
}

export class MosquittoBroker {
  plainPort = 0;
  tlsPort = 0;
  noAuthPort = 0;
  private proc: ChildProcess | undefined;
  readonly logFile: string;
  private readonly certFile: string;
  private readonly keyFile: string;

  private constructor(private readonly o: BrokerOptions) {
    this.logFile = path.join(o.dir, 'mosquitto.log');
    this.certFile = o.server?.certFile ?? path.join(o.dir, 'server.pem');
    this.keyFile = o.server?.keyFile ?? path.join(o.dir, 'server.key');
  }

  static async start(o: BrokerOptions): Promise<MosquittoBroker> {
    requireMosquitto();
    const b = new MosquittoBroker(o);
    b.plainPort = await freePort();
    b.tlsPort = await freePort();
    b.noAuthPort = await freePort();
    fs.writeFileSync(path.join(o.dir, 'ca.pem'), o.ca.certPem);
    if (!o.server) {
      const server = await o.ca.issueServer('localhost', ['localhost', '127.0.0.1']);
      fs.writeFileSync(b.certFile, server.certPem);
      fs.writeFileSync(b.keyFile, server.keyPem, { mode: 0o600 });
    }
    if (o.crlPem) fs.writeFileSync(path.join(o.dir, 'crl.pem'), o.crlPem);
    fs.writeFileSync(path.join(o.dir, 'acl'), ['pattern readwrite cameras/%u/#', ...(o.acl ?? [])].join('\n') + '\n');
    b.writeConfig();
    await b.launch();
    return b;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  url(kind: 'plain' | 'tls' | 'noauth'): string {
    if (kind === 'tls') return `mqtts://127.0.0.1:${this.tlsPort}`;
    return `mqtt://127.0.0.1:${kind === 'plain' ? this.plainPort : this.noAuthPort}`;
  }

  private writeConfig(): void {
    const d = this.o.dir;
    const lines = [
      'per_listener_settings true',
      this.o.persistence ? `persistence true\npersistence_location ${d}/\nautosave_interval 1\nautosave_on_changes true` : 'persistence false',
      // Forward every message to an online subscriber at once rather than
      // holding it in the broker's memory queue behind an in-flight window.
      'max_inflight_messages 0',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      'connection_messages true',
      // Started as root, Mosquitto drops privileges before reading the key.
      process.getuid?.() === 0 ? 'user root' : '',
      `listener ${this.plainPort} 127.0.0.1`,
      'allow_anonymous true',
      `listener ${this.tlsPort} 127.0.0.1`,
      'allow_anonymous false',
      `cafile ${d}/ca.pem`,
      `certfile ${this.certFile}`,
      `keyfile ${this.keyFile}`,
      'require_certificate true',
      'use_identity_as_username true',
      `acl_file ${d}/acl`,
      this.o.crlPem ? `crlfile ${d}/crl.pem` : '',
      `listener ${this.noAuthPort} 127.0.0.1`,
      'allow_anonymous false',
    ];
    fs.writeFileSync(path.join(d, 'mosquitto.conf'), lines.filter(Boolean).join('\n') + '\n');
  }

  private async launch(): Promise<void> {
    const log = fs.openSync(this.logFile, 'a');
    // Where this start's lines begin, taken before the broker can write any.
    const mark = fs.fstatSync(log).size;
    const proc = spawn(requireMosquitto(), ['-c', path.join(this.o.dir, 'mosquitto.conf')], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.proc = proc;
    const started = Date.now();
    // Generous: on a loaded 2-core CI host (every test file in parallel) a start once took over 10 s.
    const limitMs = 30_000;
    for (;;) {
      const text = fs.readFileSync(this.logFile, 'utf8').slice(mark);
      if (/ running$/m.test(text)) return;
      if (proc.exitCode !== null) throw new Error(`mosquitto exited (${proc.exitCode}):\n${text}`);
      if (Date.now() - started > limitMs) {
        proc.kill('SIGKILL');
        throw new Error(`mosquitto (pid ${proc.pid}) did not start in ${limitMs / 1000} s:\n${text}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** SIGKILL: no chance to save anything that was not saved already. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  async restart(): Promise<void> {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) await this.signal('SIGTERM');
    await this.launch();
  }

  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(sig);
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }

  log(): string {
    return fs.readFileSync(this.logFile, 'utf8');
  }
}

export function mosquittoVersion(): string {
  const r = spawnSync(requireMosquitto(), ['-h'], { encoding: 'utf8' });
  return (r.stdout || '').split('\n')[0] ?? '';
}
