/**
 * Executes an upload target for one file: a streamed single PUT, or a
 * multipart upload with N parts in flight, retries with backoff, a journal
 * that makes a re-run send only the missing parts, CompleteMultipartUpload
 * (its body parsed even on 200) and AbortMultipartUpload on a fatal error.
 */
import { EventEmitter } from 'node:events';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { CamwireError } from '../errors';
import { FullJitterBackoff } from '../common/backoff';
import { targetExpiry } from './expiry';
import { DEFAULT_IDLE_TIMEOUT_MS, httpError, request, retryable, s3Error, HttpResponse, RequestSpec } from '../common/http';
import { UploadJournal } from './journal';
import { redactText, redactUrl } from './redact';
import { putUrlTarget, PutUrlOptions } from './put-url';
import { UploadTarget } from '../common/upload-target';
import { UploadResult } from '../common/upload-result';

export type { UploadResult } from '../common/upload-result';

/** How long one request is retried by default (five minutes). */
export const DEFAULT_RETRY_FOR_MS = 300_000;

export interface UploadOptions {
  /** Parts in flight (default 4). */
  concurrency?: number;
  /**
   * How long to keep retrying one request on network errors, idle timeouts,
   * 5xx, 408 and 429, in ms (default 300000: five minutes, the outages of a
   * camera on Wi-Fi or LTE). Never past the target's expiry, which is checked
   * before every attempt. `Infinity`: until the target expires (one hour for
   * a target whose expiry is not in its URLs).
   */
  retryForMs?: number;
  /** At most this many attempts per request as well (default: no limit but the time). */
  attempts?: number;
  /** Full-jitter backoff between attempts (default base 250 ms, cap 8000 ms). */
  backoff?: { baseMs?: number; capMs?: number };
  /** A request with no byte either way for this long is cut and retried (default 30000 ms). */
  idleTimeoutMs?: number;
  /** Directory of the journal; without it a re-run starts over. */
  journalDir?: string;
  /** Keep uploaded parts after a fatal error instead of aborting (default false). */
  keepParts?: boolean;
  thing?: string;
  source?: string;
  /**
   * Stops every upload at once (a shutdown): requests in flight are cut, the
   * upload rejects with UPLOAD_ABORTED, and the journal keeps the parts that
   * were confirmed, so the same target later sends only the rest.
   */
  signal?: AbortSignal;
}

export interface UploadProgress {
  bytes: number;
  totalBytes: number;
  partsDone: number;
  parts: number;
  bytesPerSecond: number;
}

export interface UploaderEvents {
  progress: [p: UploadProgress];
  /** A request failed and will be tried again. */
  retry: [info: { what: string; attempt: number; delayMs: number; error: string }];
  /** Parts already in the journal that are not sent again. */
  resumed: [info: { parts: number[] }];
}

/** The result's shareUrl/shareExpiresAt from the target's share. */
export function shareOf(target: UploadTarget): Pick<UploadResult, 'shareUrl' | 'shareExpiresAt'> {
  if (!target.share) return {};
  return { shareUrl: target.share.url, ...(target.share.expiresAt ? { shareExpiresAt: target.share.expiresAt } : {}) };
}

export class Uploader extends EventEmitter<UploaderEvents> {
  private readonly journal: UploadJournal | undefined;
  /** Requests sent, for tests and the CLI summary. */
  requests = 0;

  constructor(private readonly o: UploadOptions = {}) {
    super();
    this.journal = o.journalDir ? new UploadJournal(o.journalDir) : undefined;
  }

  /**
   * Uploads `file` to `target`: an upload target, or a bare pre-signed PUT URL
   * (see putUrlTarget for the headers and content type it sends). Resolves
   * with the result; rejects with a CamwireError.
   */
  async upload(file: string, target: UploadTarget | string, put: Omit<PutUrlOptions, 'file'> = {}): Promise<UploadResult> {
    if (typeof target === 'string') return this.upload(file, putUrlTarget(target, { ...put, file }));
    const startedAt = new Date().toISOString();
    const done = this.journal?.get(target.id);
    if (done?.result) return done.result as UploadResult; // one job per id: publish the result again

    const expiry = targetExpiry(target);
    if (expiry && expiry.getTime() <= Date.now()) {
      throw new CamwireError('UPLOAD_EXPIRED', `upload target ${target.id} expired at ${expiry.toISOString()}; nothing was sent`, {
        hint: 'ask the back end for a fresh upload target',
      });
    }
    let st: fs.Stats;
    try {
      st = fs.statSync(file);
    } catch (e) {
      throw new CamwireError('UPLOAD_FILE_NOT_FOUND', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code}`, { cause: e });
    }
    if (!st.isFile()) throw new CamwireError('UPLOAD_FILE_NOT_FOUND', `${file} is not a regular file`);

    const hashing = st.size <= INLINE_HASH_MAX ? digestFile(file, 'sha256', 'hex') : sha256File(file);
    hashing.catch(() => undefined);
    let etag: string | undefined;
    let parts = 1;
    if (target.put) {
      etag = await this.singlePut(file, st.size, target);
    } else {
      ({ etag, parts } = await this.multipart(file, st, target));
    }
    const result: UploadResult = {
      version: 1,
      id: target.id,
      ...(this.o.thing ? { thing: this.o.thing } : {}),
      status: 'uploaded',
      ...(target.objectUrl ? { objectUrl: target.objectUrl } : {}),
      bytes: st.size,
      sha256: await hashing,
      ...(etag ? { etag } : {}),
      ...(target.contentType ? { contentType: target.contentType } : {}),
      parts,
      ...(this.o.source ? { source: this.o.source } : {}),
      startedAt,
      completedAt: new Date().toISOString(),
      ...shareOf(target),
    };
    this.journal?.put({ id: target.id, file: { size: st.size, mtimeMs: st.mtimeMs }, parts: {}, result });
    return result;
  }

  private async singlePut(file: string, size: number, target: UploadTarget): Promise<string | undefined> {
    const put = target.put!;
    const headers = await fillChecksums(file, put.headers ?? {});
    const progress = this.progressTracker(size, 1);
    const res = await this.withRetries(
      'PUT',
      () => ({ method: 'PUT', url: put.url, headers, file: { path: file, start: 0, length: size, chunkSize: 4 * 1024 * 1024 }, onBytes: progress.bytes }),
      target,
    );
    if (res.status < 200 || res.status >= 300) throw httpError(res, put.url, 'PUT');
    progress.partDone();
    return header(res, 'etag');
  }

  private async multipart(file: string, st: fs.Stats, target: UploadTarget): Promise<{ etag?: string; parts: number }> {
    const mp = target.multipart!;
    const needed = Math.max(1, Math.ceil(st.size / mp.partSize));
    if (needed !== mp.parts.length) {
      throw new CamwireError(
        'UPLOAD_TARGET_INVALID',
        `the target has ${mp.parts.length} part URL(s) of ${mp.partSize} bytes, but ${file} (${st.size} bytes) needs ${needed}`,
        { hint: "presign the target for this file's size" },
      );
    }
    let entry = this.journal?.get(target.id);
    if (entry && (entry.file.size !== st.size || entry.file.mtimeMs !== st.mtimeMs)) entry = undefined; // the file changed: start over
    const etags = new Map<number, string>(Object.entries(entry?.parts ?? {}).map(([k, v]) => [Number(k), v]));
    if (etags.size) this.emit('resumed', { parts: [...etags.keys()].sort((a, b) => a - b) });
    const save = () => this.journal?.put({ id: target.id, file: { size: st.size, mtimeMs: st.mtimeMs }, parts: Object.fromEntries(etags) });
    save();

    const progress = this.progressTracker(st.size, mp.parts.length);
    for (const n of etags.keys()) progress.resumedPart(partLength(n, mp.partSize, st.size));
    const pending = mp.parts.filter((p) => !etags.has(p.partNumber));
    let failure: CamwireError | undefined;
    const lane = async () => {
      for (let p = pending.shift(); p && !failure; p = pending.shift()) {
        const part = p;
        const length = partLength(part.partNumber, mp.partSize, st.size);
        try {
          const res = await this.withRetries(
            `part ${part.partNumber}`,
            () => ({ method: 'PUT', url: part.url, file: { path: file, start: (part.partNumber - 1) * mp.partSize, length }, onBytes: progress.bytes }),
            target,
          );
          if (res.status < 200 || res.status >= 300) throw httpError(res, part.url, `part ${part.partNumber}`);
          const tag = header(res, 'etag');
          if (!tag)
            throw new CamwireError('UPLOAD_HTTP_ERROR', `part ${part.partNumber} was stored but the response has no ETag`, {
              hint: 'a browser-style proxy may strip it; camwire needs it for CompleteMultipartUpload',
            });
          etags.set(part.partNumber, tag);
          save();
          progress.partDone();
        } catch (e) {
          failure ??= e instanceof CamwireError ? e : new CamwireError('UPLOAD_NETWORK', String(e), { cause: e });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency ?? 4, Math.max(1, pending.length)) }, lane));
    if (failure) {
      await this.abortIfFatal(target, failure);
      throw failure;
    }
    const xml =
      '<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      [...etags.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([n, tag]) => `<Part><PartNumber>${n}</PartNumber><ETag>${xmlEscape(quote(tag))}</ETag></Part>`)
        .join('') +
      '</CompleteMultipartUpload>';
    const res = await this.withRetries(
      'CompleteMultipartUpload',
      () => ({ method: 'POST', url: mp.completeUrl, headers: { 'content-type': 'application/xml' }, body: xml }),
      target,
    );
    // S3 can answer 200 and put an <Error> in the body.
    const inner = s3Error(res.body);
    if (res.status < 200 || res.status >= 300 || inner.code) {
      const err = httpError(res, mp.completeUrl, 'CompleteMultipartUpload');
      await this.abortIfFatal(target, err);
      throw err;
    }
    const finalTag = /<ETag>([\s\S]*?)<\/ETag>/
      .exec(res.body)?.[1]
      ?.replace(/&quot;/g, '"')
      .replace(/&#34;/g, '"');
    return { ...(finalTag ? { etag: finalTag } : {}), parts: mp.parts.length };
  }

  /** Fatal errors abort the multipart upload (unless keepParts); transient ones keep it for a re-run. */
  private async abortIfFatal(target: UploadTarget, err: CamwireError): Promise<void> {
    const url = target.multipart?.abortUrl;
    if (!url || this.o.keepParts || err.code === 'UPLOAD_NETWORK' || err.code === 'UPLOAD_EXPIRED' || err.code === 'UPLOAD_ABORTED') return;
    try {
      this.requests++;
      await request({ method: 'DELETE', url, timeoutMs: this.o.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS });
      this.journal?.remove(target.id);
    } catch {
      // Best effort: a lifecycle rule cleans up what an abort could not.
    }
  }

  /**
   * Sends a request, retrying network errors, idle timeouts and 5xx/408/429
   * with full-jitter backoff for up to retryForMs (and attempts, if set),
   * never past the target's expiry.
   */
  private async withRetries(what: string, spec: () => RequestSpec, target: UploadTarget): Promise<HttpResponse> {
    const budgetMs = this.o.retryForMs ?? DEFAULT_RETRY_FOR_MS;
    const maxAttempts = this.o.attempts ?? Infinity;
    const idleMs = this.o.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    const backoff = new FullJitterBackoff({ baseMs: this.o.backoff?.baseMs ?? 250, capMs: this.o.backoff?.capMs ?? 8000 });
    const expiry = targetExpiry(target)?.getTime();
    const started = Date.now();
    // "Until it expires" for a target whose expiry camwire cannot read: an hour.
    const deadline = started + (budgetMs === Infinity && expiry === undefined ? 3_600_000 : budgetMs);
    const signal = this.o.signal;
    const aborted = () => new CamwireError('UPLOAD_ABORTED', `${what} was stopped (shutting down); the journal keeps the confirmed parts for the next run`);
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw aborted();
      if (expiry !== undefined && Date.now() >= expiry) {
        throw new CamwireError(
          'UPLOAD_EXPIRED',
          `${what}: upload target ${target.id} expired at ${new Date(expiry).toISOString()} after ${attempt - 1} attempt(s)`,
          { hint: 'ask the back end for a fresh upload target; re-running with it resumes from the journal only if it is the same multipart upload' },
        );
      }
      const s = spec();
      let res: HttpResponse | undefined;
      let netErr: Error | undefined;
      try {
        this.requests++;
        res = await request({ timeoutMs: idleMs, ...s, ...(signal ? { signal } : {}) });
      } catch (e) {
        netErr = e as Error;
      }
      // A response that arrived is kept even when the stop came meanwhile (a
      // completed CompleteMultipartUpload must become a result, not a checkpoint).
      if (!res && signal?.aborted) throw aborted();
      if (res && !retryable(res.status)) return res;
      const why = res ? `HTTP ${res.status}` : redactText(`${(netErr as NodeJS.ErrnoException).code ?? ''} ${netErr!.message}`.trim());
      const delayMs = backoff.next();
      const wakeAt = Date.now() + delayMs;
      if (attempt >= maxAttempts || wakeAt > deadline || (expiry !== undefined && wakeAt >= expiry)) {
        if (res) return res;
        const spent = `${attempt} attempt(s) in ${((Date.now() - started) / 1000).toFixed(1)} s`;
        let limit = `${spent} (retrying for at most ${Math.round(budgetMs / 1000)} s)`;
        if (attempt >= maxAttempts) limit = `${attempt} attempt(s), the limit`;
        else if (expiry !== undefined && wakeAt >= expiry && wakeAt <= deadline) limit = `${spent}, until the target expires`;
        throw new CamwireError('UPLOAD_NETWORK', `${what} (${redactUrl(s.url)}) failed after ${limit}; last: ${why}`, {
          cause: netErr,
          hint: 'check the network and the store (--retry-for sets how long to keep trying); re-running the same target resumes from the journal',
        });
      }
      this.emit('retry', { what, attempt, delayMs, error: why });
      await new Promise<void>((r) => {
        const wake = () => {
          clearTimeout(timer);
          r();
        };
        const timer = setTimeout(() => {
          signal?.removeEventListener('abort', wake);
          r();
        }, delayMs);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
  }

  private progressTracker(totalBytes: number, parts: number) {
    const t0 = Date.now();
    let sent = 0;
    let confirmed = 0;
    let partsDone = 0;
    let last = 0;
    const emit = (force: boolean) => {
      const now = Date.now();
      if (!force && now - last < 200) return;
      last = now;
      const bytes = Math.min(totalBytes, Math.max(confirmed, sent));
      this.emit('progress', { bytes, totalBytes, partsDone, parts, bytesPerSecond: Math.round(sent / Math.max(0.001, (now - t0) / 1000)) });
    };
    return {
      bytes: (n: number) => {
        sent += n;
        emit(false);
      },
      resumedPart: (n: number) => {
        confirmed += n;
        sent += n;
        partsDone++;
      },
      partDone: () => {
        partsDone++;
        emit(true);
      },
    };
  }
}

/**
 * A target asks for an integrity header by listing it with an empty value:
 * `content-md5` or `x-amz-checksum-sha256` are then computed from the file
 * (one extra read) so the store verifies the body. Nothing is added otherwise.
 */
async function fillChecksums(file: string, given: Record<string, string>): Promise<Record<string, string>> {
  const headers = { ...given };
  for (const [name, value] of Object.entries(given)) {
    if (value !== '') continue;
    const lower = name.toLowerCase();
    if (lower === 'content-md5') headers[name] = await digestFile(file, 'md5', 'base64');
    else if (lower === 'x-amz-checksum-sha256') headers[name] = await digestFile(file, 'sha256', 'base64');
    else
      throw new CamwireError(
        'UPLOAD_TARGET_INVALID',
        `put.headers.${name} is empty; only content-md5 and x-amz-checksum-sha256 may be left for camwire to compute`,
      );
  }
  return headers;
}

function partLength(partNumber: number, partSize: number, size: number): number {
  return Math.max(0, Math.min(partSize, size - (partNumber - 1) * partSize));
}

function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function quote(tag: string): string {
  return tag.startsWith('"') ? tag : `"${tag}"`;
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function digestFile(file: string, algorithm: 'md5' | 'sha256', encoding: 'hex' | 'base64'): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = crypto.createHash(algorithm);
    fs.createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest(encoding)));
  });
}

/**
 * Files up to this size are hashed on the JS thread (a few ms at most): a
 * worker thread costs a V8 isolate, some 30-50 ms of CPU to start, which is
 * most of the work of uploading a photo (measured in `fleet run --uploads`:
 * 100 uploads/s of 64 KiB kept both cores busy with worker start-ups).
 */
const INLINE_HASH_MAX = 4 * 1024 * 1024;

/**
 * The result's sha256 of a larger file, computed on a worker thread so
 * hashing runs beside the upload on another core instead of taking turns
 * with it on the JS thread.
 */
function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const w = new Worker(HASH_WORKER, { eval: true, workerData: { file } });
    w.once('message', (hex: string) => resolve(hex));
    w.once('error', reject);
    w.once('exit', (code) => {
      if (code !== 0) reject(new CamwireError('UPLOAD_FILE_NOT_FOUND', `hashing ${file} failed (worker exit ${code})`));
    });
  });
}

const HASH_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const crypto = require('node:crypto');
const fs = require('node:fs');
const h = crypto.createHash('sha256');
const fd = fs.openSync(workerData.file, 'r');
const buf = Buffer.allocUnsafe(1 << 20);
for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
fs.closeSync(fd);
parentPort.postMessage(h.digest('hex'));
`;
