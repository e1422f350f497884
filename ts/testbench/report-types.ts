/**
 * What `testbench run` reports: one record per case (what was done, what the
 * device did, the verdict and its evidence), the whole run's summary. The
 * JUnit XML, the HTML page and the JSON lines are all written from this.
 */

export type CaseFamily = 'tls' | 'mqtt' | 'upload' | 'kvs' | 'ptp';
export type CaseStatus = 'passed' | 'failed' | 'skipped';

/** One thing that happened during a case, at ms since the case started. */
export interface TimelineEntry {
  atMs: number;
  /** 'bench' did it (a fault, a publish), 'device' did it (a connect, a request), 'check' is a verdict step. */
  who: 'bench' | 'device' | 'check';
  what: string;
}

/** A series drawn in the HTML report (e.g. the intervals between reconnect attempts). */
export interface CaseChart {
  title: string;
  unit: string;
  values: number[];
}

export interface CaseResult {
  /** e.g. mqtt.backoff */
  id: string;
  family: CaseFamily;
  title: string;
  /** What the case checks, in a sentence (testbench list shows it too). */
  checks: string;
  status: CaseStatus;
  durationMs: number;
  /** Why it failed or was skipped; absent when it passed. */
  message?: string;
  /** Measured facts behind the verdict (one line each): intervals, hashes, counts. */
  evidence: string[];
  timeline: TimelineEntry[];
  chart?: CaseChart;
}

export interface BenchReport {
  version: 1;
  thing: string;
  /** ISO 8601. */
  startedAt: string;
  durationMs: number;
  device: { command?: string; external: boolean };
  cases: CaseResult[];
  summary: { total: number; passed: number; failed: number; skipped: number };
}
