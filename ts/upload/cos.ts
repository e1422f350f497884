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
import { UploadTarget } from './target';

/** Headers COS lets a signature cover (plus every x-cos-* and x-ci-*). */
const SIGNABLE = new Set(['cache-control', 'content-disposition', 'content-encoding', 'content-length', 'content-md5', 'content-type', 'expect', 'expires', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-unmodified-since', 'origin', 'range', 'transfer-encoding']);

/** encodeURIComponent plus the characters it leaves alone but COS expects encoded. */
export function cosEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function canonical(map: Record<string, string>): { list: string; keys: string } {
  const entries = Object.entries(map).map(([k, v]) => [cosEncode(k).toLowerCase(), cosEncode(v)] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
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
  const headers = Object.fromEntries(Object.entries(i.headers ?? {}).filter(([k]) => {
    const l = k.toLowerCase();
    return SIGNABLE.has(l) || l.startsWith('x-cos-') || l.startsWith('x-ci-');
  }));
  const q = canonical(i.query ?? {});
  const h = canonical(headers);
  const signKey = crypto.createHmac('sha1', i.secretKey).update(i.keyTime).digest('hex');
  const formatString = [i.method.toLowerCase(), i.pathname, q.list, h.list, ''].join('\n');
  const stringToSign = ['sha1', i.keyTime, crypto.createHash('sha1').update(formatString, 'utf8').digest('hex'), ''].join('\n');
  const signature = crypto.createHmac('sha1', signKey).update(stringToSign).digest('hex');
  return [
    'q-sign-algorithm=sha1', `q-ak=${i.secretId}`, `q-sign-time=${i.keyTime}`, `q-key-time=${i.keyTime}`,
    `q-header-list=${h.keys}`, `q-url-param-list=${q.keys}`, `q-signature=${signature}`,
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
  now?: Date;
}

/** A single-PUT target with a COS-native signature over host (and Content-Type when given). */
export function presignCosPut(o: CosPresignOptions): UploadTarget {
  if (!/^[a-z0-9-]+-\d+$/.test(o.bucket)) throw new CamwireError('PRESIGN_BAD_ARGUMENT', `"${o.bucket}" is not a COS bucket name with its APPID (name-1250000000)`);
  const seconds = o.expiresIn ?? 3600;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 604800) throw new CamwireError('PRESIGN_BAD_ARGUMENT', `expiry of ${seconds} s is outside 1-604800`);
  const host = o.host ?? `${o.bucket}.cos.${o.region}.myqcloud.com`;
  const start = Math.floor((o.now ?? new Date()).getTime() / 1000) - 1;
  const keyTime = `${start};${start + seconds}`;
  const pathname = '/' + o.key.split('/').map(cosEncode).join('/');
  const headers: Record<string, string> = { host, ...(o.contentType ? { 'content-type': o.contentType } : {}) };
  const auth = cosAuthorization({ secretId: o.secretId, secretKey: o.secretKey, method: 'PUT', pathname: `/${o.key}`, headers, keyTime });
  const url = `https://${host}${pathname}?${auth}${o.sessionToken ? `&x-cos-security-token=${cosEncode(o.sessionToken)}` : ''}`;
  return {
    version: 1,
    id: o.id ?? crypto.randomUUID(),
    object: { path: o.key },
    ...(o.contentType ? { contentType: o.contentType } : {}),
    put: { url, headers: o.contentType ? { 'content-type': o.contentType } : {} },
    expiresAt: new Date((start + seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    objectUrl: `https://${host}${pathname}`,
  };
}
