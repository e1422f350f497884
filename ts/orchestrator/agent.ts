/**
 * The device agent: the simulated camera's whole job. Upload targets arrive
 * from the app over PTP (vendor operation or ticket file) and from the cloud
 * on cameras/{thing}/upload-targets; each becomes one job (idempotent by
 * target id, kept in a jobs directory until its result is in the outbox, so
 * a restart picks up what a crash interrupted, and the uploader's journal
 * resumes it from the parts already sent); results are published on
 * cameras/{thing}/uploads; the retained status and its last will are the
 * connection's.
 *
 * With a `kvs` section it also streams live video (a file played at its
 * frame rate, looped or once) into Kinesis Video Streams, with stream events;
 * a source played once ends the stream when it runs out (waiting for
 * PERSISTED), as stop() does.
 *
 * Events: `job` ({ id, source }) when a job starts, `duplicate` ({ id, source }) when a done job's target comes again (its result is published again), `result` (UploadResult),
 * `warning` (CamwireError: a rejected target, a failed publish), `ready`,
 * `stream-stopped` ({ metrics, error? }) when the KVS stream has ended,
 * `checkpoint` ({ id }) for each upload stop() cut short (it resumes on the next start).
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { CamwireError } from '../errors';
import { awsChainCredentials, feedAnnexB, IotCredentialsProvider, KvsMetrics, KvsStream, kvsControlEndpoint, pcmH264, StreamEventPublisher } from '../kvs';
import { DeviceConnection, topics } from '../mqtt';
import { PtpCamera, PtpCameraStarted } from '../ptp';
import { parseUploadTarget, Uploader, UploaderEvents, UploadResult, UploadTarget } from '../upload';
import { AgentConfig } from './config';
import { runUploadJob } from './upload-job';

const DONE_KEEP_MS = 7 * 24 * 3600_000;

interface Job {
  target: UploadTarget;
  source: 'mqtt' | 'ptp' | 'restart';
}

/** DeviceAgent's events, typed. */
export interface DeviceAgentEvents {
  /** A job started (its target came over MQTT, PTP, or was resumed after a restart). */
  job: [info: { id: string; source: Job['source'] }];
  /** A target whose job is done came again: its result was published again, nothing uploaded. */
  duplicate: [info: { id: string; source: Job['source'] }];
  /** An upload request failed and will be tried again. */
  retry: [info: UploaderEvents['retry'][0]];
  /** What the camera published for a job. */
  result: [result: UploadResult];
  /** Something the agent rides out: a rejected target, a failed publish, a stream warning. */
  warning: [err: CamwireError];
  ready: [];
  /** The live stream ended. */
  'stream-stopped': [info: { metrics: KvsMetrics; error?: CamwireError }];
  /** An upload stop() cut short; it resumes on the next start(). */
  checkpoint: [info: { id: string }];
}

export class DeviceAgent extends EventEmitter<DeviceAgentEvents> {
  private conn: DeviceConnection | undefined;
  private camera: PtpCamera | undefined;
  private readonly uploader: Uploader;
  private readonly queue: Job[] = [];
  private readonly active = new Map<string, Promise<void>>();
  private stopping = false;
  private stream: KvsStream | undefined;
  private streamEvents: StreamEventPublisher | undefined;
  private feeding: Promise<void> | undefined;
  private streamStopping: Promise<void> | undefined;
  private readonly stopFeeding = new AbortController();
  private readonly stopUploads = new AbortController();
  started: PtpCameraStarted | undefined;

  constructor(readonly config: AgentConfig) {
    super();
    this.uploader = new Uploader({
      journalDir: config.upload.journalDir,
      thing: config.thing,
      signal: this.stopUploads.signal,
      // A camera keeps the job: it retries until the target expires (an hour if its URLs do not say).
      retryForMs: Infinity,
    });
    this.uploader.on('retry', (r) => this.emit('retry', r));
  }

  async start(): Promise<{ ptp?: PtpCameraStarted }> {
    const c = this.config;
    fs.mkdirSync(c.upload.jobsDir, { recursive: true });
    fs.mkdirSync(c.upload.journalDir, { recursive: true });
    this.pruneDone();
    if (c.mqtt) {
      const read = (f?: string) => (f ? fs.readFileSync(f) : undefined);
      this.conn = new DeviceConnection({
        url: c.mqtt.url,
        thing: c.thing,
        status: true,
        clean: c.mqtt.cleanSession,
        ...(c.mqtt.cert ? { cert: read(c.mqtt.cert)! } : {}),
        ...(c.mqtt.key ? { key: read(c.mqtt.key)! } : {}),
        ...(c.mqtt.ca ? { ca: read(c.mqtt.ca)! } : {}),
        ...(c.mqtt.outboxDir ? { outboxDir: c.mqtt.outboxDir } : {}),
        ...(c.mqtt.protocolVersion ? { protocolVersion: c.mqtt.protocolVersion } : {}),
        ...(c.mqtt.keepaliveSeconds ? { keepaliveSeconds: c.mqtt.keepaliveSeconds } : {}),
        // A camera never gives up on its broker: a refused certificate (a server being re-keyed, a
        // man in the middle) is reported and tried again after the backoff, like any other failure.
        retryFatal: true,
      });
      this.conn.on('error', (e: CamwireError) => this.emit('warning', e));
      this.conn.on('message', (topic: string, payload: Buffer) => {
        if (topic === topics.uploadTargets(c.thing)) this.receive(payload, 'mqtt');
      });
      await this.conn.connect({ timeoutMs: 30_000 });
      await this.conn.subscribe(topics.uploadTargets(c.thing), { qos: 1 });
    }
    if (c.ptp) {
      this.camera = new PtpCamera({
        storage: c.storage,
        host: c.ptp.host,
        port: c.ptp.port,
        usb: c.ptp.usb,
        ...(c.ptp.name ? { name: c.ptp.name } : {}),
        ...(c.ptp.guid ? { guid: c.ptp.guid } : {}),
      });
      this.camera.on('upload-target', (t: { target: UploadTarget }) => this.submit(t.target, 'ptp'));
      this.camera.on('rejected-target', (e: CamwireError) => this.emit('warning', e));
      this.started = this.camera.start();
    }
    // Jobs a previous run did not finish.
    for (const f of fs
      .readdirSync(c.upload.jobsDir)
      .filter((n) => n.endsWith('.json'))
      .sort()) {
      try {
        const job = JSON.parse(fs.readFileSync(path.join(c.upload.jobsDir, f), 'utf8')) as Job;
        this.enqueue({ target: parseUploadTarget(job.target), source: job.source });
      } catch (e) {
        this.emit('warning', new CamwireError('AGENT_BAD_JOB', `job file ${f} is unreadable and was set aside: ${(e as Error).message}`));
        fs.renameSync(path.join(c.upload.jobsDir, f), path.join(c.upload.jobsDir, `${f}.bad`));
      }
    }
    if (c.kvs) this.startStream();
    this.emit('ready');
    return { ...(this.started ? { ptp: this.started } : {}) };
  }

  /** Live video: the configured source played into KVS, stream events on cameras/{thing}/streams. */
  private startStream(): void {
    const c = this.config;
    const k = c.kvs!;
    const credentials = k.iotCredentials
      ? new IotCredentialsProvider({
          endpoint: k.iotCredentials.endpoint,
          roleAlias: k.iotCredentials.roleAlias,
          thing: c.thing,
          cert: fs.readFileSync(c.mqtt!.cert!),
          key: fs.readFileSync(c.mqtt!.key!),
          ...(k.iotCredentials.ca ? { ca: fs.readFileSync(k.iotCredentials.ca) } : {}),
        })
      : () => awsChainCredentials();
    const endpoint = k.endpoint ?? kvsControlEndpoint(k.region);
    this.stream = new KvsStream({
      streamName: k.streamName,
      region: k.region,
      endpoint,
      credentials,
      fps: k.source.fps,
      fragmentDurationMs: k.fragmentDurationMs,
      ...(k.caFile ? { caFile: k.caFile } : {}),
    });
    this.stream.on('warning', (e: CamwireError) => this.emit('warning', e));
    this.stream.on('error', (e: CamwireError) => this.emit('warning', e));
    if (this.conn) {
      this.streamEvents = new StreamEventPublisher(this.conn, c.thing, k.streamName);
      this.streamEvents.attach(this.stream, { region: k.region, endpoint });
    }
    const src = k.source;
    // Synthetic: one second of a moving test pattern, made once and played in a loop.
    const pattern = src.synthetic ? pcmH264({ ...src.synthetic, fps: src.fps, frames: Math.max(1, Math.round(src.fps)) }) : undefined;
    const open = pattern ? () => Readable.from([pattern]) : () => fs.createReadStream(src.file!, { highWaterMark: 256 << 10 });
    const loop = pattern ? true : src.loop;
    this.feeding = feedAnnexB(this.stream, open, {
      fps: src.fps,
      realtime: true,
      loop,
      signal: this.stopFeeding.signal,
      what: src.file ?? 'synthetic frames',
    }).catch((e: unknown) => {
      this.emit('warning', e instanceof CamwireError ? e : new CamwireError('KVS_FAILED', String(e)));
    });
    if (!loop) void this.feeding.then(() => this.stopStream());
  }

  /** Ends the stream (once): feeding stops, the stream waits for PERSISTED, `stopped` is published. */
  private stopStream(): Promise<void> {
    this.streamStopping ??= this.endStream();
    return this.streamStopping;
  }

  private async endStream(): Promise<void> {
    if (!this.stream) return;
    this.stopFeeding.abort();
    await this.feeding;
    let error: CamwireError | undefined;
    let metrics;
    try {
      ({ metrics } = await this.stream.close());
    } catch (e) {
      error = e instanceof CamwireError ? e : new CamwireError('KVS_FAILED', String(e));
      metrics = this.stream.metrics();
    }
    await this.streamEvents?.stopped(metrics, error);
    this.emit('stream-stopped', { metrics, ...(error ? { error } : {}) });
  }

  /** A target from the cloud (MQTT payload). */
  private receive(payload: Buffer, source: 'mqtt'): void {
    let target: UploadTarget;
    try {
      target = parseUploadTarget(payload.toString('utf8'));
    } catch (e) {
      this.emit('warning', e instanceof CamwireError ? e : new CamwireError('UPLOAD_TARGET_INVALID', String(e)));
      return;
    }
    this.submit(target, source);
  }

  /** Takes a target: persisted first, then queued; one job per id, and a target whose job is done gets its result again. */
  submit(target: UploadTarget, source: Job['source']): void {
    if (this.stopping) return;
    if (this.active.has(target.id) || this.queue.some((j) => j.target.id === target.id)) return;
    const done = this.doneResult(target.id);
    if (done) {
      this.emit('duplicate', { id: target.id, source });
      if (this.conn) void this.conn.enqueue(topics.uploads(this.config.thing), JSON.stringify(done)).catch(() => undefined);
      return;
    }
    const file = this.jobFile(target.id);
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ target, source }));
    fs.renameSync(tmp, file);
    this.enqueue({ target, source });
  }

  private enqueue(job: Job): void {
    this.queue.push(job);
    this.pump();
  }

  private jobFile(id: string): string {
    return path.join(this.config.upload.jobsDir, `${encodeURIComponent(id)}.json`);
  }

  /** Where a finished job's result is kept (a week: no SigV4 URL outlives it), so a target seen again is not uploaded again. */
  private doneFile(id: string): string {
    return path.join(this.config.upload.jobsDir, 'done', `${encodeURIComponent(id)}.json`);
  }

  private doneResult(id: string): UploadResult | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.doneFile(id), 'utf8')) as UploadResult;
    } catch {
      return undefined;
    }
  }

  private pruneDone(): void {
    const dir = path.join(this.config.upload.jobsDir, 'done');
    fs.mkdirSync(dir, { recursive: true });
    const old = Date.now() - DONE_KEEP_MS;
    for (const f of fs.readdirSync(dir)) {
      const p = path.join(dir, f);
      try {
        if (fs.statSync(p).mtimeMs < old) fs.rmSync(p, { force: true });
      } catch {
        /* gone meanwhile */
      }
    }
  }

  private pump(): void {
    while (!this.stopping && this.active.size < this.config.upload.concurrency && this.queue.length) {
      const job = this.queue.shift()!;
      const p = this.run(job).finally(() => {
        this.active.delete(job.target.id);
        this.pump();
      });
      this.active.set(job.target.id, p);
    }
  }

  /** The storage file an upload target names; it may not leave the storage directory, by `..` or by a symlink. */
  resolve(objectPath: string): string {
    const root = fs.realpathSync(this.config.storage);
    const outside = () => new CamwireError('AGENT_PATH_OUTSIDE_STORAGE', `object path ${objectPath} points outside the camera's storage`);
    const inside = (p: string) => p === root || p.startsWith(root + path.sep);
    const p = path.resolve(root, objectPath.replace(/^\/+/, ''));
    if (!inside(p)) throw outside();
    let real: string;
    try {
      real = fs.realpathSync(p);
    } catch {
      return p; // missing: the uploader reports UPLOAD_FILE_NOT_FOUND
    }
    if (!inside(real)) throw outside();
    return real;
  }

  private async run(job: Job): Promise<void> {
    const { target, source } = job;
    this.emit('job', { id: target.id, source });
    let result: UploadResult;
    try {
      const file = this.resolve(target.object.path);
      ({ result } = await runUploadJob({
        file,
        target,
        uploader: this.uploader,
        source,
        thing: this.config.thing,
        waitForPuback: false,
        ...(this.conn ? { connection: this.conn } : {}),
      }));
    } catch (e) {
      if (e instanceof CamwireError && e.code === 'UPLOAD_ABORTED') {
        // Stopped mid-upload: the job file and the journal stay; the next start resumes it.
        this.emit('checkpoint', { id: target.id });
        return;
      }
      const r = (e as { result?: UploadResult }).result;
      if (!r) {
        // Failed before the upload started (a path outside the storage): still a published result.
        const err = e instanceof CamwireError ? e : new CamwireError('UPLOAD_FAILED', String(e));
        result = {
          version: 1,
          id: target.id,
          thing: this.config.thing,
          status: 'failed',
          bytes: 0,
          parts: target.multipart?.parts.length ?? 1,
          source,
          startedAt: new Date().toISOString(),
          completedAt: new Date().toISOString(),
          error: { code: err.code, message: err.message },
        } as UploadResult;
        if (this.conn) await this.conn.enqueue(topics.uploads(this.config.thing), JSON.stringify(result)).catch(() => undefined);
      } else {
        result = r;
      }
    }
    // The result is in the outbox (durable with outboxDir): the job is done.
    const done = this.doneFile(target.id);
    fs.writeFileSync(`${done}.tmp`, JSON.stringify(result));
    fs.renameSync(`${done}.tmp`, done);
    fs.rmSync(this.jobFile(target.id), { force: true });
    this.camera?.setLastUploadStatus(`${target.id} ${result.status}`);
    this.emit('result', result);
  }

  /**
   * Stops taking targets, checkpoints running uploads (requests in flight are
   * cut; confirmed parts stay in the journal and the job file stays, so the
   * next start resumes them), ends the KVS stream (waiting for PERSISTED, up
   * to timeoutMs), flushes the outbox, closes.
   */
  async stop(timeoutMs = 30_000): Promise<void> {
    this.stopping = true;
    this.camera?.stop();
    this.stopUploads.abort();
    // Each part is bounded: an unreachable broker (stream events waiting for
    // PUBACK) or a stuck endpoint must not keep the camera from stopping.
    const bounded = (p: Promise<unknown>) => {
      let timer: NodeJS.Timeout | undefined;
      return Promise.race([
        p.then(
          () => undefined,
          (e: unknown) => {
            this.emit('warning', e instanceof CamwireError ? e : new CamwireError('AGENT_STOP', String(e)));
          },
        ),
        new Promise<void>((r) => {
          timer = setTimeout(r, timeoutMs);
        }),
      ]).finally(() => clearTimeout(timer));
    };
    await Promise.all([bounded(this.stopStream()), bounded(Promise.all([...this.active.values()]))]);
    await this.conn?.close();
  }
}
