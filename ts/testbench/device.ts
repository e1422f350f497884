/**
 * The device under test when `--device-cmd` is given: started with `sh -c`
 * in its own process group (so a kill reaches whatever the command started),
 * its output appended to one log file, killed (SIGKILL, as a power cut) and
 * restarted by the resume case, stopped with SIGTERM (then SIGKILL) at the
 * end. Without a command the device is external: the bench waits for it.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';

export class DeviceProcess {
  private child: ChildProcess | undefined;
  private starts = 0;
  /** Exits the bench did not cause (kill/stop). */
  readonly unexpectedExits: Array<{ at: number; code: number | null; signal: string | null }> = [];
  private expectingExit = false;

  constructor(
    readonly command: string,
    readonly logFile: string,
    private readonly cwd: string,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    this.starts++;
    const log = fs.openSync(this.logFile, 'a');
    fs.writeSync(log, `\n--- camwire testbench: start ${this.starts} of: ${this.command} (${new Date().toISOString()})\n`);
    const child = spawn('sh', ['-c', this.command], { cwd: this.cwd, detached: true, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.expectingExit = false;
    child.on('exit', (code, signal) => {
      if (!this.expectingExit) this.unexpectedExits.push({ at: Date.now(), code, signal });
    });
    this.child = child;
  }

  private signal(sig: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (!pid) return;
    try {
      process.kill(-pid, sig); // the whole group: sh and what it started
    } catch {
      /* already gone */
    }
  }

  private exited(ms: number): Promise<boolean> {
    const child = this.child;
    if (!child || !this.running) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      child.once('exit', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  /** SIGKILL now, without waiting (the bench itself is being stopped). */
  killNow(): void {
    this.expectingExit = true;
    this.signal('SIGKILL');
  }

  /** SIGKILL to the whole group, as when the power goes; resolves when the command is gone. */
  async kill(): Promise<void> {
    this.expectingExit = true;
    this.signal('SIGKILL');
    await this.exited(10_000);
  }

  /** SIGTERM to the group, then SIGKILL to whatever of it is left after graceMs (children that outlived sh included). */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.child) return;
    this.expectingExit = true;
    this.signal('SIGTERM');
    await this.exited(graceMs);
    this.signal('SIGKILL');
  }

  /** The log's last lines, for a failure's evidence. */
  tail(lines = 12): string[] {
    try {
      return fs.readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines);
    } catch {
      return [];
    }
  }
}
