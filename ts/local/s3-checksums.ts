/**
 * The integrity headers S3 checks on PutObject and UploadPart, for camwire's
 * local store: Content-MD5 and the x-amz-checksum-* family, read and
 * validated before the body, digested while it streams, refused with S3's
 * codes and messages. MD5 and the SHAs are node:crypto; the CRCs and xxHashes
 * are the AWS SDK's own (@aws-sdk/checksums, installed with
 * @aws-sdk/client-s3), loaded only when a request carries one.
 */
import crypto from 'node:crypto';
import type http from 'node:http';

/** The flexible checksums S3 accepts (x-amz-checksum-crc32, ...), as the S3 model in client-s3 lists them. */
export const CHECKSUM_ALGORITHMS = ['CRC32', 'CRC32C', 'CRC64NVME', 'MD5', 'SHA1', 'SHA256', 'SHA512', 'XXHASH64', 'XXHASH3', 'XXHASH128'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = {
  CRC32: 4,
  CRC32C: 4,
  CRC64NVME: 8,
  MD5: 16,
  SHA1: 20,
  SHA256: 32,
  SHA512: 64,
  XXHASH64: 8,
  XXHASH3: 8,
  XXHASH128: 16,
};
const NODE_HASH: Partial<Record<ChecksumAlgorithm, string>> = { MD5: 'md5', SHA1: 'sha1', SHA256: 'sha256', SHA512: 'sha512' };

/** x-amz-checksum-crc32 for CRC32, and so on. */
export const checksumHeader = (a: ChecksumAlgorithm): string => `x-amz-checksum-${a.toLowerCase()}`;

/** A checksum of an object or part: the algorithm and the base64 of its big-endian digest. */
export interface Checksum {
  algorithm: ChecksumAlgorithm;
  value: string;
}

/** A request refused for its digests; always a 400 at S3. */
export class ChecksumRefused extends Error {
  constructor(
    readonly code: 'BadDigest' | 'InvalidDigest' | 'InvalidRequest',
    message: string,
  ) {
    super(message);
  }
}

/** The algorithm named by x-amz-checksum-algorithm / x-amz-sdk-checksum-algorithm, or undefined for one S3 does not know. */
export function parseChecksumAlgorithm(value: string): ChecksumAlgorithm | undefined {
  return CHECKSUM_ALGORITHMS.find((a) => a === value.toUpperCase());
}

/** The digest in `value` if it is canonical base64 of exactly `bytes` bytes. */
function decodeDigest(value: string, bytes: number): Buffer | undefined {
  const raw = Buffer.from(value, 'base64');
  return raw.length === bytes && raw.toString('base64') === value ? raw : undefined;
}

function header(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

interface Hash {
  update(chunk: Uint8Array): void;
  digest(): Promise<Uint8Array>;
}

function hasher(a: ChecksumAlgorithm): Hash {
  const name = NODE_HASH[a];
  if (name) {
    const h = crypto.createHash(name);
    return {
      update: (c) => {
        h.update(c);
      },
      digest: async () => h.digest(),
    };
  }
  // Required here, not at the top: `import 'camwire'` (which exports the store) should not load the SDK's checksum code.
  if (a === 'CRC32' || a === 'CRC32C' || a === 'CRC64NVME') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the CRC implementations load only when a request asks for them
    const crc = require('@aws-sdk/checksums/crc') as typeof import('@aws-sdk/checksums/crc');
    return a === 'CRC32' ? new crc.Crc32() : a === 'CRC32C' ? new crc.Crc32c() : new crc.Crc64Nvme();
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the XXHASH implementations load only when a request asks for them
  const xxh = require('@aws-sdk/checksums/xxh') as typeof import('@aws-sdk/checksums/xxh');
  return a === 'XXHASH64' ? new xxh.Xxh64() : a === 'XXHASH3' ? new xxh.Xxh3_64() : new xxh.Xxh3_128();
}

/**
 * What one PutObject or UploadPart promises about its body. The constructor
 * checks the headers as S3 does before it reads the body (malformed values,
 * more than one checksum, an SDK algorithm without its checksum); `update`
 * takes the body as it streams; `verify` refuses a body that does not match.
 */
export class BodyDigests {
  /** The checksum the request declared, if any. */
  readonly checksum: Checksum | undefined;
  private readonly md5: Buffer | undefined;
  private readonly hash: Hash | undefined;

  constructor(headers: http.IncomingHttpHeaders) {
    const contentMd5 = header(headers, 'content-md5');
    if (contentMd5 !== undefined) {
      this.md5 = decodeDigest(contentMd5.trim(), 16);
      if (!this.md5) throw new ChecksumRefused('InvalidDigest', 'The Content-MD5 you specified was invalid.');
    }
    const given = CHECKSUM_ALGORITHMS.filter((a) => headers[checksumHeader(a)] !== undefined);
    if (given.length > 1) throw new ChecksumRefused('InvalidRequest', 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
    const sdk = header(headers, 'x-amz-sdk-checksum-algorithm');
    if (sdk !== undefined) {
      const named = parseChecksumAlgorithm(sdk);
      if (!named) throw new ChecksumRefused('InvalidRequest', 'Value for x-amz-sdk-checksum-algorithm header is invalid.');
      // The SDK sends its MD5 as Content-MD5.
      const corresponding = given[0] === named || (named === 'MD5' && contentMd5 !== undefined);
      if (!corresponding && headers['x-amz-trailer'] === undefined) {
        throw new ChecksumRefused(
          'InvalidRequest',
          'x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.',
        );
      }
    }
    const algorithm = given[0];
    if (algorithm) {
      const value = header(headers, checksumHeader(algorithm))!.trim();
      if (!decodeDigest(value, DIGEST_BYTES[algorithm]))
        throw new ChecksumRefused('InvalidRequest', `Value for ${checksumHeader(algorithm)} header is invalid.`);
      this.checksum = { algorithm, value };
      this.hash = hasher(algorithm);
    }
  }

  update(chunk: Buffer): void {
    this.hash?.update(chunk);
  }

  /**
   * Refuses the body if its MD5 (the store computes it for the ETag anyway)
   * or the declared checksum differs: 400 BadDigest with S3's message.
   */
  async verify(md5: Buffer): Promise<void> {
    if (this.md5 && !this.md5.equals(md5)) throw new ChecksumRefused('BadDigest', 'The Content-MD5 you specified did not match what we received.');
    if (!this.checksum || !this.hash) return;
    const got = Buffer.from(await this.hash.digest()).toString('base64');
    if (got !== this.checksum.value)
      throw new ChecksumRefused('BadDigest', `The ${this.checksum.algorithm} you specified did not match the calculated checksum.`);
  }
}
