/**
 * `fleet run --uploads N`: upload cycles for N devices of the fleet, as a
 * camera does them. A cycle starts from an upload target, which comes either
 * from the fleet itself (`--s3-bucket`: it presigns one every interval with
 * camwire's presigner on the AWS SDK, as a back end would; or `--s3-local`:
 * against camwire's local S3 store, started for the run) or from a real back
 * end on the device's cameras/{thing}/upload-targets subscription. The PUT
 * goes with camwire's Uploader; the result message (DESIGN.md, checked
 * against its schema) is published at QoS 1 on cameras/{thing}/uploads over
 * the device's own MQTT connection, held while the device is offline and
 * sent again after a reconnect until it is acknowledged. A target id seen
 * twice is one job (QoS 1 may deliver twice): its result goes again.
 * The object is one synthetic file of random bytes, written once, shared.
 * This module (and the AWS SDK under it) loads only with --uploads.
 */
import crypto from 'node:crypto';
import { setMaxListeners } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { redactText } from '../common/redact';
import { topics } from '../common/topics';
import type { UploadResult } from '../common/upload-result';
import { uploadResultProblems } from '../common/upload-result-check';
import { parseUploadTarget, type UploadTarget } from '../common/upload-target';
import { CamwireError } from '../errors';
import { Uploader } from '../upload/engine';
import { LatencyRecorder } from './histogram';
import type { StreamDevice } from './streams';

/** Where the fleet presigns its own targets (it plays the back end). */
export interface FleetPresignOptions {
  /** S3 or S3-compatible endpoint (default: the region's S3). */
  endpoint?: string;
  bucket: string;
  /** Default us-east-1. */
  region?: string;
  /** Seconds a target stays valid (default 900). */
  expiresIn?: number;
  /** Keys to sign with (the local store's); default: the AWS credential chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export interface FleetUploadOptions {
  /** Uploading devices: the first `count` devices of this process's range. */
  count: number;
  /** Seconds between two presigned cycles of one device (±10 % jitter; the first within one interval). Default 10. */
  intervalS?: number;
  /** Size of the synthetic object (default 64 KiB). */
  bytes?: number;
  /** The fleet presigns a target every interval; without it, targets come only from a back end over MQTT. */
  presign?: FleetPresignOptions;
  /** With `presign`: start camwire's local S3 store in this directory (127.0.0.1) and presign against it; set by runFleet, not by workers. */
  localStoreDir?: string;
}

export interface FleetUploadTotals {
  /** Cycles begun (a target presigned or received). */
  started: number;
  /** Objects uploaded whose result the broker acknowledged. */
  completed: number;
  /** Bytes of the completed uploads. */
  bytes: number;
  /** Cycles that did not end uploaded and acknowledged (the cause codes are counted in the report's errors). */
  errors: number;
  /** Targets that came from the back end over MQTT (the rest the fleet presigned). */
  received: number;
}

/** Default size of the synthetic object: 64 KiB. */
export const DEFAULT_UPLOAD_BYTES = 65_536;
const MAX_UPLOAD_BYTES = 5 * 1024 * 1024 * 1024;
/** Target ids one device remembers (a redelivered target is one job). */
const SEEN_IDS = 64;

export function checkUploadOptions(u: FleetUploadOptions): void {
  const bad = (m: string) => {
    throw new CamwireError('FLEET_BAD_OPTIONS', m);
  };
  if (!(Number.isInteger(u.count) && u.count >= 0)) bad('--uploads must be a whole number of 0 or more');
  if (u.intervalS !== undefined && !(u.intervalS > 0 && Number.isFinite(u.intervalS))) bad('--upload-interval must be above 0');
  if (u.bytes !== undefined && !(Number.isInteger(u.bytes) && u.bytes >= 0 && u.bytes <= MAX_UPLOAD_BYTES))
    bad('--upload-bytes must be a whole number from 0 to 5 GiB (a single PUT)');
  const p = u.presign;
  if (p) {
    if (!p.bucket) bad('presigned uploads need a bucket (--s3-bucket)');
    if (p.endpoint !== undefined && !/^https?:\/\/[^/]+/.test(p.endpoint)) bad(`--s3-endpoint ${p.endpoint} is not an http(s):// URL`);
    if (p.expiresIn !== undefined && !(Number.isInteger(p.expiresIn) && p.expiresIn >= 1 && p.expiresIn <= 604800))
      bad('--upload-expires must be whole seconds from 1 to 604800');
  }
  if (u.localStoreDir !== undefined && !p) bad('--s3-local needs presigned uploads');
}

/**
 * What an uploading device offers: a streaming device's name and QoS 1
 * publish (held while offline, sent again after a reconnect, rejected when
 * the run ends first), and whether it is connected now.
 */
export interface UploadDevice extends StreamDevice {
  isUp(): boolean;
}

function presignLib(): typeof import('../upload/presign') {
  // camwire pins the SDK in its lockfile (see the CLI's presign commands).
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the AWS SDK loads only when the fleet presigns
  return require('../upload/presign') as typeof import('../upload/presign');
}

/** camwire's local S3 store for a run: on 127.0.0.1, with keys made up for it and the bucket there. */
export async function startLocalStore(
  dir: string,
  bucket: string,
  region: string,
): Promise<{ endpoint: string; credentials: { accessKeyId: string; secretAccessKey: string }; stop: () => Promise<void> }> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the local store loads only with --s3-local
  const { LocalS3Store } = require('../local/s3') as typeof import('../local/s3');
  const credentials = {
    accessKeyId: `AKIDFLEET${crypto.randomBytes(6).toString('hex').toUpperCase()}`,
    secretAccessKey: crypto.randomBytes(24).toString('base64url'),
  };
  const store = new LocalS3Store({ dir, credentials, region, buckets: [bucket] });
  await store.start();
  return { endpoint: store.url, credentials, stop: () => store.stop() };
}

interface OneDevice {
  dev: UploadDevice;
  uploader: Uploader;
  timer: NodeJS.Timeout | undefined;
  seq: number;
  /** Target id → its result once published (undefined while the job runs). */
  seen: Map<string, UploadResult | undefined>;
}

const message = (e: unknown) => redactText(e instanceof Error ? e.message : String(e));

/** The upload cycles of one process: start(), then stop() with a bounded wait for the cycles under way. */
export class FleetUploads {
  readonly latency = new LatencyRecorder();
  private readonly devices = new Map<string, OneDevice>();
  private readonly running = new Set<Promise<void>>();
  private presign: import('../upload/presign').PutPresigner | undefined;
  private dir: string | undefined;
  private file = '';
  private stopped = false;
  private readonly abort = new AbortController();
  private started = 0;
  private completed = 0;
  private bytes = 0;
  private errors = 0;
  private received = 0;

  constructor(
    private readonly o: FleetUploadOptions,
    /** Counts an error code into the report's errors (the first of a code is noted). */
    private readonly count: (code: string, message: string) => void,
  ) {
    // Every request in flight listens on the one stop signal.
    setMaxListeners(0, this.abort.signal);
  }

  private get intervalMs(): number {
    return (this.o.intervalS ?? 10) * 1000;
  }

  /** Whether this device uploads (it is one of the first `count`). */
  has(thing: string): boolean {
    return this.devices.has(thing);
  }

  private target(thing: string, key: string): Promise<UploadTarget> {
    const p = this.o.presign!;
    return this.presign!.presignPut({
      bucket: p.bucket,
      key,
      expiresIn: p.expiresIn ?? 900,
      contentType: 'application/octet-stream',
      shareExpiresIn: 0,
      id: `${thing}-${crypto.randomUUID()}`,
    });
  }

  /**
   * Writes the synthetic object; with presigning, signs one target first so
   * missing AWS credentials are one clear error before the run; then
   * schedules each device's first cycle within one interval.
   */
  async start(devices: UploadDevice[]): Promise<void> {
    if (!devices.length) return;
    if (this.o.presign) {
      const p = this.o.presign;
      // One S3 client signs every target of the run.
      this.presign = new (presignLib().PutPresigner)({
        region: p.region ?? 'us-east-1',
        ...(p.endpoint ? { endpoint: p.endpoint } : {}),
        ...(p.credentials ? { credentials: p.credentials } : {}),
      });
      try {
        await this.target(devices[0]!.thing, 'fleet/check');
      } catch (e) {
        const noKeys = (e as Error)?.name === 'CredentialsProviderError';
        throw new CamwireError(noKeys ? 'PRESIGN_NO_CREDENTIALS' : 'PRESIGN_FAILED', `the fleet cannot presign an upload target: ${message(e)}`, {
          hint: noKeys
            ? 'the fleet presigns with the AWS credential chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, a role), or use --s3-local DIR'
            : 'check --s3-endpoint, --s3-bucket and --s3-region',
          cause: e,
        });
      }
    }
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-fleet-uploads-'));
    this.file = path.join(this.dir, 'object.bin');
    fs.writeFileSync(this.file, crypto.randomBytes(this.o.bytes ?? DEFAULT_UPLOAD_BYTES));
    for (const dev of devices) {
      const d: OneDevice = {
        dev,
        // A fleet run is short: a few quick retries, never a device's five minutes.
        uploader: new Uploader({ thing: dev.thing, source: 'fleet', retryForMs: 10_000, attempts: 3, idleTimeoutMs: 10_000, signal: this.abort.signal }),
        timer: undefined,
        seq: 0,
        seen: new Map(),
      };
      this.devices.set(dev.thing, d);
      if (this.o.presign) d.timer = setTimeout(() => this.tick(d), Math.random() * this.intervalMs);
    }
  }

  private tick(d: OneDevice): void {
    if (this.stopped) return;
    d.timer = setTimeout(() => this.tick(d), this.intervalMs * (0.9 + 0.2 * Math.random()));
    if (!d.dev.isUp()) return;
    this.track(this.presignedCycle(d));
  }

  private track(p: Promise<void>): void {
    const q = p.finally(() => this.running.delete(q));
    this.running.add(q);
  }

  /** A target from the back end on cameras/{thing}/upload-targets. */
  receivedTarget(thing: string, payload: Buffer): void {
    const d = this.devices.get(thing);
    // An empty message is how a back end clears a retained target: nothing to do.
    if (!d || this.stopped || payload.length === 0) return;
    let target: UploadTarget;
    try {
      target = parseUploadTarget(payload);
    } catch (e) {
      this.errors++;
      this.count(e instanceof CamwireError ? e.code : 'UPLOAD_TARGET_INVALID', `${thing}: a target from the back end: ${message(e)}`);
      return;
    }
    if (d.seen.has(target.id)) {
      // Redelivered: one job. Its result goes again once there is one.
      const done = d.seen.get(target.id);
      if (done) this.track(this.publish(d, done).then(() => undefined));
      return;
    }
    this.received++;
    this.track(this.cycle(d, target, performance.now()));
  }

  /** presign → PUT → result. */
  private async presignedCycle(d: OneDevice): Promise<void> {
    const key = `${d.dev.thing}/fleet/${String(++d.seq).padStart(6, '0')}-${Date.now()}.bin`;
    let target: UploadTarget;
    try {
      target = await this.target(d.dev.thing, key);
    } catch (e) {
      this.started++;
      this.fail(d, e, 'presign');
      return;
    }
    await this.cycle(d, target, performance.now());
  }

  /** One job: PUT (or multipart, as the target says) → the result published and acknowledged. */
  private async cycle(d: OneDevice, target: UploadTarget, t0: number): Promise<void> {
    this.started++;
    this.remember(d, target.id, undefined);
    const startedAt = new Date().toISOString();
    let result: UploadResult;
    try {
      result = await d.uploader.upload(this.file, target);
    } catch (e) {
      const err = e instanceof CamwireError ? e : new CamwireError('UPLOAD_FAILED', String(e), { cause: e });
      this.fail(d, e, `PUT of ${target.object.path}`);
      // Cut by the stop: no result (a camera resumes such a job later).
      if (err.code === 'UPLOAD_ABORTED') return;
      result = {
        version: 1,
        id: target.id,
        thing: d.dev.thing,
        status: 'failed',
        ...(target.objectUrl ? { objectUrl: target.objectUrl } : {}),
        bytes: 0,
        ...(target.contentType ? { contentType: target.contentType } : {}),
        parts: target.multipart?.parts.length ?? 1,
        source: 'fleet',
        startedAt,
        completedAt: new Date().toISOString(),
        error: { code: err.code, message: redactText(err.message) },
      };
    }
    const invalid = uploadResultProblems(result);
    if (invalid) {
      if (result.status === 'uploaded') this.errors++;
      this.count('FLEET_UPLOAD_FAILED', `${d.dev.thing}: its result does not match the contract (DESIGN.md): ${invalid}`);
      return;
    }
    this.remember(d, target.id, result);
    const acked = await this.publish(d, result);
    if (!acked || result.status !== 'uploaded') {
      if (result.status === 'uploaded') this.errors++;
      return;
    }
    this.latency.recordMs(performance.now() - t0);
    this.completed++;
    this.bytes += result.bytes;
  }

  private async publish(d: OneDevice, result: UploadResult): Promise<boolean> {
    try {
      await d.dev.publishQos1(topics.uploads(d.dev.thing), Buffer.from(JSON.stringify(result)));
      return true;
    } catch (e) {
      this.count('FLEET_UPLOAD_FAILED', `${d.dev.thing}: the result of ${result.id} was not acknowledged: ${message(e)}`);
      return false;
    }
  }

  private remember(d: OneDevice, id: string, r: UploadResult | undefined): void {
    d.seen.set(id, r);
    if (d.seen.size > SEEN_IDS) d.seen.delete(d.seen.keys().next().value as string);
  }

  private fail(d: OneDevice, e: unknown, what: string): void {
    this.errors++;
    const code = e instanceof CamwireError ? e.code : 'FLEET_UPLOAD_FAILED';
    this.count(code, `upload of ${d.dev.thing} (${what}): ${message(e)}`);
  }

  /** No new cycle; waits up to waitMs for the cycles under way (their results acknowledged), then cuts what is left. */
  async stop(waitMs: number): Promise<void> {
    this.stopped = true;
    for (const d of this.devices.values()) clearTimeout(d.timer);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), waitMs)));
    const r = await Promise.race([Promise.all([...this.running]), timeout]);
    clearTimeout(timer);
    if (r === 'timeout') {
      this.count('FLEET_UPLOAD_FAILED', `${this.running.size} upload cycle(s) were still under way ${waitMs} ms after the stop; cut`);
      this.abort.abort();
      // The cut ones settle at once (UPLOAD_ABORTED); their results wait on devices that stop next, which rejects them.
    }
    this.cleanup();
  }

  /** Stops at once (the run failed before its end). */
  abortAll(): void {
    this.stopped = true;
    for (const d of this.devices.values()) clearTimeout(d.timer);
    this.abort.abort();
    this.cleanup();
  }

  private cleanup(): void {
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
    this.presign?.destroy();
    this.presign = undefined;
  }

  totals(): FleetUploadTotals {
    return { started: this.started, completed: this.completed, bytes: this.bytes, errors: this.errors, received: this.received };
  }
}
