/**
 * Pre-signed URLs are bearer credentials until they expire. Anything camwire
 * logs or puts in an error goes through redactUrl first.
 */
const SECRET_PARAMS = /^(x-amz-signature|x-amz-security-token|x-amz-credential|q-signature|x-cos-security-token|signature|sign|sig|token)$/i;

export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url.replace(/((?:X-Amz-Signature|X-Amz-Security-Token|X-Amz-Credential|q-signature|x-cos-security-token|sign)=)[^&\s]*/gi, '$1REDACTED');
  }
  for (const key of [...u.searchParams.keys()]) {
    if (SECRET_PARAMS.test(key)) u.searchParams.set(key, 'REDACTED');
  }
  // COS may carry the whole auth string in one `sign` value, or in the query
  // directly (q-sign-algorithm=...&q-signature=...), both handled above.
  return u.toString();
}

/** Redacts every URL inside a free text (error messages from peers). */
export function redactText(text: string): string {
  return text.replace(/https?:\/\/[^\s"'<>]+/g, (m) => redactUrl(m));
}
