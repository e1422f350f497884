/**
 * Fleet reports on disk and their merge (`camwire fleet merge`). A report is
 * checked against FLEET_REPORT_SCHEMA (JSON Schema 2020-12, ajv) when read;
 * shards merge by summing counts and adding their HdrHistograms, so the
 * merged percentiles are those of every value together, never an average of
 * the shards' percentiles.
 */
import fs from 'node:fs';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { CamwireError } from '../errors';
import { LatencyRecorder, LatencySummary } from './histogram';
import { FLEET_REPORT_KIND, FLEET_REPORT_VERSION, FleetReport } from './report-types';

const count = { type: 'integer', minimum: 0 } as const;
const num = { type: 'number', minimum: 0 } as const;

const LATENCY_SCHEMA = {
  type: 'object',
  required: ['count', 'min', 'mean', 'p50', 'p90', 'p99', 'p999', 'max', 'clamped', 'histogram'],
  additionalProperties: false,
  properties: {
    count,
    min: num,
    mean: num,
    p50: num,
    p90: num,
    p99: num,
    p999: num,
    max: num,
    clamped: count,
    histogram: { type: 'string', pattern: '^[A-Za-z0-9+/]*={0,2}$' },
  },
} as const;

/** The JSON Schema of a FleetReport (ts/fleet/report-types.ts); docs/fleet.md describes each field. */
export const FLEET_REPORT_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://camwire.dev/schemas/fleet-report-1.json',
  title: 'camwire fleet report, version 1',
  type: 'object',
  required: [
    'kind',
    'version',
    'camwire',
    'shards',
    'broker',
    'startedAt',
    'durationMs',
    'devices',
    'connected',
    'everConnected',
    'connects',
    'reconnects',
    'published',
    'acknowledged',
    'errors',
    'latency',
    'ramp',
    'processes',
    'notes',
  ],
  additionalProperties: false,
  $defs: { latency: LATENCY_SCHEMA },
  properties: {
    kind: { const: FLEET_REPORT_KIND },
    version: { const: FLEET_REPORT_VERSION },
    camwire: { type: 'string' },
    shards: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['index', 'count', 'from', 'to'],
        additionalProperties: false,
        properties: { index: count, count: { type: 'integer', minimum: 1 }, from: count, to: count },
      },
    },
    broker: { type: 'string' },
    startedAt: { type: 'string', format: 'date-time' },
    durationMs: num,
    devices: count,
    connected: count,
    everConnected: count,
    connects: count,
    reconnects: count,
    published: count,
    acknowledged: count,
    delivered: count,
    deliveredThings: count,
    uploads: {
      type: 'object',
      required: ['started', 'completed', 'bytes'],
      additionalProperties: false,
      properties: { started: count, completed: count, bytes: count, errors: count, received: count },
    },
    streams: {
      type: 'object',
      required: ['started', 'framesStored', 'fragmentsPersisted'],
      additionalProperties: false,
      properties: { started: count, framesStored: count, fragmentsPersisted: count, errors: count },
    },
    errors: { type: 'object', additionalProperties: count },
    latency: {
      type: 'object',
      required: ['connect', 'publish'],
      additionalProperties: false,
      properties: {
        connect: { $ref: '#/$defs/latency' },
        publish: { $ref: '#/$defs/latency' },
        delivery: { $ref: '#/$defs/latency' },
        upload: { $ref: '#/$defs/latency' },
        persist: { $ref: '#/$defs/latency' },
      },
    },
    ramp: {
      type: 'array',
      items: { type: 'object', required: ['t', 'connected'], additionalProperties: false, properties: { t: num, connected: count } },
    },
    processes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['shard', 'pid', 'cpuUserMs', 'cpuSystemMs', 'rssStartBytes', 'peakRssBytes', 'fdLimit'],
        additionalProperties: false,
        properties: { shard: count, pid: count, cpuUserMs: num, cpuSystemMs: num, rssStartBytes: num, peakRssBytes: num, fdLimit: num },
      },
    },
    rssPerDeviceBytes: num,
    rampMs: num,
    notes: { type: 'array', items: { type: 'string' } },
  },
} as const;

// The schema names exactly FleetReport's fields: a field added to report-types.ts
// without its schema (and its merge below) fails to compile here.
type SchemaKeys = keyof typeof FLEET_REPORT_SCHEMA.properties;
const schemaMatchesType: [Exclude<keyof FleetReport, SchemaKeys>, Exclude<SchemaKeys, keyof FleetReport>] extends [never, never] ? true : never = true;
void schemaMatchesType;

let validator: ReturnType<Ajv2020['compile']> | undefined;
function validate(v: unknown): { ok: true } | { ok: false; why: string } {
  if (!validator) {
    const ajv = new Ajv2020({ allErrors: false, strict: true });
    addFormats(ajv);
    validator = ajv.compile(FLEET_REPORT_SCHEMA);
  }
  if (validator(v)) return { ok: true };
  const e = validator.errors?.[0];
  if (!e) return { ok: false, why: 'does not match the schema' };
  const extra = e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty?: unknown }).additionalProperty)})` : '';
  return { ok: false, why: `${e.instancePath || '(the report)'} ${e.message ?? 'is invalid'}${extra}` };
}

/** Checks a parsed report against the schema (FLEET_REPORT_INVALID naming the first wrong field). */
export function checkReport(v: unknown, what = 'the report'): FleetReport {
  const r = validate(v);
  if (!r.ok) throw new CamwireError('FLEET_REPORT_INVALID', `${what} is not a camwire fleet report (version ${FLEET_REPORT_VERSION}): ${r.why}`);
  const rep = v as FleetReport;
  for (const s of rep.shards)
    if (s.to < s.from || s.index >= s.count)
      throw new CamwireError('FLEET_REPORT_INVALID', `${what}: shard ${s.index}/${s.count} [${s.from}, ${s.to}) is not a range`);
  return rep;
}

/**
 * The line a Kubernetes pod prints its report on (`fleet k8s`): the marker,
 * a space, the report as one line of JSON. `readReport` finds it in a log.
 */
export const REPORT_LOG_MARKER = 'CAMWIRE_FLEET_REPORT';

/** Reads a report file: a report's JSON, or a pod log holding a REPORT_LOG_MARKER line. */
export function readReport(file: string): FleetReport {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new CamwireError('FLEET_REPORT_INVALID', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  return parseReport(text, file);
}

/** Parses a report's text (JSON, or a log with a REPORT_LOG_MARKER line) and checks it. */
export function parseReport(text: string, what = 'the report'): FleetReport {
  let json = text;
  if (!text.trimStart().startsWith('{')) {
    const line = text.split('\n').find((l) => l.startsWith(REPORT_LOG_MARKER + ' '));
    if (line === undefined)
      throw new CamwireError('FLEET_REPORT_INVALID', `${what} is neither JSON nor a log with a "${REPORT_LOG_MARKER} {…}" line`, {
        hint: 'give the file `fleet run --report` wrote, or the pod log (kubectl logs) of a `fleet k8s` Job',
      });
    json = line.slice(REPORT_LOG_MARKER.length + 1);
  }
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (e) {
    throw new CamwireError('FLEET_REPORT_INVALID', `${what} is not JSON (${(e as Error).message})`, { cause: e });
  }
  return checkReport(v, what);
}

function mergeLatency(summaries: Array<LatencySummary | undefined>): LatencySummary | undefined {
  const present = summaries.filter((s): s is LatencySummary => s !== undefined);
  if (!present.length) return undefined;
  const rec = new LatencyRecorder();
  for (const s of present) {
    try {
      rec.add(LatencyRecorder.fromSummary(s));
    } catch (e) {
      throw new CamwireError('FLEET_REPORT_INVALID', `a latency histogram does not decode (${(e as Error).message})`, { cause: e });
    }
  }
  return rec.summary();
}

function sumOptional<T extends object>(items: Array<T | undefined>): T | undefined {
  const present = items.filter((x): x is T => x !== undefined);
  if (!present.length) return undefined;
  const out: Record<string, number> = {};
  for (const x of present) for (const [k, v] of Object.entries(x)) out[k] = (out[k] ?? 0) + (v as number);
  return out as T;
}

/**
 * One report from many shards: counts summed, errors summed per code,
 * histograms added (percentiles recomputed from the sum), shards and
 * processes concatenated, ramps summed per second from each shard's start,
 * the longest duration and ramp, the memory per camera weighted by devices. Shards whose device ranges overlap are refused
 * (FLEET_SHARDS_OVERLAP): a device counted twice would make every sum wrong.
 */
export function mergeReports(reports: FleetReport[]): FleetReport {
  if (!reports.length) throw new CamwireError('FLEET_BAD_OPTIONS', 'nothing to merge: give at least one report');
  const shards = reports.flatMap((r) => r.shards).sort((a, b) => a.from - b.from || a.to - b.to);
  for (let i = 1; i < shards.length; i++) {
    const a = shards[i - 1]!;
    const b = shards[i]!;
    if (b.from < a.to)
      throw new CamwireError(
        'FLEET_SHARDS_OVERLAP',
        `shard ${a.index}/${a.count} (devices [${a.from}, ${a.to})) and shard ${b.index}/${b.count} (devices [${b.from}, ${b.to})) overlap`,
        { hint: 'give each shard once; the shards of one fleet come from `--shard I/N` over the same --devices' },
      );
  }
  const sum = (f: (r: FleetReport) => number) => reports.reduce((s, r) => s + f(r), 0);
  const sumIfAny = (f: (r: FleetReport) => number | undefined) => (reports.some((r) => f(r) !== undefined) ? sum((r) => f(r) ?? 0) : undefined);
  const errors: Record<string, number> = {};
  for (const r of reports) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  const ramp = new Map<number, number>();
  for (const r of reports) for (const p of r.ramp) ramp.set(p.t, (ramp.get(p.t) ?? 0) + p.connected);
  const latency: FleetReport['latency'] = {
    connect: mergeLatency(reports.map((r) => r.latency.connect))!,
    publish: mergeLatency(reports.map((r) => r.latency.publish))!,
  };
  const delivery = mergeLatency(reports.map((r) => r.latency.delivery));
  const upload = mergeLatency(reports.map((r) => r.latency.upload));
  if (delivery) latency.delivery = delivery;
  if (upload) latency.upload = upload;
  const persist = mergeLatency(reports.map((r) => r.latency.persist));
  if (persist) latency.persist = persist;
  const processes = reports.flatMap((r) => r.processes);
  const connected = sum((r) => r.connected);
  const brokers = [...new Set(reports.map((r) => r.broker))];
  const starts = reports.map((r) => r.startedAt).sort();
  const merged: FleetReport = {
    kind: FLEET_REPORT_KIND,
    version: FLEET_REPORT_VERSION,
    camwire: [...new Set(reports.map((r) => r.camwire))].join(', '),
    shards,
    broker: brokers.join(', '),
    startedAt: starts[0]!,
    durationMs: Math.max(...reports.map((r) => r.durationMs)),
    // Ranges do not overlap (checked above), so the distinct devices are the ranges' lengths.
    devices: shards.reduce((s, x) => s + (x.to - x.from), 0),
    connected,
    everConnected: sum((r) => r.everConnected),
    connects: sum((r) => r.connects),
    reconnects: sum((r) => r.reconnects),
    published: sum((r) => r.published),
    acknowledged: sum((r) => r.acknowledged),
    errors,
    latency,
    ramp: [...ramp.entries()].sort((a, b) => a[0] - b[0]).map(([t, c]) => ({ t, connected: c })),
    processes,
    notes: reports.flatMap((r) => r.notes),
  };
  const delivered = sumIfAny((r) => r.delivered);
  const deliveredThings = sumIfAny((r) => r.deliveredThings);
  const uploads = sumOptional(reports.map((r) => r.uploads));
  const streams = sumOptional(reports.map((r) => r.streams));
  if (delivered !== undefined) merged.delivered = delivered;
  if (deliveredThings !== undefined) merged.deliveredThings = deliveredThings;
  if (uploads) merged.uploads = uploads;
  if (streams) merged.streams = streams;
  // Per camera memory: each shard's figure weighted by its devices; the ramp: the slowest shard's.
  const withRss = reports.filter((r) => r.rssPerDeviceBytes !== undefined);
  if (withRss.length) {
    const n = withRss.reduce((s, r) => s + r.devices, 0);
    merged.rssPerDeviceBytes = Math.round(withRss.reduce((s, r) => s + r.rssPerDeviceBytes! * r.devices, 0) / Math.max(1, n));
  }
  const ramps = reports.flatMap((r) => (r.rampMs !== undefined ? [r.rampMs] : []));
  if (ramps.length === reports.length) merged.rampMs = Math.max(...ramps);
  if (brokers.length > 1) merged.notes.push(`the shards ran against ${brokers.length} different brokers`);
  return merged;
}
