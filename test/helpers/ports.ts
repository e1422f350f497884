import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * Ports for services a test starts later (a broker, Swift, a test bench),
 * chosen so nothing else takes them in between:
 *
 * - below the kernel's ephemeral range. A port found with listen(0) comes
 *   from that range, and every outgoing connection of every test takes its
 *   local port from it too: under `npm test`'s load a client connection got
 *   a bench's port in the moment between the probe and the bench's listen.
 * - reserved across processes (ava runs test files in several workers) with
 *   a file created exclusively in a shared directory; reservations older
 *   than STALE_MS (their process was killed) are removed when a process
 *   loads this module.
 * - free when chosen (a bind on 127.0.0.1 succeeded).
 */
const DIR = path.join(os.tmpdir(), 'camwire-test-ports');
const STALE_MS = 2 * 3600_000;
const LOW = 20_000;
const HIGH = ephemeralLow();

/** Ports this process reserved, released when it exits. */
const given = new Set<number>();
const fileOf = (port: number) => path.join(DIR, `${port}`);
fs.mkdirSync(DIR, { recursive: true });
// Reservations left by killed workers, once per process.
for (const name of fs.readdirSync(DIR)) {
  try {
    if (Date.now() - fs.statSync(path.join(DIR, name)).mtimeMs > STALE_MS) fs.rmSync(path.join(DIR, name), { force: true });
  } catch {
    // removed by another worker meanwhile
  }
}
process.once('exit', () => {
  for (const p of given) fs.rmSync(fileOf(p), { force: true });
});

function ephemeralLow(): number {
  try {
    const low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 0) return low;
  } catch {
    // not Linux: the IANA range starts at 49152
  }
  return 49_152;
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** Creates the port's reservation file; false when another process holds it. */
function reserve(port: number): boolean {
  try {
    fs.closeSync(fs.openSync(fileOf(port), 'wx'));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/** A TCP port on 127.0.0.1, free now, outside the ephemeral range, that no other test process holds. */
export async function freePort(): Promise<number> {
  const span = HIGH - LOW;
  if (span < 1000) throw new Error(`the ephemeral port range starts at ${HIGH}: no room below it for test ports`);
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < Math.min(span, 5000); i++) {
    const port = LOW + ((start + i) % span);
    if (!reserve(port)) continue;
    if (await canBind(port)) {
      given.add(port);
      return port;
    }
    fs.rmSync(fileOf(port), { force: true });
  }
  throw new Error(`no free port on 127.0.0.1 between ${LOW} and ${HIGH} (reservations in ${DIR})`);
}
