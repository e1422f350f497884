/**
 * The producer's transport inside Node: libcurl bound to Node's own OpenSSL
 * (no second copy, no clash while Node's TLS runs in the same process),
 * certificate verification on by default, and HTTPS_PROXY honoured.
 * Serial: the proxy test changes this process's environment.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { CertificateAuthority } from '../ts/pki';
import { KvsAck, KvsStream } from '../ts/kvs';
import { native } from '../ts/native';
import { CamwireError } from '../ts/errors';
import { Clip, makeClip } from './helpers/h264';
import { closeServer, listenLocal, LocalKvsEndpoint } from '../ts/local';
import { tempDir } from './helpers/tmp';

const execFileAsync = promisify(execFile);
const dir = tempDir('kvs-transport');
const creds = { accessKeyId: 'AKIDTRANSPORT', secretAccessKey: 'transport-secret' };
const T0 = 1_760_000_000_000;
let clip: Clip;
let ca: CertificateAuthority;
let caFile: string;
let server: { certPem: string; keyPem: string };

test.before(async () => {
  clip = makeClip(dir, { seconds: 6, fps: 30 });
  ca = (await CertificateAuthority.create({ keyType: 'ec' })).ca;
  server = await ca.issueServer('localhost', ['127.0.0.1'], { keyType: 'ec' });
  caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, ca.certPem);
});

async function tlsEndpoint(t: { teardown(f: () => Promise<void>): void }, name: string): Promise<LocalKvsEndpoint> {
  const ep = new LocalKvsEndpoint({ dir: path.join(dir, name), credentials: [creds], region: 'us-east-1', tls: { cert: server.certPem, key: server.keyPem } });
  await ep.start();
  t.teardown(() => ep.stop());
  return ep;
}

function feed(s: KvsStream): number[] {
  return clip.frames.map((f, i) => {
    const pts = T0 + Math.round((i * 1000) / 30);
    s.putFrame(f, { pts });
    return pts;
  });
}

test.serial("libcurl runs on Node's own OpenSSL, and PutMedia over HTTPS works while Node's TLS is busy in the same process", async (t) => {
  const transport = native().kvsTransport();
  t.is(transport.ssl, `OpenSSL/${process.versions.openssl}`, "one OpenSSL in the process: Node's");
  const ep = await tlsEndpoint(t, 'clash');
  // Node's own HTTPS, against a server of the same CA, hammered at the same time.
  const nodeServer = https.createServer({ cert: server.certPem, key: server.keyPem }, (_req, res) => res.end('ok'));
  const port = await listenLocal(nodeServer, 0);
  t.teardown(() => closeServer(nodeServer));
  const agent = new https.Agent({ ca: ca.certPem, keepAlive: false });
  let nodeOk = 0;
  const nodeRounds = (async () => {
    for (let i = 0; i < 50; i++) {
      await new Promise<void>((resolve, reject) => {
        https
          .get({ host: '127.0.0.1', port, agent, path: '/' }, (res) => {
            res.resume();
            res.on('end', () => {
              if (res.statusCode === 200) nodeOk++;
              resolve();
            });
          })
          .on('error', reject);
      });
    }
  })();
  const s = new KvsStream({ streamName: 'tls-cam', region: 'us-east-1', endpoint: ep.url, caFile, credentials: creds, fragmentDurationMs: 1000 });
  const persisted: number[] = [];
  s.on('ack', (a: KvsAck) => {
    if (a.type === 'PERSISTED') persisted.push(a.timecode!);
  });
  const pts = feed(s);
  await Promise.all([s.close(), nodeRounds]);
  t.is(nodeOk, 50);
  t.deepEqual(
    persisted,
    pts.filter((_, i) => i % 30 === 0),
  );
  t.deepEqual(ep.sessions[0]!.frameTimecodes, pts);
  t.true(ep.url.startsWith('https://'));
});

test.serial('TLS verification is on by default: an endpoint whose CA is not trusted is a fatal KVS_TLS', async (t) => {
  const ep = await tlsEndpoint(t, 'untrusted');
  const s = new KvsStream({ streamName: 'tls-cam', region: 'us-east-1', endpoint: ep.url, credentials: creds, fragmentDurationMs: 1000 });
  s.on('error', () => undefined);
  feed(s);
  const e = await t.throwsAsync<CamwireError>(s.close());
  t.is(e!.code, 'KVS_TLS');
  t.regex(e!.message, /certificate/i);
  t.is(ep.sessions.length, 0);
});

test.serial(
  'without caFile the producer trusts what Node trusts (a CA in NODE_EXTRA_CA_CERTS is accepted, refused without it), in the source build and the prebuild',
  async (t) => {
    const ep = await tlsEndpoint(t, 'node-roots');
    // NODE_EXTRA_CA_CERTS is read when a process starts: a child process streams the clip.
    const script = `
    const fs = require('node:fs');
    const { KvsStream } = require(${JSON.stringify(path.join(__dirname, '..', 'ts', 'kvs'))});
    const h264 = fs.readFileSync(${JSON.stringify(clip.file)});
    const s = new KvsStream({ streamName: 'node-roots', region: 'us-east-1', endpoint: ${JSON.stringify(ep.url)},
      credentials: ${JSON.stringify(creds)}, fragmentDurationMs: 1000 });
    let persisted = 0;
    s.on('ack', (a) => { if (a.type === 'PERSISTED') persisted++; });
    s.on('error', () => {});
    // The clip has an access unit delimiter before every frame.
    const aud = Buffer.from([0, 0, 0, 1, 9]);
    const starts = [];
    for (let i = h264.indexOf(aud); i >= 0; i = h264.indexOf(aud, i + 5)) starts.push(i);
    starts.forEach((at, k) => s.putFrame(h264.subarray(at, starts[k + 1] ?? h264.length), { pts: ${T0} + Math.round((k * 1000) / 30) }));
    s.close().then(() => console.log(JSON.stringify({ persisted })), (e) => { console.log(JSON.stringify({ code: e.code })); });`;
    // Asynchronous: the endpoint answers from this process's event loop.
    const run = async (env: NodeJS.ProcessEnv) =>
      (await execFileAsync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8', env, timeout: 60_000 })).stdout;
    // The source build (the system's libcurl) and the prebuild (its own, with no CA bundle built in) alike.
    for (const build of [{}, { PREBUILDS_ONLY: '1' }]) {
      t.deepEqual(JSON.parse(await run({ ...process.env, ...build, NODE_EXTRA_CA_CERTS: caFile })) as unknown, { persisted: 6 }, JSON.stringify(build));
      const env: NodeJS.ProcessEnv = { ...process.env, ...build };
      delete env['NODE_EXTRA_CA_CERTS'];
      t.deepEqual(JSON.parse(await run(env)) as unknown, { code: 'KVS_TLS' }, JSON.stringify(build));
    }
  },
);

test.serial('HTTPS_PROXY is honoured: PutMedia goes through an HTTP CONNECT proxy', async (t) => {
  const ep = await tlsEndpoint(t, 'proxy');
  const tunnels: string[] = [];
  const sockets = new Set<net.Socket>();
  const proxy = http.createServer((_req, res) => {
    res.statusCode = 405;
    res.end();
  });
  proxy.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    tunnels.push(req.url ?? '');
    sockets.add(client);
    const [host, p] = (req.url ?? '').split(':');
    const upstream = net.connect(Number(p), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  const proxyPort = await listenLocal(proxy, 0);
  // Tunnels leave the HTTP server's hands: curl keeps its connection pooled, so end them here.
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return closeServer(proxy);
  });
  const saved = {
    HTTPS_PROXY: process.env['HTTPS_PROXY'],
    https_proxy: process.env['https_proxy'],
    NO_PROXY: process.env['NO_PROXY'],
    no_proxy: process.env['no_proxy'],
  };
  t.teardown(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  delete process.env['NO_PROXY'];
  delete process.env['no_proxy'];
  delete process.env['https_proxy'];
  process.env['HTTPS_PROXY'] = `http://127.0.0.1:${proxyPort}`;
  const s = new KvsStream({ streamName: 'proxied', region: 'us-east-1', endpoint: ep.url, caFile, credentials: creds, fragmentDurationMs: 1000 });
  const pts = feed(s);
  await s.close();
  // GetDataEndpoint and PutMedia (which reuses the pooled tunnel) both went through the proxy.
  t.deepEqual([...new Set(tunnels)], [`127.0.0.1:${ep.port}`]);
  t.is(ep.sessions.length, 1);
  t.deepEqual(ep.sessions[0]!.frameTimecodes, pts);
});
