/**
 * A real OpenStack Swift with its S3 API (s3api + tempauth) for tests: one
 * replica, every server on 127.0.0.1 on free ports, all state in a temp
 * directory, each process stopped by its PID. S3 credentials: test:tester /
 * testing, region us-east-1. Swift always reads /etc/swift/swift.conf (its
 * hash prefix/suffix); Debian's package ships one.
 */
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { freePort } from './ports';

export const S3_CREDENTIALS = { accessKeyId: 'test:tester', secretAccessKey: 'testing' };

const SERVERS = ['account', 'container', 'object', 'proxy'] as const;

export function requireSwift(): void {
  const missing = ['swift-proxy-server', 'swift-object-server', 'swift-ring-builder', 'memcached'].filter(
    (b) => spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0,
  );
  if (missing.length || !fs.existsSync('/etc/swift/swift.conf')) {
    throw new Error(
      `OpenStack Swift is not installed (missing ${missing.join(', ') || '/etc/swift/swift.conf'}): apt-get install swift swift-proxy swift-object swift-account swift-container memcached`,
    );
  }
}

export class SwiftS3 {
  readonly ports: Record<(typeof SERVERS)[number] | 'memcached', number> = { account: 0, container: 0, object: 0, proxy: 0, memcached: 0 };
  private readonly procs = new Map<string, ChildProcess>();

  private constructor(readonly dir: string) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.ports.proxy}`;
  }

  static async start(dir: string): Promise<SwiftS3> {
    requireSwift();
    const s = new SwiftS3(dir);
    for (const k of Object.keys(s.ports) as Array<keyof SwiftS3['ports']>) s.ports[k] = await freePort();
    s.configure();
    s.launch('memcached', 'memcached', ['-l', '127.0.0.1', '-p', String(s.ports.memcached), '-U', '0', '-m', '64', '-u', userName()]);
    for (const name of SERVERS) s.launchServer(name);
    await s.waitHealthy();
    return s;
  }

  private configure(): void {
    const d = this.dir;
    for (const sub of ['etc', 'srv/d1', 'run', 'cache']) fs.mkdirSync(path.join(d, sub), { recursive: true });
    const common = (port: number) =>
      [
        '[DEFAULT]',
        'bind_ip = 127.0.0.1',
        `bind_port = ${port}`,
        'workers = 0',
        `user = ${userName()}`,
        `swift_dir = ${d}/etc`,
        `devices = ${d}/srv`,
        'mount_check = false',
        'disable_fallocate = true',
        'log_level = INFO',
        `recon_cache_path = ${d}/cache`,
        '',
      ].join('\n');
    for (const name of ['account', 'container', 'object'] as const) {
      fs.writeFileSync(
        path.join(d, 'etc', `${name}-server.conf`),
        `${common(this.ports[name])}
[pipeline:main]
pipeline = healthcheck ${name}-server
[filter:healthcheck]
use = egg:swift#healthcheck
[app:${name}-server]
use = egg:swift#${name}
`,
      );
    }
    const filters = [
      'catch_errors',
      'gatekeeper',
      'healthcheck',
      'proxy_logging',
      'listing_formats',
      'bulk',
      'tempurl',
      'copy',
      'slo',
      'dlo',
      'versioned_writes',
      'symlink',
    ];
    fs.writeFileSync(
      path.join(d, 'etc', 'proxy-server.conf'),
      `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${this.ports.proxy}
workers = 0
user = ${userName()}
swift_dir = ${d}/etc
log_level = INFO

[pipeline:main]
# cache before s3api and tempauth; s3api just before tempauth; slo after s3api (multipart)
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl s3api tempauth copy slo dlo versioned_writes symlink proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[filter:s3api]
use = egg:swift#s3api
location = us-east-1
s3_acl = false
dns_compliant_bucket_names = true

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${this.ports.memcached}

${filters.map((f) => `[filter:${f === 'proxy_logging' ? 'proxy-logging' : f}]\nuse = egg:swift#${f}`).join('\n')}
`,
    );
    for (const ring of ['account', 'container', 'object'] as const) {
      const builder = path.join(d, 'etc', `${ring}.builder`);
      const steps = [['create', '8', '1', '1'], ['add', `r1z1-127.0.0.1:${this.ports[ring]}/d1`, '100'], ['rebalance']];
      for (const step of steps) {
        const r = spawnSync('swift-ring-builder', [builder, ...step], { encoding: 'utf8' });
        if (r.status !== 0 && !(step[0] === 'rebalance' && r.status === 1)) throw new Error(`swift-ring-builder ${step.join(' ')}: ${r.stdout}${r.stderr}`);
      }
      if (!fs.existsSync(path.join(d, 'etc', `${ring}.ring.gz`))) throw new Error(`ring ${ring} was not built`);
    }
  }

  private launch(name: string, cmd: string, args: string[]): void {
    const log = fs.openSync(path.join(this.dir, 'run', `${name}.log`), 'a');
    const p = spawn(cmd, args, { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.procs.set(name, p);
  }

  private launchServer(name: (typeof SERVERS)[number]): void {
    this.launch(name, `swift-${name}-server`, [path.join(this.dir, 'etc', `${name}-server.conf`), '-v']);
  }

  private async waitHealthy(timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const ok = await Promise.all(SERVERS.map((n) => healthy(this.ports[n])));
      if (ok.every(Boolean)) return;
      for (const [name, p] of this.procs) {
        if (p.exitCode !== null) throw new Error(`swift ${name} exited:\n${this.log(name).slice(-2000)}`);
      }
      if (Date.now() > end) throw new Error(`swift not healthy in ${timeoutMs} ms:\n${this.log('proxy').slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  log(name: string): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'run', `${name}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  /** Stops the proxy alone (the "S3 endpoint went away" case). */
  async stopProxy(): Promise<void> {
    await stop(this.procs.get('proxy'));
  }

  async startProxy(): Promise<void> {
    this.launchServer('proxy');
    await this.waitHealthy();
  }

  async stop(): Promise<void> {
    for (const name of ['proxy', 'object', 'container', 'account', 'memcached']) await stop(this.procs.get(name));
  }
}

function userName(): string {
  return spawnSync('id', ['-un'], { encoding: 'utf8' }).stdout.trim();
}

function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthcheck', timeout: 1000 }, (res) => {
      let b = '';
      res.on('data', (d: Buffer) => {
        b += d.toString();
      });
      res.on('end', () => resolve(res.statusCode === 200 && b === 'OK'));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

async function stop(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}
