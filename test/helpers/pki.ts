import fs from 'node:fs';
import path from 'node:path';
import { CertificateAuthority, IssuedCertificate } from '../../ts/pki';

export interface DeviceFiles {
  cert: string;
  key: string;
  chain: string;
  issued: IssuedCertificate;
}

/** Issues a device certificate and writes NAME.pem/.key/.chain.pem into dir. */
export async function device(
  ca: CertificateAuthority,
  dir: string,
  thing: string,
  o: Parameters<CertificateAuthority['issueDevice']>[1] = {},
  fileBase = thing,
): Promise<DeviceFiles> {
  const d = await ca.issueDevice(thing, o);
  const f = (ext: string) => path.join(dir, `${fileBase}${ext}`);
  fs.writeFileSync(f('.pem'), d.certPem);
  fs.writeFileSync(f('.key'), d.keyPem, { mode: 0o600 });
  fs.writeFileSync(f('.chain.pem'), d.chainPem);
  return { cert: f('.pem'), key: f('.key'), chain: f('.chain.pem'), issued: d };
}
