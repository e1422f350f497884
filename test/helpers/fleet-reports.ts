/** Synthetic fleet reports for the merge and HTML tests: shards recorded from known values. */
import { LatencyRecorder } from '../../ts/fleet/histogram';
import { FLEET_REPORT_KIND, FLEET_REPORT_VERSION, FleetReport } from '../../ts/fleet/report-types';

/** A deterministic spread of latencies: a body around `base` ms and a tail. */
export function values(n: number, base: number, seed: number): number[] {
  let x = seed;
  const next = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  return Array.from({ length: n }, () => {
    const u = next();
    return u > 0.98 ? base * 20 * next() + base : base * (0.5 + u);
  });
}

export function recorder(vs: number[]): LatencyRecorder {
  const r = new LatencyRecorder();
  for (const v of vs) r.recordMs(v);
  return r;
}

export function shardReport(
  index: number,
  count: number,
  total: number,
  o: { connect: number[]; publish: number[]; errors?: Record<string, number> },
): FleetReport {
  const from = Math.floor((index * total) / count);
  const to = Math.floor(((index + 1) * total) / count);
  const devices = to - from;
  return {
    kind: FLEET_REPORT_KIND,
    version: FLEET_REPORT_VERSION,
    camwire: '0.1.0',
    shards: [{ index, count, from, to }],
    broker: 'mqtts://broker.example:8883',
    startedAt: new Date(Date.UTC(2026, 11, 7, 7, 0, index)).toISOString(),
    durationMs: 10_000 + index * 500,
    devices,
    connected: devices,
    everConnected: devices,
    connects: devices + index,
    reconnects: index,
    published: o.publish.length,
    acknowledged: o.publish.length,
    delivered: o.publish.length - index,
    errors: o.errors ?? {},
    latency: { connect: recorder(o.connect).summary(), publish: recorder(o.publish).summary() },
    ramp: [
      { t: 0, connected: 0 },
      { t: 1, connected: Math.floor(devices / 2) },
      { t: 2, connected: devices },
    ],
    processes: [{ shard: index, pid: 1000 + index, cpuUserMs: 900, cpuSystemMs: 100, rssStartBytes: 50e6, peakRssBytes: 60e6, fdLimit: 65536 }],
    rssPerDeviceBytes: 20_000 + index * 10_000,
    rampMs: 1_000 + index * 100,
    notes: [`shard ${index} note`],
  };
}
