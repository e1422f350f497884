/**
 * KvsStream: live H.264 into Kinesis Video Streams through camwire's own C++
 * producer. Frames are pinned, not copied, and handed to the native network
 * loop, which packages them into MKV fragments, keeps them until KVS says
 * PERSISTED, and streams them over one long SigV4-signed PutMedia connection
 * (libcurl), reconnecting and re-sending on errors.
 *
 * Events:
 *  - `ack`       every acknowledgement: { type, timecode, fragmentNumber, errorId?, errorCode? }
 *  - `connected` a PutMedia connection was accepted: { connection, endpoint }
 *  - `warning`   a recovered problem (dropped connection, ERROR ack, stale
 *                connection, auth retry): a CamwireError; the stream goes on
 *  - `error`     the stream has stopped (bad credentials, missing stream, TLS
 *                not trusted): a CamwireError
 *  - `dropped`   frames thrown away because the store was full: { timecode, frames }
 *  - `metrics`   every metricsIntervalMs: KvsMetrics
 *  - `drain`     putFrame/putAnnexB returned false earlier and the queue is low again
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import { Writable } from 'node:stream';
import type tlsModule from 'node:tls';
import { kvsControlEndpoint } from '../common/partition';
import { CamwireError } from '../errors';
import { fromNative, KVS_TUNING_KEYS, KvsProducerTuning, native, nativeError, NativeKvsEvent, NativeKvsMetrics, NativeKvsProducer } from '../native';

export type { KvsProducerTuning } from '../native';
import type { AwsCredentials } from './credentials';

export type KvsMetrics = NativeKvsMetrics;

let trusted: string | undefined;

/** The CAs Node's own HTTPS trusts by default, as one PEM bundle (read once). */
export function nodeTrustedCas(): string {
  if (trusted === undefined) {
    const extra = process.env['NODE_EXTRA_CA_CERTS'];
    let extraPem = '';
    if (extra) {
      try {
        extraPem = fs.readFileSync(extra, 'utf8');
      } catch {
        // Node itself only warns about an unreadable NODE_EXTRA_CA_CERTS; so does this (by trusting the rest).
      }
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- Node's TLS loads only for a stream to an endpoint (not for packaging to a file)
    const tls = require('node:tls') as typeof tlsModule;
    trusted = [...tls.rootCertificates, extraPem].join('\n');
  }
  return trusted;
}

export interface KvsAck {
  type: 'BUFFERING' | 'RECEIVED' | 'PERSISTED' | 'ERROR' | 'IDLE' | 'UNKNOWN';
  /** The fragment's cluster timecode (epoch ms: camwire streams ABSOLUTE timecodes). */
  timecode?: number;
  fragmentNumber: string;
  errorId?: number;
  errorCode?: string;
}

/** Static credentials, or something that returns current ones (refreshed before they expire). */
export type KvsCredentialSource = AwsCredentials | (() => Promise<AwsCredentials>) | { get(): Promise<AwsCredentials> };

/** A stream's options: where it goes, its credentials, and the producer's tuning (KvsProducerTuning: one definition in native.ts). */
export interface KvsStreamOptions extends KvsProducerTuning {
  streamName: string;
  region: string;
  /** Control plane URL for GetDataEndpoint (default the region's: https://kinesisvideo.cn-north-1.amazonaws.com.cn in Beijing; a region without KVS is KVS_REGION_UNSUPPORTED). */
  endpoint?: string;
  /** Skip GetDataEndpoint and PutMedia straight here. */
  dataEndpoint?: string;
  credentials: KvsCredentialSource;
  /** The stream has no retention: trust RECEIVED instead of waiting for PERSISTED. */
  noRetention?: boolean;
  /**
   * PEM CA bundle file for the endpoints' TLS certificates. Default: the roots
   * Node trusts (its Mozilla bundle plus NODE_EXTRA_CA_CERTS), as for every
   * other HTTPS request camwire makes, on any distribution and with no /etc/ssl.
   */
  caFile?: string;
  /** Bytes of pinned input queued before putFrame/putAnnexB return false (default 8 MiB). */
  highWaterMark?: number;
  /**
   * An audio track (track 2) for putAudio: AAC (frames with ADTS headers, which
   * are stripped and whose first gives the configuration, or raw frames with
   * sampleRate and channels, or audioSpecificConfig), or G.711 A-law/µ-law
   * (sampleRate and channels required).
   */
  audio?: { codec: 'aac' | 'alaw' | 'mulaw'; sampleRate?: number; channels?: number; audioSpecificConfig?: Buffer };
}

export interface KvsCloseSummary {
  metrics: KvsMetrics;
}

function isSource(c: KvsCredentialSource): c is (() => Promise<AwsCredentials>) | { get(): Promise<AwsCredentials> } {
  return typeof c === 'function' || typeof (c as { get?: unknown }).get === 'function';
}

/** KvsStream's events, typed (MQTT.js style: `on<K extends keyof KvsStreamEvents>`). */
export interface KvsStreamEvents {
  /** Every ack KVS sends: BUFFERING, RECEIVED, PERSISTED, ERROR, IDLE. */
  ack: [ack: KvsAck];
  /** A PutMedia connection is up (connection counts from 1). */
  connected: [info: { connection: number; endpoint: string }];
  /** Frames dropped from the store (overflow policy drop), with the fragment they were in. */
  dropped: [info: { timecode: number; frames: number }];
  /** Every metricsIntervalMs (default 1 s). */
  metrics: [metrics: KvsMetrics];
  /** Something the producer rides out: a reconnect, a throttle, an ERROR ack it re-sends after, a credential refresh that failed. */
  warning: [err: CamwireError];
  /** The fatal error that stops the stream (only emitted when someone listens; close() rejects with it too). */
  error: [err: CamwireError];
  /** The stream has ended, with its last metrics and the error it ended with, if any. */
  close: [summary: { error?: CamwireError; metrics: KvsMetrics }];
  /** The queue fell below half its high-water mark after putFrame returned false. */
  drain: [];
}

export class KvsStream extends EventEmitter<KvsStreamEvents> {
  private readonly producer: NativeKvsProducer;
  private readonly highWaterMark: number;
  private needDrain = false;
  private closing: Promise<KvsCloseSummary> | undefined;
  private settleClose: ((e: CamwireError | undefined, m: KvsMetrics) => void) | undefined;
  private closedWith: { error?: CamwireError; metrics: KvsMetrics } | undefined;
  private fatal: CamwireError | undefined;
  private credTimer: NodeJS.Timeout | undefined;
  private lastCredKey = '';
  private readonly ready: Promise<void>;

  constructor(private readonly o: KvsStreamOptions) {
    super();
    if (!o.credentials) throw new CamwireError('KVS_BAD_OPTIONS', 'credentials are required (static keys, the AWS chain, or the IoT credentials provider)');
    if (o.codec !== undefined && !['h264', 'h265', 'auto'].includes(o.codec)) {
      throw new CamwireError('KVS_BAD_OPTIONS', "codec must be 'h264', 'h265' or 'auto'");
    }
    if (o.fragmentDurationMs !== undefined && !(o.fragmentDurationMs >= 1000 && o.fragmentDurationMs <= 10000)) {
      throw new CamwireError('KVS_BAD_OPTIONS', 'fragmentDurationMs must be 1000-10000 (KVS refuses fragments longer than 10 s)');
    }
    this.highWaterMark = o.highWaterMark ?? 8 << 20;
    const stack = new Error().stack;
    try {
      // The tuning goes to the native side as it is (it skips what is undefined).
      const tuning: KvsProducerTuning = {};
      for (const k of KVS_TUNING_KEYS) if (o[k] !== undefined) (tuning as Record<string, unknown>)[k] = o[k];
      // On disk, an outage may last long: the store is bounded by its bytes, not by 120 s.
      if (o.storeDir !== undefined && o.storeDurationMs === undefined) tuning.storeDurationMs = 7 * 24 * 3600_000;
      const { streamName, region, dataEndpoint, caFile } = o;
      if (o.audio && !['aac', 'alaw', 'mulaw'].includes(o.audio.codec))
        throw new CamwireError('KVS_BAD_OPTIONS', "audio.codec must be 'aac', 'alaw' or 'mulaw'");
      this.producer = new (native().KvsProducer)(
        {
          ...tuning,
          streamName,
          region,
          dataEndpoint,
          caFile,
          ...(caFile ? {} : { caPem: nodeTrustedCas() }),
          controlEndpoint: o.endpoint ?? kvsControlEndpoint(o.region),
          ...(o.audio
            ? {
                audioCodec: o.audio.codec,
                ...(o.audio.sampleRate ? { audioRate: o.audio.sampleRate } : {}),
                ...(o.audio.channels ? { audioChannels: o.audio.channels } : {}),
                ...(o.audio.audioSpecificConfig ? { audioSpecificConfig: o.audio.audioSpecificConfig } : {}),
              }
            : {}),
          overflow: o.overflow ?? 'drop',
          trimOnReceived: o.noRetention ?? false,
          userAgent: o.userAgent ?? 'camwire',
          metricsIntervalMs: o.metricsIntervalMs ?? 1000,
        },
        (events, queued) => this.onNative(events, queued),
      );
    } catch (e) {
      throw fromNative(e, stack);
    }
    this.ready = this.applyCredentials().catch((e: unknown) => {
      const err = e instanceof CamwireError ? e : new CamwireError('KVS_NO_CREDENTIALS', `could not get credentials: ${(e as Error).message}`, { cause: e });
      this.stopWith(err);
    });
  }

  /**
   * One access unit (a frame) in Annex-B form. The Buffer is pinned, not
   * copied: do not change it until the stream is done with it (reuse a
   * buffer only after 'drain' or close). pts in ms, strictly increasing.
   * Returns false when the queue is above highWaterMark: wait for 'drain'.
   */
  putFrame(frame: Buffer, t: { pts: number; dts?: number; keyframe?: boolean }): boolean {
    if (t.dts !== undefined && t.dts !== t.pts) {
      throw new CamwireError(
        'KVS_B_FRAMES_UNSUPPORTED',
        'dts differs from pts: camwire streams H.264 without B-frames (encode with -bf 0), as KVS producers recommend',
      );
    }
    if (this.fatal) throw this.fatal;
    let queued: number;
    try {
      queued = this.producer.putFrame(frame, t.pts, t.keyframe);
    } catch (e) {
      throw fromNative(e, new Error().stack);
    }
    return this.admitted(queued);
  }

  /**
   * One audio frame (AAC with or without its ADTS header, or G.711 bytes) at
   * pts (ms, the video's clock, strictly increasing), interleaved with the
   * video by time. Needs the audio option. Same return as putFrame.
   */
  putAudio(frame: Buffer, t: { pts: number }): boolean {
    if (this.fatal) throw this.fatal;
    let queued: number;
    try {
      queued = this.producer.putAudio(frame, t.pts);
    } catch (e) {
      throw fromNative(e, new Error().stack);
    }
    return this.admitted(queued);
  }

  /** A piece of a raw Annex-B stream (any boundaries); frames are timed at `fps`. Same return as putFrame. */
  putAnnexB(piece: Buffer): boolean {
    if (this.fatal) throw this.fatal;
    let queued: number;
    try {
      queued = this.producer.putAnnexB(piece);
    } catch (e) {
      throw fromNative(e, new Error().stack);
    }
    return this.admitted(queued);
  }

  metrics(): KvsMetrics {
    return this.producer.metrics();
  }

  /** Flushes, waits for every fragment to be PERSISTED (persistTimeoutMs), and stops. */
  close(): Promise<KvsCloseSummary> {
    if (!this.closing) {
      this.closing = new Promise<KvsCloseSummary>((resolve, reject) => {
        this.settleClose = (e, metrics) => (e ? reject(e) : resolve({ metrics }));
        if (this.closedWith) this.settleClose(this.closedWith.error, this.closedWith.metrics);
      });
      // Credentials first: a close right after construction still sends what was queued.
      void this.ready.then(() => this.producer.close());
    }
    return this.closing;
  }

  /** Stops at once; fragments not yet persisted are discarded. */
  abort(): void {
    this.producer.abort();
  }

  /** A Writable for a raw Annex-B stream: `ffmpeg ... -f h264 - | ...` pipes straight in; end() closes the stream. */
  writable(): Writable {
    return new Writable({
      highWaterMark: 1 << 20,
      write: (chunk: Buffer, _enc, cb) => {
        let ok: boolean;
        try {
          ok = this.putAnnexB(chunk);
        } catch (e) {
          cb(e as Error);
          return;
        }
        if (ok) cb();
        else this.once('drain', () => cb());
      },
      final: (cb) => {
        this.close().then(
          () => cb(),
          (e: Error) => cb(e),
        );
      },
    });
  }

  private admitted(queued: number): boolean {
    if (queued > this.highWaterMark) {
      this.needDrain = true;
      return false;
    }
    return true;
  }

  private async applyCredentials(): Promise<void> {
    const src = this.o.credentials;
    const c = isSource(src) ? await (typeof src === 'function' ? src() : src.get()) : src;
    const key = `${c.accessKeyId}\n${c.sessionToken ?? ''}`;
    if (key !== this.lastCredKey) {
      this.lastCredKey = key;
      this.producer.setCredentials(c.accessKeyId, c.secretAccessKey, c.sessionToken, c.expiration ? c.expiration.getTime() : 0);
    }
    if (!isSource(src) || !c.expiration || this.closedWith) return;
    // Ask the source again well before expiry; it decides when to fetch.
    const left = c.expiration.getTime() - Date.now();
    const wait = Math.max(500, Math.min(60_000, left / 4));
    this.credTimer = setTimeout(() => {
      this.applyCredentials().catch((e: unknown) => {
        this.emit('warning', e instanceof CamwireError ? e : new CamwireError('KVS_CREDENTIALS_FAILED', (e as Error).message, { cause: e }));
        this.credTimer = setTimeout(() => void this.applyCredentials().catch(() => undefined), 1000);
      });
    }, wait);
  }

  private stopWith(err: CamwireError): void {
    if (!this.fatal) {
      this.fatal = err;
      if (this.listenerCount('error') > 0) this.emit('error', err);
    }
    this.producer.close();
  }

  private onNative(events: NativeKvsEvent[], queued: number): void {
    for (const e of events) {
      switch (e.type) {
        case 'ack':
          this.emit('ack', {
            type: e.ackType,
            ...(e.timecode !== undefined ? { timecode: e.timecode } : {}),
            fragmentNumber: e.fragmentNumber,
            ...(e.errorId !== undefined ? { errorId: e.errorId, errorCode: e.errorCode } : {}),
          } satisfies KvsAck);
          break;
        case 'connected':
          this.emit('connected', { connection: e.connection, endpoint: e.endpoint });
          break;
        case 'dropped':
          this.emit('dropped', { timecode: e.timecode, frames: e.frames });
          break;
        case 'metrics':
          this.emit('metrics', e.metrics);
          break;
        case 'error': {
          const err = nativeError(e.code, e.message, { fatal: e.fatal, ...(e.timecode !== undefined ? { timecode: e.timecode } : {}) });
          if (e.fatal) this.stopWith(err);
          else this.emit('warning', err);
          break;
        }
        case 'closed': {
          if (this.credTimer) clearTimeout(this.credTimer);
          const error = this.fatal ?? (e.code ? nativeError(e.code, e.message, { metrics: e.metrics }) : undefined);
          this.closedWith = { ...(error ? { error } : {}), metrics: e.metrics };
          this.settleClose?.(error, e.metrics);
          this.emit('close', this.closedWith);
          break;
        }
      }
    }
    if (this.needDrain && queued <= this.highWaterMark / 2) {
      this.needDrain = false;
      this.emit('drain');
    }
  }
}
