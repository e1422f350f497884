/**
 * Writing PKI material to disk: private keys are created with mode 0600 (never
 * widened afterwards), files are written whole through a temp file and a
 * rename, and an existing file is kept unless the caller says overwrite.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CamwireError } from '../errors';
import { CertificateAuthority } from './authority';

export interface WriteOptions {
  /** Replace existing files (default false: refuse with PKI_FILE_EXISTS). */
  overwrite?: boolean;
}

export function writeFileAtomic(file: string, data: string, mode: number, options: WriteOptions = {}): void {
  if (!options.overwrite && fs.existsSync(file)) {
    throw new CamwireError('PKI_FILE_EXISTS', `${file} already exists`, { hint: 'pass --force to replace it, or choose another --out directory' });
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  // The mode is set at creation, so a key is never readable by others even briefly.
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

export const writePrivateKey = (file: string, pem: string, o?: WriteOptions) => writeFileAtomic(file, pem, 0o600, o);
export const writePublicFile = (file: string, pem: string, o?: WriteOptions) => writeFileAtomic(file, pem, 0o644, o);

/** Loads DIR/ca.pem and DIR/ca.key. */
export async function loadCaDir(dir: string): Promise<CertificateAuthority> {
  const certFile = path.join(dir, 'ca.pem');
  const keyFile = path.join(dir, 'ca.key');
  for (const f of [certFile, keyFile]) {
    if (!fs.existsSync(f)) throw new CamwireError('PKI_CA_NOT_FOUND', `${f} not found`, { hint: 'make a CA first: camwire pki init-ca --out DIR' });
  }
  return CertificateAuthority.load(fs.readFileSync(certFile, 'utf8'), fs.readFileSync(keyFile, 'utf8'));
}
