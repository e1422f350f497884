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
 *   a file created exclusively in a shared directory; a reservation older
 *   than STALE_MS (its process was killed) is taken over.
 * - free when chosen (a bind on 127.0.0.1 succeeded).
 */
const DIR = path.join(os.tmpdir(), 'camwire-test-ports');
const STALE_MS = 2 * 3600_000;
const LOW = 20_000;

/** Ports this process reserved, released when it exits. */
const given = new Set<number>();
process.once('exit', () => {
  for (const p of given) fs.rmSync(path.join(DIR, `${p}`), { force: true });
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

function reserve(port: number): boolean {
  const file = path.join(DIR, `${port}`);
  try {
    fs.closeSync(fs.openSync(file, 'wx'));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  try {
    if (Date.now() - fs.statSync(file).mtimeMs < STALE_MS) return false;
    fs.rmSync(file, { force: true });
    fs.closeSync(fs.openSync(file, 'wx'));
    return true;
  } catch {
    return false; // another process took it over first
  }
}

/** A TCP port on 127.0.0.1, free now, outside the ephemeral range, that no other test process holds. */
export async function freePort(): Promise<number> {
  fs.mkdirSync(DIR, { recursive: true });
  const high = Math.min(ephemeralLow(), 65_536);
  if (high - LOW < 1000) throw new Error(`the ephemeral port range starts at ${high}: no room below it for test ports`);
  const span = high - LOW;
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < span && i < 5000; i++) {
    const port = LOW + ((start + i) % span);
    if (given.has(port) || !reserve(port)) continue;
    if (await canBind(port)) {
      given.add(port);
      return port;
    }
    fs.rmSync(path.join(DIR, `${port}`), { force: true });
  }
  throw new Error(`no free port on 127.0.0.1 between ${LOW} and ${high} (reservations in ${DIR})`);
}
