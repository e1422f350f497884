/**
 * `fleet run --streams K`: live KVS streams for K devices of the fleet, each
 * camwire's native producer (KvsStream) fed a synthetic moving test pattern
 * at its frame rate in a loop, as the device agent's synthetic source does.
 * One second of the pattern is encoded once and shared by every stream.
 * Each streaming device publishes its stream events on cameras/{thing}/streams
 * over its own connection (held while it is offline), as `camwire device` does.
 */
import { Readable } from 'node:stream';
import { CamwireError } from '../errors';
import { awsChainCredentials, feedAnnexB, KvsStream, kvsControlEndpoint, pcmH264, StreamEventPublisher } from '../kvs';
import { LatencyRecorder } from './histogram';

export interface FleetStreamOptions {
  /** Streaming devices: the first `count` devices of this process's range. */
  count: number;
  /** Control plane URL (GetDataEndpoint); default the region's. */
  endpoint?: string;
  /** Default us-east-1. */
  region?: string;
  /** PEM CA bundle file for the endpoint's TLS (else Node's roots). */
  caFile?: string;
  /** Stream name = prefix + thing (default prefix ''). */
  prefix?: string;
  /** Default 10. */
  fps?: number;
  /** Default 64×48; multiples of 16. */
  width?: number;
  height?: number;
}

export interface FleetStreamTotals {
  started: number;
  framesStored: number;
  fragmentsPersisted: number;
  errors: number;
}

/** Parses `--stream-size WxH`: both multiples of 16, 16 to 1920. */
export function parseStreamSize(spec: string): { width: number; height: number } {
  const m = /^(\d+)x(\d+)$/.exec(spec.trim());
  const width = m ? Number(m[1]) : NaN;
  const height = m ? Number(m[2]) : NaN;
  const ok = (n: number) => Number.isInteger(n) && n >= 16 && n <= 1920 && n % 16 === 0;
  if (!m || !ok(width) || !ok(height)) {
    throw new CamwireError('FLEET_BAD_OPTIONS', `--stream-size ${spec} is not WxH with both multiples of 16 (16 to 1920)`, {
      hint: 'e.g. --stream-size 64x48',
    });
  }
  return { width, height };
}

export function checkStreamOptions(s: FleetStreamOptions): void {
  const bad = (m: string) => {
    throw new CamwireError('FLEET_BAD_OPTIONS', m);
  };
  if (!(Number.isInteger(s.count) && s.count >= 0)) bad('--streams must be a whole number of 0 or more');
  if (s.fps !== undefined && !(Number.isInteger(s.fps) && s.fps >= 1 && s.fps <= 60)) bad('--stream-fps must be a whole number from 1 to 60');
  for (const [n, v] of [
    ['width', s.width],
    ['height', s.height],
  ] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 16 && v <= 1920 && v % 16 === 0))
      bad(`--stream-size ${n} ${v} is not a multiple of 16 from 16 to 1920`);
  }
  if (s.endpoint !== undefined && !/^https?:\/\/[^/]+/.test(s.endpoint)) bad(`--kvs-endpoint ${s.endpoint} is not an http(s):// URL`);
}

interface OneStream {
  thing: string;
  stream: KvsStream;
  stop: AbortController;
  feeding: Promise<void>;
  failed: boolean;
  /** The first cause of a failure (the `stopped` event carries it). */
  error?: CamwireError;
  events: StreamEventPublisher;
}

/** A streaming device: its name and a QoS 1 publish on its own connection (resolving at the PUBACK). */
export interface StreamDevice {
  readonly thing: string;
  publishQos1(topic: string, payload: Buffer): Promise<void>;
}

/** How long the stop waits for the `stopped` events' PUBACKs. */
const EVENTS_WAIT_MS = 5000;

/** The streams of one process: start(), then stop() with a bounded wait for PERSISTED. */
export class FleetStreams {
  readonly persist = new LatencyRecorder();
  private readonly list: OneStream[] = [];
  private errors = 0;
  private framesStored = 0;
  private fragmentsPersisted = 0;

  constructor(
    private readonly o: FleetStreamOptions,
    /** Counts an error code into the report's errors (the first of a code is noted). */
    private readonly count: (code: string, message: string) => void,
  ) {}

  /**
   * Starts one stream per device, each publishing its stream events on
   * cameras/{thing}/streams as `camwire device` does (started, connected,
   * warning, error, dropped, stopped). Credentials come from the AWS chain,
   * resolved once here first so a missing one is one clear error.
   */
  async start(devices: StreamDevice[]): Promise<void> {
    if (!devices.length) return;
    await awsChainCredentials();
    const region = this.o.region ?? 'us-east-1';
    const endpoint = this.o.endpoint ?? kvsControlEndpoint(region);
    const fps = this.o.fps ?? 10;
    const pattern = pcmH264({ width: this.o.width ?? 64, height: this.o.height ?? 48, fps, frames: fps });
    for (const dev of devices) {
      const thing = dev.thing;
      const streamName = `${this.o.prefix ?? ''}${thing}`;
      const stream = new KvsStream({
        streamName,
        region,
        endpoint,
        credentials: () => awsChainCredentials(),
        fps,
        fragmentDurationMs: 1000,
        // Below the stop's own bound, so close() says why itself.
        persistTimeoutMs: 10_000,
        ...(this.o.caFile ? { caFile: this.o.caFile } : {}),
      });
      const events = new StreamEventPublisher({ publish: (topic, payload) => dev.publishQos1(topic, Buffer.from(payload)) }, thing, streamName);
      events.attach(stream, { region, endpoint });
      const one: OneStream = { thing, stream, stop: new AbortController(), feeding: Promise.resolve(), failed: false, events };
      stream.on('ack', (a) => {
        if (a.type !== 'PERSISTED') return;
        const ms = stream.metrics().persistLatencyMs;
        if (ms > 0) this.persist.recordMs(ms);
      });
      stream.on('warning', (e: CamwireError) => this.count(e.code, `stream ${streamName}: ${e.message}`));
      stream.on('error', (e: CamwireError) => this.fail(one, e));
      one.feeding = feedAnnexB(stream, () => Readable.from([pattern]), {
        fps,
        realtime: true,
        loop: true,
        signal: one.stop.signal,
        what: `synthetic frames of ${streamName}`,
      }).catch((e: unknown) => this.fail(one, e));
      this.list.push(one);
    }
  }

  private fail(one: OneStream, e: unknown): void {
    if (one.failed) return;
    one.failed = true;
    this.errors++;
    const err = e instanceof CamwireError ? e : undefined;
    one.error = err ?? new CamwireError('FLEET_STREAM_FAILED', String(e));
    this.count('FLEET_STREAM_FAILED', `stream of ${one.thing}: ${err ? `${err.code}: ${err.message}` : String(e)}`);
  }

  /** Stops feeding and closes every stream (close() waits for PERSISTED), within waitMs; streams still open then are aborted. */
  async stop(waitMs: number): Promise<void> {
    for (const s of this.list) s.stop.abort();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), waitMs)));
    const closed = this.list.map(async (s) => {
      await s.feeding;
      try {
        await s.stream.close();
      } catch (e) {
        this.fail(s, e);
      }
      return s;
    });
    const done = new Set<OneStream>();
    await Promise.race([Promise.all(closed.map((p) => p.then((s) => done.add(s)))), timeout]);
    clearTimeout(timer);
    for (const s of this.list) {
      if (!done.has(s)) {
        s.stream.abort();
        this.fail(s, new CamwireError('FLEET_STREAM_FAILED', `not every fragment was PERSISTED within ${waitMs} ms of the stop; aborted`));
      }
      const m = s.stream.metrics();
      this.framesStored += m.framesStored;
      this.fragmentsPersisted += m.fragmentsPersisted;
    }
    // The `stopped` events (with the metrics), acknowledged while the devices are still up; bounded: a device offline holds its own.
    const events = Promise.all(this.list.map((s) => s.events.stopped(s.stream.metrics(), s.error)));
    let t2: NodeJS.Timeout | undefined;
    await Promise.race([events, new Promise((r) => (t2 = setTimeout(r, EVENTS_WAIT_MS)))]);
    clearTimeout(t2);
  }

  /** Stops every stream at once (the run failed before its end): nothing more is sent. */
  abort(): void {
    for (const s of this.list) {
      s.stop.abort();
      s.stream.abort();
    }
  }

  totals(): FleetStreamTotals {
    return { started: this.list.length, framesStored: this.framesStored, fragmentsPersisted: this.fragmentsPersisted, errors: this.errors };
  }
}
