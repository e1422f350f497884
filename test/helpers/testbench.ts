/**
 * Benches for the testbench tests: `testbench init` on free ports (so test
 * files can run side by side), the reference camera's PTP/IP port free too,
 * and `testbench run` through the CLI as a user runs it, its JSON lines parsed.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CaseResult } from '../../ts/testbench';
import { freePort } from './ports';
import { camwire, CLI, ROOT } from './run';

export const PY_DEVICE = path.join(ROOT, 'test', 'fixtures', 'testbench_device.py');
/** The reference camera, as the bench runs it: camwire device with the bench's device.json. */
export const referenceDevice = (dir: string) => `"${process.execPath}" "${CLI}" device --config "${path.join(dir, 'device.json')}"`;
export const pythonDevice = (dir: string, breaks: string[] = []) =>
  `python3 "${PY_DEVICE}" --config "${path.join(dir, 'device.json')}"${breaks.map((b) => ` --break ${b}`).join('')}`;

export async function makeBench(dir: string, thing: string, edit?: (deviceJson: Record<string, unknown>) => void): Promise<string> {
  const [mqtt, s3, kvs, creds, ptp] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const r = camwire([
    '--json',
    'testbench',
    'init',
    '--out',
    dir,
    '--thing',
    thing,
    '--mqtt-port',
    `${mqtt}`,
    '--s3-port',
    `${s3}`,
    '--kvs-port',
    `${kvs}`,
    '--credentials-port',
    `${creds}`,
  ]);
  if (r.status !== 0) throw new Error(`testbench init: ${r.stderr}`);
  const file = path.join(dir, 'device.json');
  const device = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  (device['ptp'] as { port: number }).port = ptp;
  edit?.(device);
  fs.writeFileSync(file, JSON.stringify(device, null, 2));
  return dir;
}

export interface BenchRun {
  status: number | null;
  cases: CaseResult[];
  byId: Map<string, CaseResult>;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `camwire --json testbench run --dir DIR ARGS…`; its JSON lines (one per case) parsed. */
export function runBench(dir: string, args: string[], o: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<BenchRun> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, '--json', 'testbench', 'run', '--dir', dir, ...args], { cwd: ROOT, env: o.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 280_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      const cases = stdout
        .split('\n')
        .filter((l) => l.startsWith('{"id"'))
        .map((l) => JSON.parse(l) as CaseResult);
      resolve({ status, cases, byId: new Map(cases.map((c) => [c.id, c])), stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** What a failed run said, for assertion messages. */
export const explain = (r: BenchRun) =>
  r.cases
    .filter((c) => c.status !== 'passed')
    .map((c) => `${c.id} ${c.status}: ${c.message} | ${c.evidence.join(' | ')}`)
    .join('\n') +
  // A run that ended before any case (a port taken, a bad device.json) says why on stdout with --json.
  (r.cases.length === 0 ? `\nstdout: ${r.stdout.slice(-2000)}` : '') +
  `\nstderr: ${r.stderr.slice(-2000)}`;
