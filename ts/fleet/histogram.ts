/**
 * Latency histograms for fleet reports: HdrHistogram (hdr-histogram-js, the
 * HdrHistogram project's JavaScript port), values recorded in microseconds,
 * 3 significant digits, up to one hour. A report carries each histogram in
 * HdrHistogram's compressed base64 encoding, so shards merge exactly: the
 * merged percentiles come from the merged histogram, never from averaging.
 */
import * as hdr from 'hdr-histogram-js';

/** The largest latency a histogram holds (1 h in µs); longer values are clamped and counted in `clamped`. */
export const HIGHEST_US = 3_600_000_000;

/** One latency distribution as it appears in a report (milliseconds, 3 decimals). */
export interface LatencySummary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** Values above HIGHEST_US, recorded as HIGHEST_US. */
  clamped: number;
  /** HdrHistogram V2 compressed, base64 (hdr-histogram-js encodeIntoCompressedBase64), values in µs. */
  histogram: string;
}

const build = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3, useWebAssembly: false });

const ms = (us: number) => Math.round(us) / 1000;

export class LatencyRecorder {
  private readonly h = build();
  private clampedCount = 0;

  /** Records one latency in milliseconds (fractions kept to the µs). */
  recordMs(v: number): void {
    let us = Math.round(v * 1000);
    if (!(us >= 1)) us = 1; // 0 and negatives (clock steps) are the smallest bucket
    if (us > HIGHEST_US) {
      us = HIGHEST_US;
      this.clampedCount++;
    }
    this.h.recordValue(us);
  }

  /** Adds another recorder's values (one worker's, or a decoded shard's). */
  add(other: LatencyRecorder): void {
    this.h.add(other.h);
    this.clampedCount += other.clampedCount;
  }

  get count(): number {
    return this.h.totalCount;
  }

  /**
   * The value at percentile p, in ms. HdrHistogram answers with the highest
   * value of the bucket, which can lie above the largest value recorded; it is
   * capped at the max, so a report never shows a p99 above its max.
   */
  percentileMs(p: number): number {
    return this.h.totalCount ? Math.min(ms(this.h.getValueAtPercentile(p)), ms(this.h.maxValue)) : 0;
  }

  summary(): LatencySummary {
    const h = this.h;
    const empty = h.totalCount === 0;
    return {
      count: h.totalCount,
      min: empty ? 0 : ms(h.minNonZeroValue),
      mean: empty ? 0 : ms(h.mean),
      p50: this.percentileMs(50),
      p90: this.percentileMs(90),
      p99: this.percentileMs(99),
      p999: this.percentileMs(99.9),
      max: empty ? 0 : ms(h.maxValue),
      clamped: this.clampedCount,
      histogram: hdr.encodeIntoCompressedBase64(h),
    };
  }

  /** The recorder a summary's histogram encodes (for merging reports). */
  static fromSummary(s: LatencySummary): LatencyRecorder {
    const r = new LatencyRecorder();
    r.h.add(hdr.decodeFromCompressedBase64(s.histogram, 32, false));
    r.clampedCount = s.clamped;
    return r;
  }

  /**
   * The percentile curve HdrHistogram plots are drawn from: [percentile, ms]
   * at 0, 50, 75, 87.5, … (halving the rest each step) up to 99.999 and the max.
   */
  percentileCurve(): Array<[number, number]> {
    if (!this.h.totalCount) return [];
    const out: Array<[number, number]> = [];
    for (let rest = 100; rest > 0.001; rest /= 2) out.push([100 - rest, this.percentileMs(100 - rest)]);
    out.push([100, ms(this.h.maxValue)]);
    return out;
  }
}
