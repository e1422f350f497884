/**
 * The upload target contract (DESIGN.md, version 1): where one file goes, as
 * pre-signed URLs the camera did not sign. Exactly one of `put` and
 * `multipart`. parseUploadTarget checks everything and lists every problem in
 * one UPLOAD_TARGET_INVALID error.
 */
import { CamwireError } from '../errors';

export interface PutSpec {
  url: string;
  /** Headers to send exactly as given (the signed ones must match byte for byte). */
  headers?: Record<string, string>;
}

export interface MultipartSpec {
  partSize: number;
  parts: Array<{ partNumber: number; url: string }>;
  completeUrl: string;
  abortUrl?: string;
}

export interface UploadTarget {
  version: 1;
  /** Idempotency key: a target seen twice is one job. */
  id: string;
  object: { path: string };
  contentType?: string;
  put?: PutSpec;
  multipart?: MultipartSpec;
  /** ISO 8601; the URLs are not used after it. */
  expiresAt?: string;
  /** Where the object lives once uploaded (published in the result). */
  objectUrl?: string;
  /**
   * A pre-signed GET of the object, made by the back end (the camera holds no
   * credentials), so whoever receives the result can open the object while
   * the bucket stays private. Published as the result's shareUrl.
   */
  share?: { url: string; expiresAt?: string };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkUrl(v: unknown, where: string, problems: string[]): void {
  if (typeof v !== 'string') {
    problems.push(`${where} must be a URL string`);
    return;
  }
  try {
    const u = new URL(v);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') problems.push(`${where} must be http(s), not ${u.protocol}`);
  } catch {
    problems.push(`${where} is not a valid URL`);
  }
}

/** Validates a parsed JSON value (or a JSON string) as an upload target. */
export function parseUploadTarget(input: unknown): UploadTarget {
  let v = input;
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    try {
      v = JSON.parse(input.toString());
    } catch (e) {
      throw new CamwireError('UPLOAD_TARGET_INVALID', `the upload target is not JSON: ${(e as Error).message}`, {
        hint: 'pass the JSON file the back end sent (or - for stdin)',
      });
    }
  }
  const problems: string[] = [];
  if (!isObj(v))
    throw new CamwireError('UPLOAD_TARGET_INVALID', 'the upload target must be a JSON object', {
      hint: 'the back end must send a version 1 upload target (DESIGN.md)',
    });
  if (v['version'] !== 1) problems.push(`version must be 1 (got ${JSON.stringify(v['version'])})`);
  if (typeof v['id'] !== 'string' || !/^[\w.:@-]{1,200}$/.test(v['id'])) problems.push('id must be 1-200 characters of letters, digits and . _ : @ -');
  const obj = v['object'];
  if (!isObj(obj) || typeof obj['path'] !== 'string' || !obj['path']) problems.push('object.path must be a non-empty string');
  if (v['contentType'] !== undefined && (typeof v['contentType'] !== 'string' || !/^[\w.+-]+\/[\w.+-]+/.test(v['contentType'])))
    problems.push('contentType must be a MIME type like image/jpeg');
  const hasPut = v['put'] !== undefined;
  const hasMp = v['multipart'] !== undefined;
  if (hasPut === hasMp) problems.push('exactly one of put and multipart must be present');
  if (hasPut) {
    const put = v['put'];
    if (!isObj(put)) problems.push('put must be an object');
    else {
      checkUrl(put['url'], 'put.url', problems);
      if (put['headers'] !== undefined && (!isObj(put['headers']) || Object.values(put['headers']).some((h) => typeof h !== 'string')))
        problems.push('put.headers must map header names to strings');
    }
  }
  if (hasMp) {
    const mp = v['multipart'];
    if (!isObj(mp)) problems.push('multipart must be an object');
    else {
      const ps = mp['partSize'];
      if (typeof ps !== 'number' || !Number.isInteger(ps) || ps < 1 || ps > 5 * 1024 ** 3)
        problems.push('multipart.partSize must be a whole number of bytes up to 5 GiB');
      const parts = mp['parts'];
      if (!Array.isArray(parts) || parts.length === 0 || parts.length > 10000) problems.push('multipart.parts must list 1 to 10000 parts');
      else {
        parts.forEach((p: unknown, i) => {
          if (!isObj(p)) {
            problems.push(`multipart.parts[${i}] must be an object`);
            return;
          }
          if (p['partNumber'] !== i + 1) problems.push(`multipart.parts[${i}].partNumber must be ${i + 1}`);
          checkUrl(p['url'], `multipart.parts[${i}].url`, problems);
        });
      }
      checkUrl(mp['completeUrl'], 'multipart.completeUrl', problems);
      if (mp['abortUrl'] !== undefined) checkUrl(mp['abortUrl'], 'multipart.abortUrl', problems);
    }
  }
  if (v['expiresAt'] !== undefined && (typeof v['expiresAt'] !== 'string' || Number.isNaN(Date.parse(v['expiresAt']))))
    problems.push('expiresAt must be an ISO 8601 time');
  if (v['objectUrl'] !== undefined) checkUrl(v['objectUrl'], 'objectUrl', problems);
  if (v['share'] !== undefined) {
    const share = v['share'];
    if (!isObj(share)) problems.push('share must be an object');
    else {
      checkUrl(share['url'], 'share.url', problems);
      if (share['expiresAt'] !== undefined && (typeof share['expiresAt'] !== 'string' || Number.isNaN(Date.parse(share['expiresAt']))))
        problems.push('share.expiresAt must be an ISO 8601 time');
    }
  }
  if (problems.length) {
    throw new CamwireError('UPLOAD_TARGET_INVALID', `the upload target has ${problems.length} problem(s): ${problems.join('; ')}`, {
      details: { problems },
      hint: 'the back end must send a version 1 upload target (DESIGN.md; `camwire presign` makes one)',
    });
  }
  return v as unknown as UploadTarget;
}
