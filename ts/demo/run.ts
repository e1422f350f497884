/**
 * `camwire demo`: the whole camera-to-cloud path on this machine, with
 * embedded services and no accounts. A CA and certificates; an MQTT broker
 * with mutual TLS (aedes), an S3-compatible store that checks SigV4 (camwire's
 * LocalS3Store), a Kinesis Video Streams endpoint and an IoT credentials
 * provider (camwire's local ones, over TLS); the simulated camera (the device
 * agent: PTP/IP responder, MQTT, uploader, KVS producer); and the app, which
 * lists the camera over PTP/IP, presigns with the AWS SDK, hands both targets
 * over PTP, waits for the results on MQTT, downloads each object and compares
 * its SHA-256, and checks that every fragment of the live stream was
 * PERSISTED. Each step is timed; the demo passes only when every check does.
 */
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import mqtt from 'mqtt';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CamwireError } from '../errors';
import type { KvsMetrics } from '../kvs';
import { LocalCloud, LocalS3Request } from '../local';
import { topics } from '../common/topics';
import { DeviceAgent } from '../orchestrator/agent';
import { AgentConfig } from '../orchestrator/config';
import { CertificateAuthority, writePrivateKey, writePublicFile } from '../pki';
import { PtpClient } from '../ptp';
import { UploadResult, UploadTarget } from '../upload';
import { presignMultipart, presignPut } from '../upload/presign';
import { DemoSamples, haveFfmpeg, makeSamples, SampleFile } from './samples';

export const DEMO_THING = 'camwire-demo-cam';
export const DEMO_APP = 'camwire-demo-app';
export const DEMO_BUCKET = 'camwire-demo';
export const DEMO_STREAM = 'camwire-demo-live';
export const DEMO_REGION = 'us-east-1';
/** The embedded store's and KVS endpoint's static key pair (local only, printed by --keep). */
export const DEMO_KEYS = { accessKeyId: 'CAMWIREDEMOKEY00000', secretAccessKey: 'camwire-demo-secret-not-for-production' };
const MiB = 1024 * 1024;

export interface DemoStep {
  step: string;
  ok: boolean;
  /** Seconds since the demo started, when the step began. */
  at: number;
  seconds: number;
  where?: string;
  detail: string;
}

export type DemoEvent = { kind: 'step'; step: DemoStep } | { kind: 'note'; at: number; text: string };

export interface DemoOptions {
  /** Seconds of live H.264 into KVS (default 10). */
  streamSeconds?: number;
  /** Make the samples with ffmpeg when installed (default true). */
  useFfmpeg?: boolean;
  /** Parent of the temp directory (default the OS temp dir). */
  tmpDir?: string;
  onEvent?: (e: DemoEvent) => void;
  /** Ends the demo early (Ctrl-C): the running step fails with DEMO_INTERRUPTED and everything is cleaned up. */
  signal?: AbortSignal;
  /** Break the demo on purpose (tests prove that it can fail): the app presigns with this wrong secret. */
  faults?: { presignSecret?: string };
  /** With --keep: called once the checks are done, with everything running; the demo cleans up when it resolves. */
  keep?: (info: DemoConnectInfo) => Promise<void>;
}

export interface DemoConnectInfo {
  dir: string;
  mqtt: { url: string; port: number; ca: string; cert: string; key: string };
  ptp: { port: number };
  s3: { endpoint: string; bucket: string; region: string };
  kvs: { endpoint: string; stream: string; region: string; ca: string; liveFile: string };
  keys: typeof DEMO_KEYS;
  thing: string;
  /** The photo's path on the camera, and its file name. */
  photoPath: string;
  photo: string;
}

export interface DemoSummary {
  ok: boolean;
  seconds: number;
  steps: DemoStep[];
  samples?: DemoSamples['madeWith'];
  uploads: Array<{ path: string; key: string; bytes: number; parts: number; sha256: string; verified: boolean }>;
  stream?: { frames: number; fragmentsPersisted: number; fragmentsAtEndpoint: number; framesAtEndpoint: number };
}

interface Waiter<T> {
  match: (v: T) => boolean;
  resolve: (v: T) => void;
}

/** Messages the app received, and promises for the ones still to come. */
class Inbox {
  readonly messages: Array<{ topic: string; payload: string }> = [];
  private waiters: Array<Waiter<{ topic: string; payload: string }>> = [];

  push(topic: string, payload: string): void {
    const m = { topic, payload };
    this.messages.push(m);
    this.waiters = this.waiters.filter((w) => (w.match(m) ? (w.resolve(m), false) : true));
  }

  wait(match: (m: { topic: string; payload: string }) => boolean, timeoutMs: number, what: string): Promise<{ topic: string; payload: string }> {
    const seen = this.messages.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new CamwireError('DEMO_TIMEOUT', `no ${what} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const waiter: Waiter<{ topic: string; payload: string }> = {
        match,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      this.waiters.push(waiter);
    });
  }
}

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const mb = (n: number) => (n >= MiB ? `${(n / MiB).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(0)} KiB` : `${n} B`);

export async function runDemo(o: DemoOptions = {}): Promise<DemoSummary> {
  const t0 = Date.now();
  const since = () => (Date.now() - t0) / 1000;
  const emit = (e: DemoEvent) => o.onEvent?.(e);
  const note = (text: string) => emit({ kind: 'note', at: since(), text });
  const steps: DemoStep[] = [];
  const summary: DemoSummary = { ok: false, seconds: 0, steps, uploads: [] };
  /** Runs one step; a failure ends the demo (later steps need it). */
  const step = async <T>(name: string, where: string | undefined, fn: () => Promise<{ value: T; detail: string }>): Promise<T> => {
    const at = since();
    try {
      if (o.signal?.aborted) throw interrupted();
      let onAbort = () => undefined as void;
      const abort = new Promise<never>((_, reject) => {
        onAbort = () => reject(interrupted());
        o.signal?.addEventListener('abort', onAbort, { once: true });
      });
      abort.catch(() => undefined);
      const { value, detail } = await Promise.race([fn(), abort]).finally(() => o.signal?.removeEventListener('abort', onAbort));
      const s: DemoStep = { step: name, ok: true, at, seconds: since() - at, ...(where ? { where } : {}), detail };
      steps.push(s);
      emit({ kind: 'step', step: s });
      return value;
    } catch (e) {
      const err = e instanceof CamwireError ? e : new CamwireError('DEMO_FAILED', e instanceof Error ? `${e.name}: ${e.message}` : String(e));
      const s: DemoStep = { step: name, ok: false, at, seconds: since() - at, ...(where ? { where } : {}), detail: `${err.code}: ${err.message}` };
      steps.push(s);
      emit({ kind: 'step', step: s });
      throw err;
    }
  };

  const interrupted = () => new CamwireError('DEMO_INTERRUPTED', 'interrupted (SIGINT/SIGTERM)');
  const root = fs.mkdtempSync(path.join(o.tmpDir ?? os.tmpdir(), 'camwire-demo-'));
  const pkiDir = path.join(root, 'pki');
  const cleanup: Array<() => Promise<unknown> | unknown> = [];
  let failure: unknown;
  try {
    // 1. Identity: the fleet CA, the broker's and endpoints' server certificate, the camera's and the app's client certificates.
    const pki = await step('identity', pkiDir, async () => {
      const { ca, certPem } = await CertificateAuthority.create({ commonName: 'camwire demo CA', keyType: 'ec', days: 2 });
      const server = await ca.issueServer('127.0.0.1', ['127.0.0.1', 'localhost'], { keyType: 'ec', days: 2 });
      const camera = await ca.issueDevice(DEMO_THING, { keyType: 'ec', days: 2 });
      const app = await ca.issueDevice(DEMO_APP, { keyType: 'ec', days: 2 });
      const f = (n: string) => path.join(pkiDir, n);
      fs.mkdirSync(pkiDir, { recursive: true, mode: 0o700 });
      writePublicFile(f('ca.pem'), certPem);
      for (const [name, c] of [
        ['server', server],
        ['camera', camera],
        ['app', app],
      ] as const) {
        writePublicFile(f(`${name}.pem`), c.certPem);
        writePrivateKey(f(`${name}.key`), c.keyPem);
      }
      return {
        value: {
          caPem: certPem,
          server,
          ca: f('ca.pem'),
          camera: { cert: f('camera.pem'), key: f('camera.key') },
          app: { cert: f('app.pem'), key: f('app.key') },
        },
        detail: `CA + server, camera (CN ${DEMO_THING}) and app (CN ${DEMO_APP}) certificates, EC P-256, keys 0600`,
      };
    });

    // 2. Services.
    const services = await step('services', '127.0.0.1', async () => {
      // Each behind its own fault proxy (camwire/local's LocalCloud): the URLs below are the proxies'.
      const cloud = await LocalCloud.start({
        dir: root,
        tls: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.caPem },
        keys: DEMO_KEYS,
        region: DEMO_REGION,
        buckets: [DEMO_BUCKET],
        operators: [DEMO_APP],
        roleAlias: 'camwire-demo-kvs',
      });
      cleanup.push(() => cloud.stop());
      cloud.broker!.on('refused', (r) => note(`broker refused ${r.clientId}: ${r.reason}`));
      cloud.s3!.on('request', (r: LocalS3Request) => {
        if (r.operation === 'ListObjects' || r.operation === 'HeadObject') return;
        note(`S3 ${r.operation} ${r.key ?? r.bucket ?? ''} -> ${r.status}${r.code ? ` ${r.code}` : ''}${r.bytes ? ` (${mb(r.bytes)})` : ''}`);
      });
      const value = {
        cloud,
        broker: { url: cloud.urls.mqtt!, port: cloud.proxies.mqtt!.port },
        s3: { url: cloud.urls.s3! },
        kvs: { url: cloud.urls.kvs!, sessions: cloud.kvs!.sessions },
        creds: { url: cloud.urls.iotCredentials! },
      };
      return {
        value,
        detail: `MQTT (aedes, mTLS) ${value.broker.url}; S3 ${value.s3.url}/${DEMO_BUCKET}; KVS ${value.kvs.url}; IoT credentials ${value.creds.url}`,
      };
    });

    // 3. Media on the camera.
    const useFfmpeg = (o.useFfmpeg ?? true) && haveFfmpeg();
    const storage = path.join(root, 'camera');
    const samples = await step('samples', storage, async () => {
      const s = await makeSamples(storage, path.join(root, 'media'), { streamSeconds: o.streamSeconds ?? 10, useFfmpeg });
      return {
        value: s,
        detail: `${s.photo.path} (${mb(s.photo.size)}), ${s.trailer.path} (${mb(s.trailer.size)}), ${s.live.frames} frames of live H.264 ${s.live.width}x${s.live.height}; made with ${s.madeWith === 'ffmpeg' ? 'ffmpeg' : 'camwire (ffmpeg not found: BMP and I_PCM H.264)'}`,
      };
    });
    summary.samples = samples.madeWith;

    // 4. The app's MQTT session: everything the camera says.
    const inbox = new Inbox();
    await step('app on MQTT', services.broker.url, async () => {
      const client = await mqtt.connectAsync(services.broker.url, {
        clientId: DEMO_APP,
        protocolVersion: 4,
        clean: true,
        reconnectPeriod: 0,
        ca: fs.readFileSync(pki.ca),
        cert: fs.readFileSync(pki.app.cert),
        key: fs.readFileSync(pki.app.key),
      });
      cleanup.push(() => client.endAsync(true));
      client.on('message', (topic, payload) => inbox.push(topic, payload.toString('utf8')));
      await client.subscribeAsync(topics.all(DEMO_THING), { qos: 1 });
      return { value: client, detail: `subscribed to ${topics.all(DEMO_THING)} as ${DEMO_APP}` };
    });

    // 5. The camera.
    const agentConfig: AgentConfig = {
      thing: DEMO_THING,
      storage,
      mqtt: {
        url: services.broker.url,
        cert: pki.camera.cert,
        key: pki.camera.key,
        ca: pki.ca,
        outboxDir: path.join(root, 'device', 'outbox'),
        cleanSession: false,
      },
      ptp: { host: '127.0.0.1', port: 0, usb: false, name: 'camwire demo camera' },
      upload: { concurrency: 2, journalDir: path.join(root, 'device', 'journal'), jobsDir: path.join(root, 'device', 'jobs') },
      kvs: {
        streamName: DEMO_STREAM,
        region: DEMO_REGION,
        endpoint: services.kvs.url,
        caFile: pki.ca,
        fragmentDurationMs: 2000,
        source: { file: samples.live.file, fps: samples.live.fps, loop: false },
        iotCredentials: { endpoint: services.creds.url, roleAlias: 'camwire-demo-kvs', ca: pki.ca },
      },
    };
    const agent = new DeviceAgent(agentConfig);
    agent.on('job', (j: { id: string; source: string }) => note(`camera: job ${j.id} from ${j.source}`));
    agent.on('warning', (e: CamwireError) => note(`camera warning ${e.code}: ${e.message}`));
    const streamEnded = new Promise<{ metrics: KvsMetrics; error?: CamwireError }>((resolve) => agent.once('stream-stopped', resolve));
    const streamStart = since();
    // Stopped on every path, also when start() fails halfway (connected, PTP up).
    cleanup.push(() => agent.stop(5_000));
    const ptpPort = await step('camera', undefined, async () => {
      const started = await agent.start();
      await inbox.wait((m) => m.topic === topics.status(DEMO_THING) && m.payload === 'online', 10_000, 'retained online status');
      const port = started.ptp!.port;
      return { value: port, detail: `${DEMO_THING}: PTP/IP on 127.0.0.1:${port}, MQTT online (retained status, will offline), streaming ${DEMO_STREAM}` };
    });

    // 6. The app over PTP/IP: list, presign, hand over the targets.
    const targets = await step('app over PTP/IP', `ptpip:127.0.0.1:${ptpPort}`, async () => {
      const ptp = await PtpClient.connect(`ptpip:127.0.0.1:${ptpPort}`, { name: 'camwire demo app' });
      try {
        const objects = (await ptp.list()).filter((x) => !x.folder);
        for (const s of [samples.photo, samples.trailer]) {
          const listed = objects.find((x) => x.path === s.path);
          if (!listed) throw new CamwireError('DEMO_NOT_LISTED', `the camera did not list ${s.path} (listed: ${objects.map((x) => x.path).join(', ')})`);
          if (listed.size !== s.size) throw new CamwireError('DEMO_WRONG_SIZE', `the camera lists ${s.path} with ${listed.size} bytes, the file has ${s.size}`);
        }
        const credentials = o.faults?.presignSecret ? { ...DEMO_KEYS, secretAccessKey: o.faults.presignSecret } : DEMO_KEYS;
        const base = (s: SampleFile) => ({
          endpoint: services.s3.url,
          region: DEMO_REGION,
          bucket: DEMO_BUCKET,
          credentials,
          key: `devices/${DEMO_THING}/${path.basename(s.path)}`,
          contentType: s.contentType,
          expiresIn: 900,
        });
        const photo: UploadTarget = { ...(await presignPut(base(samples.photo))), object: { path: samples.photo.path } };
        const trailer: UploadTarget = {
          ...(await presignMultipart({ ...base(samples.trailer), size: samples.trailer.size, partSize: 5 * MiB })),
          object: { path: samples.trailer.path },
        };
        await ptp.sendTarget(photo);
        await ptp.sendTarget(trailer);
        return {
          value: [
            { target: photo, sample: samples.photo, key: base(samples.photo).key },
            { target: trailer, sample: samples.trailer, key: base(samples.trailer).key },
          ],
          detail: `listed ${objects.length} files; sent 2 targets (SetUploadTarget): ${path.basename(samples.photo.path)} single PUT, ${path.basename(samples.trailer.path)} multipart ${trailer.multipart!.parts.length} x 5 MiB`,
        };
      } finally {
        await ptp.close().catch(() => undefined);
      }
    });

    // 7. Results on MQTT, then each object downloaded and compared.
    for (const { target, sample, key } of targets) {
      await step(`upload ${path.basename(sample.path)}`, `s3://${DEMO_BUCKET}/${key}`, async () => {
        const m = await inbox.wait(
          (x) => x.topic === topics.uploads(DEMO_THING) && (JSON.parse(x.payload) as UploadResult).id === target.id,
          60_000,
          `result for ${sample.path} on ${topics.uploads(DEMO_THING)}`,
        );
        const result = JSON.parse(m.payload) as UploadResult;
        if (result.status !== 'uploaded')
          throw new CamwireError('DEMO_UPLOAD_FAILED', `the camera reports ${result.status}: ${result.error?.code ?? ''} ${result.error?.message ?? ''}`);
        const s3 = new S3Client({ region: DEMO_REGION, endpoint: services.s3.url, forcePathStyle: true, credentials: DEMO_KEYS });
        const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: DEMO_BUCKET, Key: key }), { expiresIn: 60 });
        s3.destroy();
        const res = await fetch(url);
        if (!res.ok) throw new CamwireError('DEMO_DOWNLOAD_FAILED', `GET of the uploaded object: ${res.status}`);
        const body = Buffer.from(await res.arrayBuffer());
        const got = sha256(body);
        const verified = got === sample.sha256 && (result.sha256 === undefined || result.sha256 === got);
        if (!verified)
          throw new CamwireError(
            'DEMO_SHA256_MISMATCH',
            `downloaded ${body.length} bytes with SHA-256 ${got}; the camera's file has ${sample.sha256}${result.sha256 ? `, the result says ${result.sha256}` : ''}`,
          );
        summary.uploads.push({ path: sample.path, key, bytes: body.length, parts: result.parts, sha256: got, verified });
        return {
          value: undefined,
          detail: `result on MQTT (${result.parts} part${result.parts > 1 ? 's' : ''}, ${mb(result.bytes)}), downloaded, SHA-256 ${got.slice(0, 16)}... matches`,
        };
      });
    }

    // 8. The live stream: every fragment PERSISTED, every frame at the endpoint.
    await step('live video to KVS', `${services.kvs.url} stream ${DEMO_STREAM}`, async () => {
      const timeoutMs = ((o.streamSeconds ?? 10) + 60) * 1000;
      const stopped = await inbox.wait(
        (x) => x.topic === topics.streams(DEMO_THING) && (JSON.parse(x.payload) as { event?: string }).event === 'stopped',
        timeoutMs,
        `stream "stopped" event on ${topics.streams(DEMO_THING)}`,
      );
      const ev = JSON.parse(stopped.payload) as { status: string; metrics: KvsMetrics; error?: { code: string; message: string } };
      const ended = await streamEnded;
      if (ev.status !== 'ok') throw new CamwireError('DEMO_STREAM_FAILED', `the stream stopped with ${ev.error?.code}: ${ev.error?.message}`);
      const sessions = services.kvs.sessions.filter((s) => s.stream === DEMO_STREAM);
      const fragments = sessions.reduce((n, s) => n + s.fragments.length, 0);
      const frames = sessions.reduce((n, s) => n + s.frames, 0);
      const m = ended.metrics;
      summary.stream = { frames: m.framesStored, fragmentsPersisted: m.fragmentsPersisted, fragmentsAtEndpoint: fragments, framesAtEndpoint: frames };
      if (m.framesStored !== samples.live.frames) throw new CamwireError('DEMO_STREAM_SHORT', `${m.framesStored} of ${samples.live.frames} frames were stored`);
      if (m.fragmentsPersisted !== fragments || m.framesDropped !== 0)
        throw new CamwireError(
          'DEMO_STREAM_NOT_PERSISTED',
          `${m.fragmentsPersisted} fragments PERSISTED, ${fragments} at the endpoint, ${m.framesDropped} frames dropped`,
        );
      if (frames < samples.live.frames) throw new CamwireError('DEMO_STREAM_SHORT', `the endpoint received ${frames} of ${samples.live.frames} frames`);
      return {
        value: undefined,
        detail: `${m.framesStored} frames in ${m.fragmentsPersisted} fragments, all PERSISTED (${sessions.length} PutMedia session${sessions.length > 1 ? 's' : ''}, ${mb(m.bytesSent)} sent, started at +${streamStart.toFixed(1)}s); "stopped" event on MQTT`,
      };
    });

    summary.ok = steps.every((s) => s.ok);
    if (o.keep) {
      await o.keep({
        dir: root,
        thing: DEMO_THING,
        keys: DEMO_KEYS,
        photoPath: samples.photo.path,
        photo: path.basename(samples.photo.path),
        mqtt: { url: services.broker.url, port: services.broker.port, ca: pki.ca, cert: pki.app.cert, key: pki.app.key },
        ptp: { port: ptpPort },
        s3: { endpoint: services.s3.url, bucket: DEMO_BUCKET, region: DEMO_REGION },
        kvs: { endpoint: services.kvs.url, stream: DEMO_STREAM, region: DEMO_REGION, ca: pki.ca, liveFile: samples.live.file },
      });
    }
  } catch (e) {
    failure = e;
  } finally {
    for (const c of cleanup.reverse())
      await Promise.resolve()
        .then(c)
        .catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  }
  summary.seconds = since();
  if (failure) summary.ok = false;
  return summary;
}
