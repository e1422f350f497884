/**
 * The one redactor. Pre-signed URLs, signatures and session tokens are bearer
 * credentials until they expire: every error (CamwireError redacts its own
 * message, hint and details), every log, progress and event line of the CLI,
 * and every status string goes through here before anyone sees it.
 *
 * It knows the forms camwire meets: SigV4 in a query (X-Amz-Signature,
 * X-Amz-Credential, X-Amz-Security-Token) and in a header
 * (`Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`),
 * SigV2 (`Signature=`, `AWS AKID:sig`), COS (`q-signature`, `sign`,
 * `x-cos-security-token`), and the session token KVS and the IoT credentials
 * provider hand out (`x-amz-security-token: …`, `"sessionToken": "…"`).
 */
const SECRET_PARAMS =
  /^(x-amz-signature|x-amz-security-token|x-amz-credential|q-signature|q-ak|x-cos-security-token|signature|sign|sig|token|awsaccesskeyid)$/i;
const REDACTED = 'REDACTED';

/** A URL with every secret query value replaced; the rest (host, path, expiry) kept for diagnosis. */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return redactQueryText(url);
  }
  let changed = false;
  const params = [...u.searchParams];
  for (const [key] of params) if (SECRET_PARAMS.test(key)) changed = true;
  if (!changed) return url;
  // Rebuilt by hand so values that were not secret keep their own encoding.
  const query = u.search
    .slice(1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const rawKey = eq < 0 ? pair : pair.slice(0, eq);
      let key = rawKey;
      try {
        key = decodeURIComponent(rawKey.replace(/\+/g, ' '));
      } catch {
        // keep the raw key
      }
      return SECRET_PARAMS.test(key) ? `${rawKey}=${REDACTED}` : pair;
    })
    .join('&');
  return `${u.protocol}//${u.host}${u.pathname}?${query}${u.hash}`;
}

/** key=value secrets in text that is not a whole URL (a bare query string, a log line). */
function redactQueryText(text: string): string {
  return text.replace(
    /\b(X-Amz-Signature|X-Amz-Security-Token|X-Amz-Credential|q-signature|q-ak|x-cos-security-token|Signature|sign|AWSAccessKeyId)=[^&\s"',;)]*/gi,
    `$1=${REDACTED}`,
  );
}

/** Redacts every secret inside a free text: URLs, authorization headers, tokens. */
export function redactText(text: string): string {
  if (!text) return text;
  // Punctuation that ends a URL in prose ("PUT (https://…)." ) stays outside it.
  let out = text.replace(/https?:\/\/[^\s"'<>]+/g, (m) => {
    const tail = /[).,;:\]}]*$/.exec(m)![0];
    return redactUrl(m.slice(0, m.length - tail.length)) + tail;
  });
  // SigV4 Authorization header: keep the scheme and signed headers, drop the credential scope and signature.
  out = out.replace(/(Credential=)[^,\s"&]+/g, `$1${REDACTED}`);
  out = out.replace(/(Signature=)[0-9a-fA-F]{16,}/g, `$1${REDACTED}`);
  // SigV2 header: "AWS AKID:base64sig".
  out = out.replace(/\bAWS [A-Z0-9]{16,128}:[A-Za-z0-9+/=]{20,}/g, `AWS ${REDACTED}`);
  // Session tokens in headers and JSON (KVS, the IoT credentials provider, STS).
  out = out.replace(/((?:x-amz-security-token|x-cos-security-token|security-token)\s*[:=]\s*)[^\s"',;&]+/gi, `$1${REDACTED}`);
  out = out.replace(
    /("(?:sessionToken|SessionToken|secretAccessKey|SecretAccessKey|accessKeyId|AccessKeyId|secretKey|token)"\s*:\s*")[^"]*"/g,
    `$1${REDACTED}"`,
  );
  return redactQueryText(out);
}

/** A deep copy of a JSON-like value with every string redacted; `keep` names keys whose values are deliverables. */
export function redactValue<T>(value: T, keep: ReadonlySet<string> = new Set()): T {
  const walk = (v: unknown, key?: string): unknown => {
    if (key !== undefined && keep.has(key)) return v;
    if (typeof v === 'string') return redactText(v);
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, walk(x, k)]));
    }
    return v;
  };
  return walk(value) as T;
}
