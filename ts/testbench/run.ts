/**
 * `camwire testbench run`: the bench's services up, the device started (or
 * awaited), the cases one after another, each with the bench's faults cleared
 * after it, and the report. A case the device cannot take part in is skipped
 * with the reason; a case that throws something other than a verdict is a
 * failure with the bench's error, never a pass.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CamwireError } from '../errors';
import { redactText } from '../common/redact';
import { Bench, loadBench, writeBenchObjects } from './bench';
import { BenchCase, CaseContext, CaseFailure, CaseSkip, DeviceSide } from './case';
import { kvsCases } from './cases/kvs';
import { mqttCases, tlsCases } from './cases/mqtt';
import { ptpCases } from './cases/ptp';
import { uploadCases } from './cases/upload';
import { DeviceProcess } from './device';
import { BenchReport, CaseResult, TimelineEntry } from './report-types';

const byId = (cases: BenchCase[]) => new Map(cases.map((c) => [c.id, c]));
const all = byId([...tlsCases, ...mqttCases, ...uploadCases, ...kvsCases, ...ptpCases]);

/**
 * The order cases run in: the quiet checks of the first connection first,
 * uploads while the link is good, then the cases that cut it, the device kill
 * last but one, and keep-alive (an idle wait) at the end.
 */
const ORDER = [
  'tls.mutual',
  'mqtt.status',
  'mqtt.subscribe',
  'kvs.sigv4',
  'upload.put',
  'upload.multipart',
  'upload.retry-503',
  'upload.reset-mid-body',
  'upload.expired',
  'upload.idempotent',
  'ptp.session',
  'ptp.handover-vendor',
  'ptp.handover-ticket',
  'ptp.download',
  'ptp.malformed',
  'kvs.error-ack',
  'kvs.cut',
  'kvs.clock-skew',
  'kvs.fragments',
  'kvs.tracks',
  'mqtt.will',
  'tls.untrusted-server',
  'tls.wrong-host',
  'mqtt.backoff',
  'mqtt.persistent-session',
  'mqtt.qos1-resend',
  'upload.resume',
  'mqtt.keepalive',
];

/** Every case, in run order. */
export function benchCases(): BenchCase[] {
  const listed = ORDER.map((id) => all.get(id)!);
  const rest = [...all.values()].filter((c) => !ORDER.includes(c.id));
  return [...listed, ...rest];
}

function globToRegExp(glob: string): RegExp {
  const esc = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${esc}$`);
}

/** The cases whose id matches any of the globs (every case without globs). */
export function selectCases(globs?: string[]): BenchCase[] {
  const cases = benchCases();
  if (!globs?.length) return cases;
  const res = globs
    .flatMap((g) => g.split(','))
    .filter(Boolean)
    .map(globToRegExp);
  const chosen = cases.filter((c) => res.some((r) => r.test(c.id)));
  if (!chosen.length) throw new CamwireError('TESTBENCH_NO_CASES', `--cases ${globs.join(' ')} matched no case (cases: ${cases.map((c) => c.id).join(', ')})`);
  return chosen;
}

export interface RunBenchOptions {
  dir: string;
  /** The device under test, started with sh -c in the bench directory, killed and restarted by the bench. */
  deviceCmd?: string;
  /** PTP/IP HOST:PORT of the device (default: device.json's ptp section, if any). */
  ptp?: string;
  cases?: string[];
  /** How long the first case waits for the device's first connection (default 60 s; an external device is started by hand). */
  firstConnectMs?: number;
  onCaseStart?(c: BenchCase, index: number, total: number): void;
  onNote?(c: BenchCase, e: TimelineEntry): void;
  onCaseEnd?(r: CaseResult, index: number, total: number): void;
}

function readDeviceConfig(dir: string): DeviceSide['config'] {
  const file = path.join(dir, 'device.json');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as DeviceSide['config'];
  } catch (e) {
    throw new CamwireError('CONFIG_INVALID', `${file} is missing or not JSON (${(e as Error).message}); testbench init writes it`);
  }
}

export async function runBench(o: RunBenchOptions): Promise<BenchReport> {
  const files = loadBench(o.dir);
  const cases = selectCases(o.cases);
  const config = readDeviceConfig(files.dir);
  const ptpConf = config.ptp;
  const ptp = o.ptp ?? (ptpConf ? `${ptpConf.host ?? '127.0.0.1'}:${ptpConf.port ?? 15740}` : undefined);
  // A fresh record each run: the store, the KVS sessions, the device's log.
  const runDir = path.join(files.dir, 'run');
  // Another run on this bench (or anything on its ports) is found before its record is wiped.
  await probePorts(files.config.ports);
  fs.rmSync(runDir, { recursive: true, force: true });
  fs.mkdirSync(runDir, { recursive: true });
  writeBenchObjects(path.join(files.dir, 'storage'));
  const startedAt = new Date();
  const bench = await Bench.start(files);
  const device: DeviceSide = { config, ...(ptp ? { ptp } : {}) };
  const results: CaseResult[] = [];
  // Ctrl-C (or a kill) of the bench takes the device with it: it runs in its own process group.
  const interrupted = (sig: NodeJS.Signals) => {
    device.process?.killNow();
    process.kill(process.pid, sig);
  };
  const onSigint = () => interrupted('SIGINT');
  const onSigterm = () => interrupted('SIGTERM');
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigterm);
  try {
    if (o.deviceCmd) {
      device.process = new DeviceProcess(o.deviceCmd, path.join(runDir, 'device.log'), files.dir);
      device.process.start();
    }
    let i = 0;
    // The first case that runs waits for the device's first connection; after it, a device that never came fails the rest at once.
    let waited = false;
    let first = '';
    for (const c of cases) {
      o.onCaseStart?.(c, i, cases.length);
      const never = waited && !bench.since(0, 'connect').length;
      const runs = !never && !c.unavailable?.(device);
      const wait = runs && !waited ? (o.firstConnectMs ?? 60_000) : undefined;
      if (runs && !waited) {
        waited = true;
        first = c.id;
      }
      const r = never
        ? {
            id: c.id,
            family: c.family,
            title: c.title,
            checks: c.checks,
            status: 'failed' as const,
            durationMs: 0,
            message: `not run: the device never connected to the broker (see ${first})`,
            evidence: [],
            timeline: [],
          }
        : await runCase(bench, device, c, o, wait);
      results.push(r);
      o.onCaseEnd?.(r, i, cases.length);
      i++;
    }
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    await device.process?.stop();
    // Bounded: a service that will not close must not keep a finished run (and its report) from ending.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      bench.stop().catch(() => undefined),
      new Promise<void>((r) => {
        timer = setTimeout(r, 15_000);
      }),
    ]);
    clearTimeout(timer);
  }
  const count = (s: CaseResult['status']) => results.filter((r) => r.status === s).length;
  return {
    version: 1,
    thing: files.config.thing,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    device: { ...(o.deviceCmd ? { command: o.deviceCmd } : {}), external: !o.deviceCmd },
    cases: results,
    summary: { total: results.length, passed: count('passed'), failed: count('failed'), skipped: count('skipped') },
  };
}

async function runCase(bench: Bench, device: DeviceSide, c: BenchCase, o: RunBenchOptions, firstConnectMs?: number): Promise<CaseResult> {
  const base = { id: c.id, family: c.family, title: c.title, checks: c.checks };
  const why = c.unavailable?.(device);
  if (why) return { ...base, status: 'skipped', durationMs: 0, message: why, evidence: [], timeline: [] };
  const ctx = new CaseContext(bench, device, c.id, (e) => o.onNote?.(c, e));
  let status: CaseResult['status'] = 'passed';
  let message: string | undefined;
  try {
    if (firstConnectMs) {
      try {
        await ctx.connected(firstConnectMs, 0);
      } catch (e) {
        // Why it never came, as far as the broker saw: a refused client id, a failed TLS handshake, no TCP connection at all.
        const tcp = bench.since(0, 'tcp').filter((x) => x.service === 'mqtt').length;
        ctx.evidence(`TCP connections to the MQTT port: ${tcp}`);
        for (const r of bench.since(0, 'refused').slice(0, 3)) ctx.evidence(`broker refused: ${r.reason}`);
        for (const r of bench.since(0, 'tls-error').slice(0, 3)) ctx.evidence(`TLS handshake failed at the broker: ${r.message}`);
        throw e;
      }
    }
    await c.run(ctx);
  } catch (e) {
    if (e instanceof CaseSkip) {
      status = 'skipped';
      message = e.message;
    } else {
      status = 'failed';
      message = e instanceof CaseFailure ? e.message : `the bench failed: ${(e as Error).message ?? String(e)}`;
    }
  } finally {
    bench.cloud.clearFaults();
    bench.impersonate(undefined);
    bench.cloud.broker?.releaseWithheld();
    for (const k of Object.keys(bench.kvsFaults)) delete (bench.kvsFaults as Record<string, unknown>)[k];
  }
  const p = device.process;
  if (p && p.unexpectedExits.length) {
    // A device that died is started again so that the next case tests it, not its absence.
    if (status === 'passed') {
      status = 'failed';
      message = `the device process exited during the case (${p.unexpectedExits[0]!.signal ?? `code ${p.unexpectedExits[0]!.code}`})`;
    }
    for (const l of p.tail(8)) ctx.evidence(`device.log: ${l}`);
    p.unexpectedExits.splice(0);
    if (!p.running) {
      p.start();
      ctx.note('bench', 'device started again after it exited');
    }
  }
  // A device's output can hold pre-signed URLs: reports never carry their signatures.
  return {
    ...base,
    status,
    durationMs: Date.now() - ctx.t0,
    ...(message ? { message: redactText(message) } : {}),
    evidence: ctx.evidenceLines.map(redactText),
    timeline: ctx.timeline.map((e) => ({ ...e, what: redactText(e.what) })),
    ...(ctx.chartData ? { chart: ctx.chartData } : {}),
  };
}

async function probePorts(ports: Record<string, number>): Promise<void> {
  const net = await import('node:net');
  for (const [name, port] of Object.entries(ports)) {
    await new Promise<void>((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', (e: NodeJS.ErrnoException) =>
        reject(
          new CamwireError(
            'TESTBENCH_PORT_BUSY',
            `the bench's ${name} port ${port} is in use (${e.code ?? e.message}): another testbench run on this bench, or another program; stop it or make the bench with other ports (testbench init --${name === 'iotCredentials' ? 'credentials' : name}-port …)`,
          ),
        ),
      );
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve()));
    });
  }
}
