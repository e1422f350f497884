/**
 * Exponential backoff with full jitter (the AWS Architecture Blog's "Full
 * Jitter"): the delay before attempt n is uniform in [0, min(cap, base * 2^n)].
 * A fleet that lost its broker at the same moment then reconnects spread out
 * instead of in waves, which matters with AWS IoT's per-account connect rate.
 */
export interface BackoffOptions {
  /** First window in ms (default 1000). */
  baseMs?: number;
  /** Largest window in ms (default 60000). */
  capMs?: number;
  /** Source of randomness in [0, 1) (tests pass a seeded one). */
  random?: () => number;
}

export class FullJitterBackoff {
  private attempt = 0;
  readonly baseMs: number;
  readonly capMs: number;
  private readonly random: () => number;

  constructor(o: BackoffOptions = {}) {
    this.baseMs = o.baseMs ?? 1000;
    this.capMs = o.capMs ?? 60_000;
    this.random = o.random ?? Math.random;
    if (!(this.baseMs > 0) || !(this.capMs >= this.baseMs)) throw new RangeError('backoff needs 0 < baseMs <= capMs');
  }

  /** The window for the next attempt, then the attempt counter moves on. */
  window(): number {
    // 2^attempt overflows to Infinity harmlessly; min() caps it.
    return Math.min(this.capMs, this.baseMs * 2 ** this.attempt);
  }

  next(): number {
    const w = this.window();
    this.attempt++;
    return Math.floor(this.random() * w);
  }

  get attempts(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}
