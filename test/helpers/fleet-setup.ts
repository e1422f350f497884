/**
 * What the fleet tests share: a fresh EC CA, N device certificates
 * `{prefix}{index:03}` written as `fleet run --certs` reads them (keys 0600),
 * and a Mosquitto with mutual TLS signed by that CA, each in the test's temp dir.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CertificateAuthority } from '../../ts/pki';
import { MosquittoBroker } from './mosquitto';

export interface FleetSetup {
  certs: string;
  brokerDir: string;
  things: string[];
  ca: CertificateAuthority;
  broker: MosquittoBroker;
}

export async function fleetSetup(dir: string, prefix: string, n: number): Promise<FleetSetup> {
  const certs = path.join(dir, 'certs');
  fs.mkdirSync(certs);
  const { ca } = await CertificateAuthority.create({ keyType: 'ec' });
  const things = Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(3, '0')}`);
  await Promise.all(
    things.map(async (thing) => {
      const d = await ca.issueDevice(thing, { keyType: 'ec' });
      fs.writeFileSync(path.join(certs, `${thing}.pem`), d.certPem);
      fs.writeFileSync(path.join(certs, `${thing}.key`), d.keyPem, { mode: 0o600 });
    }),
  );
  const brokerDir = path.join(dir, 'broker');
  fs.mkdirSync(brokerDir);
  const broker = await MosquittoBroker.start({ dir: brokerDir, ca });
  return { certs, brokerDir, things, ca, broker };
}
