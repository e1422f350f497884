/**
 * The fleet report (`fleet run --report`, `fleet merge --report`): what one
 * shard (or the merge of many) did. Counts are sums; latencies carry their
 * HdrHistogram so a merge recomputes percentiles from the merged histogram.
 */
import type { LatencySummary } from './histogram';

export const FLEET_REPORT_KIND = 'camwire.fleet.report';
export const FLEET_REPORT_VERSION = 1;

export interface FleetReport {
  kind: typeof FLEET_REPORT_KIND;
  version: typeof FLEET_REPORT_VERSION;
  /** camwire's version that wrote it. */
  camwire: string;
  /** The shards this report covers: one for a run, several after a merge (index, count, device range [from, to)). */
  shards: Array<{ index: number; count: number; from: number; to: number }>;
  broker: string;
  startedAt: string;
  /** Wall time of the run (a merge: the longest shard's). */
  durationMs: number;
  /** Devices this report covers (after a merge: distinct devices over every shard). */
  devices: number;
  /** Peak of devices connected at once (a merge: the sum of the shards' peaks, an upper bound, and `connectedAtOnce` from the ramps). */
  connected: number;
  /** Devices that connected at least once. */
  everConnected: number;
  connects: number;
  reconnects: number;
  /** QoS 1 telemetry sent, and PUBACKs received for it (acknowledged = published: nothing lost). */
  published: number;
  acknowledged: number;
  /** Telemetry messages a fleet-side subscriber received (with --subscriber). */
  delivered?: number;
  /** Distinct things the fleet-side subscriber received telemetry from (with --subscriber). */
  deliveredThings?: number;
  /**
   * Upload cycles (`fleet run --uploads N`): begun, completed (uploaded and the result acknowledged), bytes of those,
   * cycles that did not complete (errors; cause codes in `errors`), targets that came from a back end over MQTT (received).
   * errors and received are absent in older reports.
   */
  uploads?: { started: number; completed: number; bytes: number; errors?: number; received?: number };
  /** Live KVS streams (`fleet run --streams K`): started, frames stored and fragments PERSISTED over all of them, and streams that failed (errors, absent in older reports). */
  streams?: { started: number; framesStored: number; fragmentsPersisted: number; errors?: number };
  /** Error code (a CamwireError code, or a Node errno) → count. */
  errors: Record<string, number>;
  latency: {
    connect: LatencySummary;
    publish: LatencySummary;
    delivery?: LatencySummary;
    /** An upload cycle: the target in hand (presigned or received) to the PUBACK of its result (with --uploads). */
    upload?: LatencySummary;
    /** PutMedia: a fragment's first byte sent to its PERSISTED ack (with --streams). */
    persist?: LatencySummary;
  };
  /** The connect ramp: devices connected at each second of the run (merged: summed per second from each shard's start). */
  ramp: Array<{ t: number; connected: number }>;
  /** The process(es): one entry per process (a run with --workers N: N + the parent; a merge: all of them). */
  processes: Array<{ shard: number; pid: number; cpuUserMs: number; cpuSystemMs: number; rssStartBytes: number; peakRssBytes: number; fdLimit: number }>;
  /** Memory per connected camera: RSS growth from the start to the end of the steady state, over the devices connected then (merged: weighted by devices). */
  rssPerDeviceBytes?: number;
  /** Milliseconds from the first connect to every device of the run connected at once (absent if that never happened; merged: the slowest). */
  rampMs?: number;
  /** What was raised or refused on the way (the descriptor limit, a port range). */
  notes: string[];
}
