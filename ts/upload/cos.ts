/**
 * Tencent COS native request signatures (q-sign-algorithm=sha1), implemented
 * from COS's published algorithm (tencentcloud.com/document/product/436/7778):
 *   SignKey      = HMAC-SHA1(SecretKey, KeyTime)
 *   FormatString = method \n path \n params \n headers \n   (lower-case encoded keys, sorted)
 *   StringToSign = "sha1" \n SignTime \n SHA1(FormatString) \n
 *   Signature    = HMAC-SHA1(SignKey, StringToSign)
 * The device uploads to these URLs unchanged; only the back end signs.
 */
import crypto from 'node:crypto';
import { CamwireError } from '../errors';
import { UploadTarget } from '../common/upload-target';

/** Headers COS lets a signature cover (plus every x-cos-* and x-ci-*). */
const SIGNABLE = new Set([
  'cache-control',
  'content-disposition',
  'content-encoding',
  'content-length',
  'content-md5',
  'content-type',
  'expect',
  'expires',
  'host',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-unmodified-since',
  'origin',
  'range',
  'transfer-encoding',
]);

/** encodeURIComponent plus the characters it leaves alone but COS expects encoded. */
export function cosEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function canonical(map: Record<string, string>): { list: string; keys: string } {
  const entries = Object.entries(map)
    .map(([k, v]) => [cosEncode(k).toLowerCase(), cosEncode(v)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { list: entries.map(([k, v]) => `${k}=${v}`).join('&'), keys: entries.map(([k]) => k).join(';') };
}

export interface CosSignInput {
  secretId: string;
  secretKey: string;
  method: string;
  /** The object path, starting with '/'. */
  pathname: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** "start;end" in Unix seconds. */
  keyTime: string;
}

/** The authorization string (q-sign-algorithm=sha1&q-ak=...&q-signature=...). */
export function cosAuthorization(i: CosSignInput): string {
  const headers = Object.fromEntries(
    Object.entries(i.headers ?? {}).filter(([k]) => {
      const l = k.toLowerCase();
      return SIGNABLE.has(l) || l.startsWith('x-cos-') || l.startsWith('x-ci-');
    }),
  );
  const q = canonical(i.query ?? {});
  const h = canonical(headers);
  const signKey = crypto.createHmac('sha1', i.secretKey).update(i.keyTime).digest('hex');
  const formatString = [i.method.toLowerCase(), i.pathname, q.list, h.list, ''].join('\n');
  const stringToSign = ['sha1', i.keyTime, crypto.createHash('sha1').update(formatString, 'utf8').digest('hex'), ''].join('\n');
  const signature = crypto.createHmac('sha1', signKey).update(stringToSign).digest('hex');
  return [
    'q-sign-algorithm=sha1',
    `q-ak=${i.secretId}`,
    `q-sign-time=${i.keyTime}`,
    `q-key-time=${i.keyTime}`,
    `q-header-list=${h.keys}`,
    `q-url-param-list=${q.keys}`,
    `q-signature=${signature}`,
  ].join('&');
}

export interface CosPresignOptions {
  secretId: string;
  secretKey: string;
  sessionToken?: string;
  /** Bucket with its APPID suffix, e.g. examplebucket-1250000000. */
  bucket: string;
  /** e.g. ap-guangzhou. */
  region: string;
  key: string;
  expiresIn?: number;
  contentType?: string;
  id?: string;
  /** Override the host (tests, accelerate domains); default {bucket}.cos.{region}.myqcloud.com. */
  host?: string;
  /** https (default); http only for a local test endpoint. */
  protocol?: 'https' | 'http';
  /** Seconds the share (a pre-signed GET, published as shareUrl) stays valid: 0-604800, default 604800; 0 for none. */
  shareExpiresIn?: number;
  now?: Date;
}

interface CosContext {
  host: string;
  base: string;
  pathname: string;
  keyTime: string;
  start: number;
  seconds: number;
}

function context(o: CosPresignOptions): CosContext {
  if (!/^[a-z0-9-]+-\d+$/.test(o.bucket))
    throw new CamwireError('PRESIGN_BAD_ARGUMENT', `"${o.bucket}" is not a COS bucket name with its APPID (name-1250000000)`);
  const seconds = o.expiresIn ?? 3600;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 604800)
    throw new CamwireError('PRESIGN_BAD_ARGUMENT', `expiry of ${seconds} s is outside 1-604800`);
  const host = o.host ?? `${o.bucket}.cos.${o.region}.myqcloud.com`;
  const start = Math.floor((o.now ?? new Date()).getTime() / 1000) - 1;
  return {
    host,
    base: `${o.protocol ?? 'https'}://${host}`,
    pathname: '/' + o.key.split('/').map(cosEncode).join('/'),
    keyTime: `${start};${start + seconds}`,
    start,
    seconds,
  };
}

/** A URL for one request, its signature in the query (COS "pre-signed URL"). */
function signedUrl(o: CosPresignOptions, c: CosContext, method: string, query: Record<string, string>, headers: Record<string, string>): string {
  const auth = cosAuthorization({
    secretId: o.secretId,
    secretKey: o.secretKey,
    method,
    pathname: `/${o.key}`,
    query,
    headers: { host: c.host, ...headers },
    keyTime: c.keyTime,
  });
  const own = Object.entries(query)
    .map(([k, v]) => `${cosEncode(k)}=${cosEncode(v)}`)
    .join('&');
  return `${c.base}${c.pathname}?${own ? `${own}&` : ''}${auth}${o.sessionToken ? `&x-cos-security-token=${cosEncode(o.sessionToken)}` : ''}`;
}

function targetBase(
  o: CosPresignOptions,
  c: CosContext,
): Pick<UploadTarget, 'version' | 'id' | 'object' | 'expiresAt' | 'objectUrl'> & { contentType?: string } {
  return {
    version: 1,
    id: o.id ?? crypto.randomUUID(),
    object: { path: o.key },
    ...(o.contentType ? { contentType: o.contentType } : {}),
    expiresAt: new Date((c.start + c.seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    objectUrl: `${c.base}${c.pathname}`,
  };
}

/** The target's share: a COS pre-signed GET of the object with its own validity. */
function cosShare(o: CosPresignOptions): Pick<UploadTarget, 'share'> {
  const seconds = o.shareExpiresIn ?? 604800;
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > 604800)
    throw new CamwireError('PRESIGN_BAD_ARGUMENT', `share expiry of ${seconds} s is outside 0-604800 (0 for no share)`);
  if (!seconds) return {};
  const c = context({ ...o, expiresIn: seconds });
  return { share: { url: signedUrl(o, c, 'GET', {}, {}), expiresAt: new Date((c.start + c.seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') } };
}

/** A single-PUT target with a COS-native signature over host (and Content-Type when given). */
export function presignCosPut(o: CosPresignOptions): UploadTarget {
  const c = context(o);
  const headers: Record<string, string> = o.contentType ? { 'content-type': o.contentType } : {};
  return { ...targetBase(o, c), put: { url: signedUrl(o, c, 'PUT', {}, headers), headers }, ...cosShare(o) };
}

/**
 * A multipart target on COS: InitiateMultipartUpload now (POST ?uploads,
 * signed in the Authorization header), then pre-signed part, complete and
 * abort URLs with partNumber/uploadId inside the signature.
 */
export async function presignCosMultipart(o: CosPresignOptions & { size: number; partSize?: number }): Promise<UploadTarget> {
  const c = context(o);
  cosShare(o); // a bad share expiry is refused before InitiateMultipartUpload
  const partSize = o.partSize ?? 8 * 1024 * 1024;
  if (partSize < 1024 * 1024) throw new CamwireError('PRESIGN_BAD_ARGUMENT', 'COS parts must be at least 1 MB');
  const count = Math.max(1, Math.ceil(o.size / partSize));
  if (count > 10000) throw new CamwireError('PRESIGN_BAD_ARGUMENT', `${count} parts exceed COS's 10000; use a larger part size`);
  const headers: Record<string, string> = { host: c.host, ...(o.contentType ? { 'content-type': o.contentType } : {}) };
  const authorization = cosAuthorization({
    secretId: o.secretId,
    secretKey: o.secretKey,
    method: 'POST',
    pathname: `/${o.key}`,
    query: { uploads: '' },
    headers,
    keyTime: c.keyTime,
  });
  let res: Response;
  try {
    res = await fetch(`${c.base}${c.pathname}?uploads`, {
      method: 'POST',
      headers: { ...headers, authorization, ...(o.sessionToken ? { 'x-cos-security-token': o.sessionToken } : {}) },
    });
  } catch (e) {
    throw new CamwireError('PRESIGN_FAILED', `InitiateMultipartUpload to ${c.host} failed: ${(e as Error).message}`, { cause: e });
  }
  const body = await res.text();
  const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(body)?.[1];
  if (!res.ok || !uploadId) {
    const code = /<Code>([^<]+)<\/Code>/.exec(body)?.[1];
    throw new CamwireError('PRESIGN_FAILED', `InitiateMultipartUpload on ${o.bucket}/${o.key} answered ${res.status}${code ? ` ${code}` : ''}`);
  }
  const parts = Array.from({ length: count }, (_, i) => ({ partNumber: i + 1, url: signedUrl(o, c, 'PUT', { partNumber: String(i + 1), uploadId }, {}) }));
  return {
    ...targetBase(o, c),
    multipart: {
      partSize,
      parts,
      completeUrl: signedUrl(o, c, 'POST', { uploadId }, {}),
      abortUrl: signedUrl(o, c, 'DELETE', { uploadId }, {}),
    },
    ...cosShare(o),
  };
}
