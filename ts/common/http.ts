/**
 * The few HTTP requests an upload makes (PUT a file range, POST the complete
 * XML, DELETE to abort) over keep-alive agents, and the mapping of S3 / COS
 * error responses to camwire codes. URLs in errors are redacted.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { CamwireError } from '../errors';
import { redactUrl } from './redact';

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 16 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 16 }),
};

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RequestSpec {
  method: 'PUT' | 'POST' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** A file range to stream as the body. */
  file?: { path: string; start: number; length: number; chunkSize?: number };
  body?: string;
  /** Bytes sent so far, for progress. */
  onBytes?: (n: number) => void;
  timeoutMs?: number;
  /** Cuts the request when aborted (it then rejects). */
  signal?: AbortSignal;
}

/** Default idle timeout: no byte either way for this long ends the request. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

/**
 * Sends one request; resolves with any HTTP status, rejects only on network
 * failure (an idle socket is ETIMEDOUT after `timeoutMs`, no byte either way).
 * Once the outcome is decided the request is finished or destroyed: a server
 * that answers early (a 403 before the body) and then stops reading does not
 * keep the socket, the file handle or the process.
 */
export function request(spec: RequestSpec): Promise<HttpResponse> {
  const u = new URL(spec.url);
  const isHttps = u.protocol === 'https:';
  const headers: Record<string, string> = { ...(spec.headers ?? {}) };
  const length = spec.file ? spec.file.length : Buffer.byteLength(spec.body ?? '');
  if (spec.method !== 'DELETE' || length > 0) headers['content-length'] = String(length);
  const idleMs = spec.timeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      // A body the server did not take (it answered first) is never finished:
      // the socket goes, instead of waiting on a peer that stopped reading.
      if (!req.writableFinished) req.destroy();
      f();
    };
    const req = (isHttps ? https : http).request(
      u,
      { method: spec.method, headers, agent: isHttps ? agents.https : agents.http, ...(spec.signal ? { signal: spec.signal } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          // Error and result bodies are small XML; never hold more than 1 MiB of one.
          if (size < 1 << 20) chunks.push(d);
          size += d.length;
        });
        res.on('end', () => settle(() => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') })));
        res.on('error', (e) => settle(() => reject(e)));
      },
    );
    req.setTimeout(idleMs, () =>
      req.destroy(Object.assign(new Error(`no byte either way for ${Math.round(idleMs / 100) / 10} s (idle timeout)`), { code: 'ETIMEDOUT' })),
    );
    req.on('error', (e) => settle(() => reject(e)));
    // The response may end before 'close'; a request closed without one is a network failure.
    req.on('close', () => settle(() => reject(Object.assign(new Error('the connection closed before a response'), { code: 'ECONNRESET' }))));
    if (spec.file && spec.file.length > 0) {
      writeFileRange(req, spec.file, spec.onBytes).catch((e: Error) => req.destroy(e));
    } else {
      req.end(spec.body ?? '');
    }
  });
}

/**
 * Streams a file range into the request with two reused buffers: one is read
 * from disk while the other is on its way to the socket. Measured here it
 * moves about 20% more than fs.createReadStream().pipe(req) and allocates
 * nothing per chunk. The file is closed however the request ends (a write
 * whose callback never comes because the request was destroyed included).
 */
async function writeFileRange(
  req: http.ClientRequest,
  f: { path: string; start: number; length: number; chunkSize?: number },
  onBytes?: (n: number) => void,
): Promise<void> {
  const chunk = Math.min(f.chunkSize ?? 2 * 1024 * 1024, f.length);
  const closed = new Promise<void>((resolve) => {
    if (req.destroyed) resolve();
    else req.once('close', () => resolve());
  });
  const fh = await fs.promises.open(f.path, 'r');
  try {
    const bufs = [Buffer.allocUnsafe(chunk), Buffer.allocUnsafe(chunk)];
    let inFlight: Promise<void> = Promise.resolve();
    for (let done = 0, i = 0; done < f.length; i++) {
      if (req.destroyed) return;
      const buf = bufs[i % 2]!;
      const { bytesRead } = await fh.read(buf, 0, Math.min(chunk, f.length - done), f.start + done);
      if (bytesRead === 0) throw new CamwireError('UPLOAD_FILE_CHANGED', `${f.path} ended at ${f.start + done} bytes; it shrank during the upload`);
      done += bytesRead;
      // The buffer written two rounds ago must be flushed before it is refilled next round.
      await Promise.race([inFlight, closed]);
      if (req.destroyed) return;
      const slice = buf.subarray(0, bytesRead);
      inFlight = new Promise<void>((resolve, reject) => req.write(slice, (e) => (e ? reject(e) : resolve())));
      inFlight.catch(() => undefined);
      onBytes?.(bytesRead);
    }
    await Promise.race([inFlight, closed]);
    if (!req.destroyed) req.end();
  } finally {
    await fh.close();
  }
}

/** `<Code>` and `<Message>` of an S3-style XML error body. */
export function s3Error(body: string): { code?: string; message?: string } {
  if (!/<Error[\s>]/.test(body)) return {};
  const get = (tag: string) => new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(body)?.[1]?.trim();
  const code = get('Code');
  const message = get('Message');
  return { ...(code ? { code } : {}), ...(message ? { message } : {}) };
}

/** Whether a failed response is worth another try with the same URL. */
export function retryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** The CamwireError for an HTTP failure of `what` (e.g. "part 3"). */
export function httpError(res: HttpResponse, url: string, what: string): CamwireError {
  const e = s3Error(res.body);
  const where = `${what} (${redactUrl(url)})`;
  const text = `${res.status}${e.code ? ` ${e.code}` : ''}${e.message ? `: ${e.message}` : ''}`;
  if (e.code === 'SignatureDoesNotMatch' || e.code === 'HeadersNotSigned') {
    return new CamwireError('UPLOAD_SIGNATURE_MISMATCH', `${where} was refused: ${text}`, {
      hint: 'send exactly the headers the target lists (a signed Content-Type must match byte for byte), or ask the back end for a fresh target',
    });
  }
  if ((e.code === 'AccessDenied' && /expired/i.test(e.message ?? '')) || /Request has expired/i.test(res.body)) {
    return new CamwireError('UPLOAD_EXPIRED', `${where}: the pre-signed URL has expired (${text})`, { hint: 'ask the back end for a fresh upload target' });
  }
  if (e.code === 'EntityTooSmall') {
    return new CamwireError('UPLOAD_PART_TOO_SMALL', `${where}: a part is below the store's minimum (${text})`, {
      hint: 'S3 needs parts of at least 5 MiB except the last (COS: 1 MB); ask for a larger partSize',
    });
  }
  if (e.code === 'BadDigest' || e.code === 'InvalidDigest' || e.code === 'XAmzContentChecksumMismatch') {
    return new CamwireError('UPLOAD_CHECKSUM_MISMATCH', `${where}: the store's checksum of the body differs from the one sent (${text})`, {
      hint: 'the file changed while it was read, or the target carries a wrong checksum',
    });
  }
  if (e.code === 'NoSuchUpload') {
    return new CamwireError('UPLOAD_NO_SUCH_UPLOAD', `${where}: the multipart upload no longer exists (${text})`, {
      hint: 'it was completed or aborted; ask the back end for a new target',
    });
  }
  return new CamwireError('UPLOAD_HTTP_ERROR', `${where} failed: ${text}`);
}
