/**
 * Stream events of a KVS session, published on cameras/{thing}/streams
 * (DESIGN.md topics) at QoS 1 through the connection's outbox, so the back
 * end learns when a camera starts streaming, what went wrong, and how the
 * session ended:
 *   { version: 1, thing, stream, event, at, ... }
 * event is `started` (region, endpoint), `connected` (connection, endpoint),
 * `warning` / `error` ({ code, message }), `dropped` (timecode, frames) or
 * `stopped` (status ok|failed, metrics, error on failure).
 */
import type { CamwireError } from '../errors';
import { topics } from '../common/topics';
import type { KvsMetrics, KvsStream } from './stream';

/** Where the events go: a QoS 1 publish resolving once the broker (or the outbox) has it. DeviceConnection is one; the fleet's devices are another. */
export interface StreamEventSink {
  publish(topic: string, payload: string, o: { qos: 1 }): Promise<unknown>;
}

export interface StreamEvent {
  version: 1;
  thing: string;
  stream: string;
  event: 'started' | 'connected' | 'warning' | 'error' | 'dropped' | 'stopped';
  at: string;
  [k: string]: unknown;
}

export class StreamEventPublisher {
  private pending: Array<Promise<unknown>> = [];

  constructor(
    private readonly conn: StreamEventSink,
    private readonly thing: string,
    private readonly streamName: string,
  ) {}

  publish(event: StreamEvent['event'], fields: Record<string, unknown> = {}): void {
    const msg: StreamEvent = { version: 1, thing: this.thing, stream: this.streamName, event, at: new Date().toISOString(), ...fields };
    // Failures are the connection's to report (it retries through the outbox); an event never stops the stream.
    this.pending.push(this.conn.publish(topics.streams(this.thing), JSON.stringify(msg), { qos: 1 }).catch(() => undefined));
  }

  /** Publishes every event of the stream as it happens. */
  attach(s: KvsStream, o: { region: string; endpoint: string }): void {
    this.publish('started', { region: o.region, endpoint: o.endpoint });
    s.on('connected', (c: { connection: number; endpoint: string }) => this.publish('connected', c));
    s.on('warning', (e: CamwireError) => this.publish('warning', { error: { code: e.code, message: e.message } }));
    s.on('error', (e: CamwireError) => this.publish('error', { error: { code: e.code, message: e.message } }));
    s.on('dropped', (d: { timecode: number; frames: number }) => this.publish('dropped', d));
  }

  /** The session's end; resolves once every event was handed to the broker (or the outbox). */
  async stopped(metrics: KvsMetrics, error?: CamwireError): Promise<void> {
    this.publish('stopped', { status: error ? 'failed' : 'ok', metrics, ...(error ? { error: { code: error.code, message: error.message } } : {}) });
    await Promise.all(this.pending);
  }
}
