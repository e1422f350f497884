import { ChildProcess, spawn, spawnSync, SpawnSyncReturns } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const CLI = path.join(ROOT, 'bin', 'camwire.js');

/** Runs a command synchronously and returns its output; never throws on a non-zero exit. */
export function run(
  cmd: string,
  args: string[],
  o: { input?: string; cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', input: o.input, cwd: o.cwd ?? ROOT, env: o.env ?? process.env, timeout: o.timeoutMs ?? 120_000 });
}

/** Runs the built CLI (dist/), as a user would. */
export function camwire(args: string[], o: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  return run(process.execPath, [CLI, ...args], o);
}

export function camwireJson<T = Record<string, unknown>>(args: string[], o: { input?: string } = {}): T {
  const r = camwire(['--json', ...args], o);
  if (r.status !== 0) throw new Error(`camwire ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export interface CamwireExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI without blocking this process (a peer the test started
 * in-process, such as a local endpoint, keeps serving it). `child` is there to
 * signal it; `done` settles when it has exited.
 */
export function camwireAsync(args: string[], o: { env?: NodeJS.ProcessEnv } = {}): { child: ChildProcess; done: Promise<CamwireExit> } {
  const child = spawn(process.execPath, [CLI, ...args], { env: o.env ?? process.env });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CamwireExit>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}
