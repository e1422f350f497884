/**
 * The back-end side: makes upload targets with SigV4 pre-signed URLs for S3
 * or any S3-compatible store, using the AWS SDK's presigner (not a
 * hand-written signer). Checksums are calculated only when required: since
 * client-s3 3.729 the default would sign a CRC32 of an empty body into every
 * URL and break the real upload.
 */
import crypto from 'node:crypto';
import {
  S3Client,
  GetObjectCommand,
  PutObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  CompleteMultipartUploadCommand,
  AbortMultipartUploadCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { CamwireError } from '../errors';
import { UploadTarget } from '../common/upload-target';

export interface PresignBase {
  /** e.g. https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:8080; default the region's S3 (s3.cn-north-1.amazonaws.com.cn in China). */
  endpoint?: string;
  region?: string;
  bucket: string;
  key: string;
  /** Seconds the URLs stay valid (1-604800, default 3600). */
  expiresIn?: number;
  contentType?: string;
  /** Path-style URLs (default true with a custom endpoint). */
  pathStyle?: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Idempotency id of the target (default random). */
  id?: string;
  /**
   * Seconds the target's share (a pre-signed GET of the object, published in
   * the result as shareUrl) stays valid: 1-604800, default 604800 (7 days,
   * SigV4's maximum; shorter when the signing credentials expire sooner); 0
   * for no share.
   */
  shareExpiresIn?: number;
}

function client(o: PresignBase): S3Client {
  return new S3Client({
    region: o.region ?? 'us-east-1',
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    forcePathStyle: o.pathStyle ?? o.endpoint !== undefined,
    ...(o.credentials ? { credentials: o.credentials } : {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

function expiresIn(o: PresignBase): number {
  const s = o.expiresIn ?? 3600;
  if (!Number.isInteger(s) || s < 1 || s > 604800) throw new CamwireError('PRESIGN_BAD_ARGUMENT', `expiry of ${s} s is outside 1-604800 (7 days)`);
  return s;
}

function shareSeconds(o: PresignBase): number {
  const s = o.shareExpiresIn ?? 604800;
  if (!Number.isInteger(s) || s < 0 || s > 604800)
    throw new CamwireError('PRESIGN_BAD_ARGUMENT', `share expiry of ${s} s is outside 0-604800 (7 days; 0 for no share)`);
  return s;
}

/** The target's share: a pre-signed GET of the object. */
async function share(s3: S3Client, o: PresignBase): Promise<Pick<UploadTarget, 'share'>> {
  const seconds = shareSeconds(o);
  if (!seconds) return {};
  const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: o.bucket, Key: o.key }), { expiresIn: seconds });
  return { share: { url, expiresAt: isoSeconds(Date.now() + seconds * 1000) } };
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Where the object lives: a signed URL of it without its query, as the SDK
 * resolved it (the region's partition and DNS suffix, amazonaws.com.cn in
 * China; path-style or virtual-hosted; a custom endpoint).
 */
function objectUrl(signed: string): string {
  const u = new URL(signed);
  u.search = '';
  return u.toString();
}

function common(
  o: PresignBase,
  seconds: number,
  signed: string,
): Pick<UploadTarget, 'version' | 'id' | 'object' | 'expiresAt' | 'objectUrl'> & { contentType?: string } {
  return {
    version: 1,
    id: o.id ?? crypto.randomUUID(),
    object: { path: o.key },
    ...(o.contentType ? { contentType: o.contentType } : {}),
    expiresAt: isoSeconds(Date.now() + seconds * 1000),
    objectUrl: objectUrl(signed),
  };
}

/** A single-PUT target; a Content-Type is signed, so the device must send exactly it. */
export async function presignPut(o: PresignBase): Promise<UploadTarget> {
  const s3 = client(o);
  try {
    return await putTarget(s3, o);
  } finally {
    s3.destroy();
  }
}

async function putTarget(s3: S3Client, o: PresignBase): Promise<UploadTarget> {
  const seconds = expiresIn(o);
  shareSeconds(o);
  const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket: o.bucket, Key: o.key, ...(o.contentType ? { ContentType: o.contentType } : {}) }), {
    expiresIn: seconds,
    ...(o.contentType ? { signableHeaders: new Set(['content-type']) } : {}),
  });
  return { ...common(o, seconds, url), put: { url, headers: o.contentType ? { 'content-type': o.contentType } : {} }, ...(await share(s3, o)) };
}

/** The store's settings a presigner keeps; each target names its own bucket, key and the rest. */
export type PresignStore = Pick<PresignBase, 'endpoint' | 'region' | 'pathStyle' | 'credentials'>;

/**
 * Many single-PUT targets for one store: one S3 client for all of them
 * (building and destroying one per target, as presignPut does, was about a
 * millisecond of CPU each: a tenth of a core for a fleet presigning 100 a
 * second). destroy() when done.
 */
export class PutPresigner {
  private readonly s3: S3Client;
  constructor(private readonly store: PresignStore) {
    this.s3 = client({ ...store, bucket: '', key: '' });
  }
  presignPut(o: Omit<PresignBase, keyof PresignStore>): Promise<UploadTarget> {
    return putTarget(this.s3, { ...o, ...this.store });
  }
  destroy(): void {
    this.s3.destroy();
  }
}

/**
 * A multipart target: CreateMultipartUpload happens now (it needs the back
 * end's credentials); every UploadPart, the Complete and the Abort are
 * pre-signed for the device.
 */
const S3_MIN_PART = 5 * 1024 * 1024;
const S3_MAX_PART = 5 * 1024 * 1024 * 1024;

export async function presignMultipart(o: PresignBase & { size: number; partSize?: number; minPartSize?: number }): Promise<UploadTarget> {
  const seconds = expiresIn(o);
  shareSeconds(o);
  const partSize = o.partSize ?? 8 * 1024 * 1024;
  if (!Number.isInteger(o.size) || o.size < 0) throw new CamwireError('PRESIGN_BAD_ARGUMENT', '--size must be the file size in bytes');
  if (!Number.isInteger(partSize) || partSize <= 0) throw new CamwireError('PRESIGN_BAD_ARGUMENT', '--part-size must be a positive number of bytes');
  const count = Math.max(1, Math.ceil(o.size / partSize));
  // S3: every part but the last at least 5 MiB, at most 5 GiB (a one-part upload may be smaller).
  const minPart = o.minPartSize ?? S3_MIN_PART;
  if (count > 1 && partSize < minPart) {
    throw new CamwireError(
      'PRESIGN_BAD_ARGUMENT',
      `parts of ${partSize} bytes are below the store's minimum of ${minPart} bytes (S3: 5 MiB) for every part but the last`,
      { hint: `use --part-size ${minPart} or more (the default is 8 MiB), or presign put for a file this small` },
    );
  }
  if (partSize > S3_MAX_PART) throw new CamwireError('PRESIGN_BAD_ARGUMENT', `parts of ${partSize} bytes exceed S3's maximum of 5 GiB`);
  if (count > 10000) throw new CamwireError('PRESIGN_BAD_ARGUMENT', `${count} parts of ${partSize} bytes exceed S3's 10000; use a larger part size`);
  const s3 = client(o);
  try {
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: o.bucket, Key: o.key, ...(o.contentType ? { ContentType: o.contentType } : {}) }));
    const uploadId = created.UploadId;
    if (!uploadId) throw new CamwireError('PRESIGN_FAILED', 'CreateMultipartUpload returned no UploadId');
    const parts = await Promise.all(
      Array.from({ length: count }, async (_, i) => ({
        partNumber: i + 1,
        url: await getSignedUrl(s3, new UploadPartCommand({ Bucket: o.bucket, Key: o.key, UploadId: uploadId, PartNumber: i + 1 }), { expiresIn: seconds }),
      })),
    );
    const completeUrl = await getSignedUrl(s3, new CompleteMultipartUploadCommand({ Bucket: o.bucket, Key: o.key, UploadId: uploadId }), {
      expiresIn: seconds,
    });
    const abortUrl = await getSignedUrl(s3, new AbortMultipartUploadCommand({ Bucket: o.bucket, Key: o.key, UploadId: uploadId }), { expiresIn: seconds });
    return { ...common(o, seconds, completeUrl), multipart: { partSize, parts, completeUrl, abortUrl }, ...(await share(s3, o)) };
  } catch (e) {
    if (e instanceof CamwireError) throw e;
    throw new CamwireError('PRESIGN_FAILED', `CreateMultipartUpload on ${o.bucket}/${o.key} failed: ${(e as Error).name}: ${(e as Error).message}`, {
      cause: e,
    });
  } finally {
    s3.destroy();
  }
}

export { deviceKey } from './layout';
