/**
 * A bare pre-signed PUT URL, from any presigner (boto3, the AWS SDKs, a back
 * end, COS), as an upload target: what the mission's simplest flow hands a
 * camera. Its expiry is read from the URL itself (X-Amz-Date + X-Amz-Expires,
 * or COS's q-sign-time), the object URL is the URL without its query, and the
 * target id is a digest of the URL, so the same URL twice is one job.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { CamwireError } from '../errors';
import { urlExpiry } from './expiry';
import { redactUrl } from './redact';
import { parseUploadTarget, UploadTarget } from '../common/upload-target';

const TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.bmp': 'image/bmp',
  '.webp': 'image/webp',
  '.heic': 'image/heic',
  '.heif': 'image/heif',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.dng': 'image/x-adobe-dng',
  '.cr2': 'image/x-canon-cr2',
  '.cr3': 'image/x-canon-cr3',
  '.nef': 'image/x-nikon-nef',
  '.arw': 'image/x-sony-arw',
  '.raf': 'image/x-fuji-raf',
  '.mp4': 'video/mp4',
  '.m4v': 'video/mp4',
  '.mov': 'video/quicktime',
  '.mkv': 'video/x-matroska',
  '.webm': 'video/webm',
  '.avi': 'video/x-msvideo',
  '.mts': 'video/mp2t',
  '.ts': 'video/mp2t',
  '.h264': 'video/h264',
  '.264': 'video/h264',
  '.h265': 'video/h265',
  '.hevc': 'video/h265',
  '.mp3': 'audio/mpeg',
  '.aac': 'audio/aac',
  '.m4a': 'audio/mp4',
  '.wav': 'audio/wav',
  '.json': 'application/json',
  '.txt': 'text/plain',
  '.csv': 'text/csv',
  '.log': 'text/plain',
  '.xml': 'application/xml',
  '.zip': 'application/zip',
};

/** The MIME type for a file name, or application/octet-stream. */
export function contentTypeFor(file: string): string {
  return TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

export interface PutUrlOptions {
  /** The file to upload: its name gives object.path and the default content type. */
  file: string;
  /** Headers the URL was signed with, sent byte for byte (e.g. content-type, x-amz-meta-*). */
  headers?: Record<string, string>;
  /** Content-Type to send (default: from the file name, unless headers carry one). */
  contentType?: string;
  /** Target id (default: a digest of the URL). */
  id?: string;
}

/** Parses `Name: value` header arguments (as curl's -H takes them). */
export function parseHeaderArgs(args: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of args) {
    const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):\s*(.*)$/.exec(a);
    if (!m) throw new CamwireError('CLI_BAD_ARGUMENT', `--header "${a}" is not "Name: value"`);
    out[m[1]!.toLowerCase()] = m[2]!;
  }
  return out;
}

/** An upload target (single PUT) for a bare pre-signed URL. */
export function putUrlTarget(url: string, o: PutUrlOptions): UploadTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CamwireError('UPLOAD_TARGET_INVALID', `the PUT URL is not a valid URL: ${redactUrl(url)}`, {
      hint: 'give the whole pre-signed URL, in quotes (it contains &)',
    });
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new CamwireError('UPLOAD_TARGET_INVALID', `the PUT URL must be http(s), not ${u.protocol}`);
  const headers: Record<string, string> = Object.fromEntries(Object.entries(o.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const contentType = o.contentType ?? headers['content-type'] ?? contentTypeFor(o.file);
  headers['content-type'] ??= contentType;
  const expiry = urlExpiry(url);
  const target = {
    version: 1,
    id: o.id ?? `url-${crypto.createHash('sha256').update(url).digest('hex').slice(0, 32)}`,
    object: { path: path.basename(o.file) },
    contentType,
    put: { url, headers },
    ...(expiry ? { expiresAt: expiry.toISOString() } : {}),
    objectUrl: `${u.protocol}//${u.host}${u.pathname}`,
  };
  return parseUploadTarget(target);
}

/** Does a --target argument look like a URL rather than a file? */
export function looksLikeUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}
