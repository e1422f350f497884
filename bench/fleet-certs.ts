/**
 * `camwire fleet certs` against the openssl CLI doing the same work (a new
 * EC P-256 key, a CSR, a CA-signed certificate per device) in one shell loop,
 * both as whole processes in the same run; then the reuse pass (a second
 * run issues nothing). Nothing here asserts on time.
 *   node --import tsx bench/fleet-certs.ts [--quick]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const quick = process.argv.includes('--quick');
const n = quick ? 200 : 1000;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'camwire-bench-fleet-certs-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
const cli = path.resolve(__dirname, '..', 'bin', 'camwire.js');

function timed(cmd: string, args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function row(name: string, value: number, unit: string, peerName?: string, peer?: number): void {
  const ratio = peer ? `  ${(value / peer).toFixed(2)}x ${peerName}` : '';
  console.log(`${name.padEnd(52)} ${value.toFixed(1).padStart(9)} ${unit}${ratio}`);
}

const ca = path.join(dir, 'ca');
timed(process.execPath, [cli, 'pki', 'init-ca', '--out', ca, '--key-type', 'ec']);
const caPem = path.join(ca, 'ca.pem');
const caKey = path.join(ca, 'ca.key');
const peerDir = path.join(dir, 'openssl');
fs.mkdirSync(peerDir);
const script = `set -e; cd ${peerDir}; for i in $(seq -w 0 ${n - 1}); do openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout cam$i.key -subj /CN=cam$i -out r.csr 2>/dev/null; openssl x509 -req -in r.csr -CA ${caPem} -CAkey ${caKey} -CAcreateserial -days 365 -out cam$i.pem 2>/dev/null; done`;
const peer = n / timed('sh', ['-c', script]);
const out = path.join(dir, 'camwire');
const ours = n / timed(process.execPath, [cli, 'fleet', 'certs', '--ca', ca, '--count', String(n), '--out', out]);
const reuse = n / timed(process.execPath, [cli, 'fleet', 'certs', '--ca', ca, '--count', String(n), '--out', out]);
console.log(`fleet certs, N = ${n}, EC P-256, ${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(1)}`);
row('openssl req + x509 per device (shell loop)', peer, 'certs/s');
row('camwire fleet certs (whole process)', ours, 'certs/s', 'openssl', peer);
row('camwire fleet certs again (all reused)', reuse, 'devices/s');
