/**
 * What a test bench case is and what it gets: the bench (services, faults,
 * the record of what the device did), the device process when the bench runs
 * it, and the means to write a verdict with its evidence. A case fails by
 * throwing (fail(), check(), a wait that timed out) and is skipped with
 * skip(reason); everything it noted goes into the report either way.
 */
import { Bench } from './bench';
import { DeviceProcess } from './device';
import { CaseChart, CaseFamily, TimelineEntry } from './report-types';

/**
 * device.json's optional `kvs.audio`: the audio track the device says it
 * streams beside the video (kvs.tracks checks the stream has it). The bench
 * alone reads it; a camera that streams no audio leaves it out.
 */
export interface DeviceKvsAudio {
  codec: 'aac' | 'alaw' | 'mulaw';
  sampleRate: number;
  channels: number;
}

export interface DeviceSide {
  /** The device.json the bench made (or was given): what the device says it does. */
  config: {
    kvs?: { audio?: DeviceKvsAudio; [key: string]: unknown };
    ptp?: { host?: string; port?: number } | undefined;
    mqtt?: { keepaliveSeconds?: number };
  };
  /** PTP/IP address of the device (--ptp, or device.json's ptp section). */
  ptp?: string;
  process?: DeviceProcess;
}

export interface BenchCase {
  id: string;
  family: CaseFamily;
  title: string;
  checks: string;
  /** Why it cannot run with this device, or undefined when it can. */
  unavailable?(device: DeviceSide): string | undefined;
  run(ctx: CaseContext): Promise<void>;
}

export class CaseFailure extends Error {}
export class CaseSkip extends Error {}

export class CaseContext {
  readonly timeline: TimelineEntry[] = [];
  readonly evidenceLines: string[] = [];
  chartData: CaseChart | undefined;
  readonly t0 = Date.now();

  constructor(
    readonly bench: Bench,
    readonly device: DeviceSide,
    readonly id: string,
    /** Called for each timeline entry as it happens (the progress line, --json). */
    private readonly onNote: (e: TimelineEntry) => void = () => undefined,
  ) {}

  note(who: TimelineEntry['who'], what: string, at = Date.now()): void {
    const e = { atMs: Math.max(0, at - this.t0), who, what };
    this.timeline.push(e);
    this.onNote(e);
  }

  evidence(line: string): void {
    this.evidenceLines.push(line);
  }

  chart(c: CaseChart): void {
    this.chartData = c;
  }

  fail(message: string): never {
    throw new CaseFailure(message);
  }

  skip(reason: string): never {
    throw new CaseSkip(reason);
  }

  check(ok: unknown, message: string): asserts ok {
    if (!ok) this.fail(message);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
  }

  /** Polls until probe returns a value (not undefined/false), or fails with `what` after timeoutMs. */
  async waitFor<T>(what: string, timeoutMs: number, probe: () => T | undefined | false | Promise<T | undefined | false>, everyMs = 50): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      if (Date.now() >= end) this.fail(`${what}: not within ${(timeoutMs / 1000).toFixed(1)} s`);
      this.deviceAlive();
      await this.sleep(everyMs);
    }
  }

  /** Fails at once when the bench's device process died on its own. */
  deviceAlive(): void {
    const p = this.device.process;
    const exit = p?.unexpectedExits[0];
    if (p && exit) {
      for (const l of p.tail(8)) this.evidence(`device.log: ${l}`);
      this.fail(`the device process exited (${exit.signal ?? `code ${exit.code}`}) during the case`);
    }
  }

  /**
   * Waits until the device is connected to the broker and has taken the
   * CONNACK: it said `online` since (or 1.5 s went by, for a device that does
   * not publish a status). Returns when the connection was made.
   */
  async connected(timeoutMs: number, since = 0): Promise<number> {
    const status = `cameras/${this.bench.thing}/status`;
    const e = await this.waitFor('the device connecting to the broker', timeoutMs, () => {
      // A refusal (a client id that is not the certificate's CN) ends the wait at once, with its reason.
      const refused = this.bench.since(since, 'refused').find((r) => /client id/.test(r.reason));
      if (refused && !this.bench.since(since, 'connect').some((c) => c.at > refused.at)) this.fail(`the broker refused the device: ${refused.reason}`);
      if (!this.bench.connected) return undefined;
      const c = this.bench.since(0, 'connect').at(-1)!;
      if (c.at < since) return undefined;
      const online = this.bench.since(c.at, 'publish').some((p) => p.topic === status && p.payload.toString() === 'online');
      return online || Date.now() - c.at >= 1500 ? c : undefined;
    });
    return e.at;
  }
}
