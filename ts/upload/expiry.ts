/**
 * When does an upload target stop working? The earliest of its expiresAt and
 * of what each URL says about itself: SigV4 X-Amz-Date + X-Amz-Expires, or
 * COS q-key-time / q-sign-time "start;end" (also inside a `sign` value).
 */
import { UploadTarget } from '../common/upload-target';

export function urlExpiry(url: string): Date | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const q = new Map([...u.searchParams].map(([k, v]) => [k.toLowerCase(), v]));
  const amzDate = q.get('x-amz-date');
  const amzExpires = q.get('x-amz-expires');
  if (amzDate && amzExpires) {
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
    const secs = Number(amzExpires);
    if (m && Number.isFinite(secs)) return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) + secs * 1000);
  }
  let keyTime = q.get('q-key-time') ?? q.get('q-sign-time');
  const sign = q.get('sign');
  if (!keyTime && sign) keyTime = /q-(?:key|sign)-time=([0-9;]+)/.exec(sign)?.[1];
  if (keyTime) {
    const end = Number(keyTime.split(';')[1]);
    if (Number.isFinite(end) && end > 0) return new Date(end * 1000);
  }
  return undefined;
}

export function targetUrls(t: UploadTarget): string[] {
  if (t.put) return [t.put.url];
  if (t.multipart) return [...t.multipart.parts.map((p) => p.url), t.multipart.completeUrl];
  return [];
}

/** The earliest expiry among expiresAt and the URLs, or undefined when nothing says. */
export function targetExpiry(t: UploadTarget): Date | undefined {
  const times = [t.expiresAt ? new Date(t.expiresAt) : undefined, ...targetUrls(t).map(urlExpiry)].filter((d): d is Date => d !== undefined);
  if (!times.length) return undefined;
  return new Date(Math.min(...times.map((d) => d.getTime())));
}
