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
  /**
   * fsync before the rename (default true). Callers that check what they find
   * on disk before trusting it (the fleet's certificates, re-issued when
   * unreadable) may skip it for speed: the rename still makes each file whole.
   */
  fsync?: boolean;
}

/**
 * Refuses with PKI_FILE_EXISTS if any of the files exists (unless overwrite):
 * checked for all of a set before the first is written, so a refusal leaves
 * no half-written set behind.
 */
export function refuseExisting(files: string[], options: WriteOptions = {}): void {
  if (options.overwrite) return;
  for (const file of files) {
    if (fs.existsSync(file))
      throw new CamwireError('PKI_FILE_EXISTS', `${file} already exists`, { hint: 'pass --force to replace it, or choose another --out directory' });
  }
}

/**
 * Writes `data` to `file` through a temp file beside it and a rename: a
 * reader sees the old file or the whole new one, never a part. The mode is
 * the temp file's from its creation.
 */
export function writeFileAtomic(file: string, data: string, mode: number, options: WriteOptions = {}): void {
  refuseExisting([file], options);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  // The mode is set at creation, so a key is never readable by others even briefly.
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode);
  try {
    try {
      fs.writeFileSync(fd, data); // every byte (a single writeSync may write fewer)
      if (options.fsync !== false) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true }); // a failed write (ENOSPC) leaves no temp file behind
    throw e;
  }
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

/**
 * The number for the next CRL of the CA in `dir`, taken from DIR/crlnumber and
 * advanced there. The file is what `openssl ca` keeps: the next number in hex
 * (absent: 1), so a CA directory can move between the two. The advanced
 * counter is written (atomically) before the CRL is made: a failure leaves a
 * gap, which RFC 5280 allows, never a number used twice.
 */
export function nextCrlNumber(dir: string): bigint {
  const file = path.join(dir, 'crlnumber');
  let n = 1n;
  if (fs.existsSync(file)) {
    const text = fs.readFileSync(file, 'utf8').trim();
    if (!/^[0-9A-Fa-f]{1,40}$/.test(text)) {
      throw new CamwireError('PKI_BAD_CRL_NUMBER', `${file} does not hold a hexadecimal CRL number ("${text.slice(0, 40)}")`, {
        hint: 'write the next CRL number in hex (e.g. 01), as openssl ca does',
      });
    }
    n = BigInt(`0x${text}`);
  }
  let next = (n + 1n).toString(16).toUpperCase();
  if (next.length % 2) next = '0' + next;
  writeFileAtomic(file, next + '\n', 0o644, { overwrite: true });
  return n;
}
