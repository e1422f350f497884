/**
 * A local Kinesis Video Streams endpoint that speaks the documented protocol,
 * so the producer (and anyone's producer) can be tested with no AWS: it
 * checks SigV4 against configured credentials (403 otherwise), answers
 * GetDataEndpoint and PutMedia, parses the MKV body incrementally (in the
 * native core), stores each session's bytes and fragment index, streams
 * BUFFERING / RECEIVED / PERSISTED acks per fragment, and injects faults on
 * request. Listens on 127.0.0.1 only.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { CamwireError } from '../errors';
import { native, NativeMkvReader } from '../native';
import { signV4 } from '../common/sigv4';
import { HttpFaults } from './faults';
import { closeServer, listenLocal, readBody } from './server';

export interface LocalKvsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** Temporary credentials: the request must carry this x-amz-security-token, before expiration. */
  sessionToken?: string;
  expiration?: Date;
}

export interface LocalKvsFaults {
  /** Destroy the PutMedia connection after this many fragments were received (each session). */
  dropAfterFragments?: number;
  /** Send an ERROR ack with this id after this many fragments, then end the session. */
  errorAck?: { afterFragments: number; errorId: number; errorCode?: string; /** Only in these sessions (1-based); default every one. */ sessions?: number[] };
  /** Send no acks at all (a stale connection). */
  stallAcks?: boolean;
  /** Answer each PutMedia with 200 and end the response at once, with no acks (an endpoint or proxy that gives up silently). */
  answerWithoutAcks?: boolean;
  /** Answer the first n GetDataEndpoint calls with an endpoint where nothing listens. */
  deadDataEndpoint?: number;
  /**
   * ERROR acks for named fragments: the n-th distinct fragment of a stream
   * (1-based, by cluster timecode, counted across sessions) is answered
   * RECEIVED then ERROR the first time it arrives, and the session ends; sent
   * again, it is kept. `every: k` names every k-th fragment.
   */
  errorAcks?: { fragments?: number[]; every?: number; errorId?: number; errorCode?: string };
}

export interface LocalKvsOptions {
  /** Directory for stored sessions: DIR/<stream>/session-<n>.mkv and .json. */
  dir: string;
  credentials: LocalKvsCredentials[];
  region?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  faults?: LocalKvsFaults;
  /** Largest clock skew accepted in x-amz-date (default 5 minutes, as AWS). */
  maxSkewMs?: number;
  /**
   * The endpoint's clock runs this many ms ahead of the machine's (negative:
   * behind): signing times are judged by it and every answer's Date header
   * tells it, as a service whose clock disagrees with the camera's.
   */
  clockOffsetMs?: number;
  /** Serve HTTPS with this certificate and key (PEM) instead of HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Keep no bytes: no files, no frame list, only counts (benchmarks). */
  discard?: boolean;
}

export interface StoredFragment {
  timecode: number;
  frames: number;
  keyframes: number;
  bytes: number;
  /** Blocks of track 2 (audio). */
  audioFrames?: number;
}

export interface SessionRecord {
  stream: string;
  session: number;
  timecodeType: string;
  fragments: StoredFragment[];
  frameTimecodes: number[];
  endedBy: 'client' | 'fault-drop' | 'fault-error' | 'malformed' | 'aborted' | 'token-expired';
  /** Fragments acknowledged PERSISTED in this session. */
  persisted?: number;
  /** Frames and MKV bytes received in this session. */
  frames: number;
  bytes: number;
  /** Audio blocks (track 2) received in this session. */
  audioFrames?: number;
}

const EMPTY_SHA256 = crypto.createHash('sha256').update('').digest('hex');

export class LocalKvsEndpoint {
  private server: http.Server | https.Server | undefined;
  private sessionCounter = 0;
  /** GetDataEndpoint calls answered. */
  dataEndpointCalls = 0;
  private fragmentCounter = BigInt('91343852333181432511524306419788296366724229586');
  readonly sessions: SessionRecord[] = [];
  /** Requests refused for their signature (SigV4), with why. */
  readonly authFailures: Array<{ at: number; path: string; message: string }> = [];
  port = 0;
  /** Error answers given before the endpoint sees a request (e.g. 500 to the next PutMedia). */
  readonly httpFaults = new HttpFaults();
  /** The data endpoint GetDataEndpoint answers (default this.url; a FaultProxy in front sets its own). */
  publicUrl: string | undefined;

  private readonly credentials: LocalKvsCredentials[];
  private clockOffsetMs: number;
  private readonly seenFragments = new Map<string, Map<number, number>>();
  private readonly erroredFragments = new Set<string>();

  constructor(private readonly o: LocalKvsOptions) {
    if (!o.credentials.length) throw new CamwireError('KVS_BAD_OPTIONS', 'the local endpoint needs at least one credential pair');
    this.credentials = [...o.credentials];
    this.clockOffsetMs = o.clockOffsetMs ?? 0;
  }

  /** Accepts requests signed with these temporary credentials until they expire (the IoT credentials provider's). */
  addTemporaryCredentials(c: Required<LocalKvsCredentials>): void {
    this.credentials.push(c);
  }

  /** Where sessions are stored. */
  get dir(): string {
    return this.o.dir;
  }

  get url(): string {
    return `${this.o.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.o.dir, { recursive: true });
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (!this.httpFaults.answer(req, res)) this.route(req, res);
    };
    this.server = this.o.tls ? https.createServer({ cert: this.o.tls.cert, key: this.o.tls.key }, handler) : http.createServer(handler);
    this.port = await listenLocal(this.server, this.o.port ?? 0);
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }

  /** Moves the endpoint's clock (ms ahead of the machine's; negative: behind). */
  setClockOffset(ms: number): void {
    this.clockOffsetMs = ms;
  }

  /** The endpoint's own time. */
  private now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  /** The n-th distinct fragment of the stream (1-based), by cluster timecode. */
  private fragmentIndex(stream: string, timecode: number): number {
    let seen = this.seenFragments.get(stream);
    if (!seen) this.seenFragments.set(stream, (seen = new Map()));
    let n = seen.get(timecode);
    if (n === undefined) seen.set(timecode, (n = seen.size + 1));
    return n;
  }

  /** Whether the fault names this fragment for an ERROR ack now (once per fragment). */
  private namedError(stream: string, timecode: number): boolean {
    const f = this.o.faults?.errorAcks;
    if (!f) return false;
    const n = this.fragmentIndex(stream, timecode);
    const named = (f.fragments?.includes(n) ?? false) || (f.every !== undefined && f.every > 0 && n % f.every === 0);
    const key = `${stream}\u0000${timecode}`;
    if (!named || this.erroredFragments.has(key)) return false;
    this.erroredFragments.add(key);
    return true;
  }

  private route(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://local');
    if (req.method === 'POST' && url.pathname === '/getDataEndpoint') {
      readBody(req, 1 << 20).then(
        (body) => {
          if (!this.authorized(req, res, url, crypto.createHash('sha256').update(body).digest('hex'))) return;
          let streamName: unknown;
          try {
            streamName = (JSON.parse(body.toString()) as { StreamName?: unknown }).StreamName;
          } catch {
            streamName = undefined;
          }
          if (typeof streamName !== 'string' || !streamName) return this.json(res, 400, { message: 'StreamName is required' }, 'InvalidArgumentException');
          this.dataEndpointCalls++;
          const dead = this.dataEndpointCalls <= (this.o.faults?.deadDataEndpoint ?? 0);
          // Port 9 (discard) on 127.0.0.1: nothing listens there in a test machine.
          this.json(res, 200, { DataEndpoint: dead ? `${this.o.tls ? 'https' : 'http'}://127.0.0.1:9` : (this.publicUrl ?? this.url) });
        },
        () => res.destroy(),
      );
      return;
    }
    if (req.method === 'POST' && url.pathname === '/putMedia') {
      const cred = this.authorized(req, res, url, EMPTY_SHA256);
      if (!cred) {
        req.resume();
        return;
      }
      this.putMedia(req, res, cred);
      return;
    }
    this.json(res, 404, { message: `no route for ${req.method} ${url.pathname}` }, 'ResourceNotFoundException');
  }

  private putMedia(req: http.IncomingMessage, res: http.ServerResponse, cred: LocalKvsCredentials): void {
    const stream = String(req.headers['x-amzn-stream-name'] ?? '');
    const timecodeType = String(req.headers['x-amzn-fragment-timecode-type'] ?? '');
    // Not only dots: the name is a directory under dir.
    if (!/^[a-zA-Z0-9_.-]{1,256}$/.test(stream) || /^\.+$/.test(stream))
      return this.json(res, 400, { message: 'x-amzn-stream-name is required (1-256 of [a-zA-Z0-9_.-])' }, 'InvalidArgumentException');
    if (timecodeType !== 'ABSOLUTE' && timecodeType !== 'RELATIVE')
      return this.json(res, 400, { message: 'x-amzn-fragment-timecode-type must be ABSOLUTE or RELATIVE' }, 'InvalidArgumentException');
    const session = ++this.sessionCounter;
    const record: SessionRecord = { stream, session, timecodeType, fragments: [], frameTimecodes: [], endedBy: 'aborted', frames: 0, bytes: 0 };
    this.sessions.push(record);
    const dir = path.join(this.o.dir, stream);
    const discard = this.o.discard === true;
    if (!discard) fs.mkdirSync(dir, { recursive: true });
    // Written synchronously: a PERSISTED ack then means the bytes are in the file
    // (a stream's asynchronous writes could still be pending when the client,
    // told PERSISTED, reads the session back).
    let fd = discard ? undefined : fs.openSync(path.join(dir, `session-${session}.mkv`), 'w');
    const reader: NativeMkvReader = new (native().MkvReader)();
    const faults = this.o.faults ?? {};
    res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-requestid': crypto.randomUUID(), date: new Date(this.now()).toUTCString() });
    if (faults.answerWithoutAcks) {
      // The body is still read (and stored) as it comes; nothing is acknowledged.
      res.end();
    } else {
      res.flushHeaders();
    }
    let current: StoredFragment | undefined;
    let ended = false;
    const ack = (type: string, f: StoredFragment, extra: Record<string, unknown> = {}) => {
      if (faults.stallAcks || ended || res.writableEnded) return;
      this.fragmentCounter += 1n;
      res.write(JSON.stringify({ EventType: type, FragmentTimecode: f.timecode, FragmentNumber: this.fragmentCounter.toString(), ...extra }) + '\n');
    };
    const finish = (how: SessionRecord['endedBy']) => {
      if (ended) return;
      ended = true;
      if (expiry) clearTimeout(expiry);
      record.endedBy = how;
      if (!discard) fs.writeFileSync(path.join(dir, `session-${session}.json`), JSON.stringify(record, null, 2));
      if (fd !== undefined) fs.closeSync(fd);
      fd = undefined;
    };
    // As KVS: a session signed with temporary credentials ends when they expire.
    const expiry = cred.expiration
      ? setTimeout(
          () => {
            finish('token-expired');
            dropConnection();
          },
          Math.max(0, cred.expiration.getTime() - Date.now()),
        )
      : undefined;
    // A dropped connection: what was already written (the acks) is flushed
    // and the socket half-closed (FIN), then destroyed. Destroying it at once
    // would reset it with the acks unsent, a different fault than the one named.
    const dropConnection = () => {
      const socket = req.socket;
      req.pause();
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    };
    const closeFragment = () => {
      if (!current) return;
      ack('RECEIVED', current);
      ack('PERSISTED', current);
      record.persisted = (record.persisted ?? 0) + 1;
    };
    req.on('data', (chunk: Buffer) => {
      if (ended) return;
      if (fd !== undefined) fs.writeSync(fd, chunk);
      record.bytes += chunk.length;
      let events;
      try {
        events = reader.feed(chunk);
      } catch (e) {
        // Invalid MKV: an ERROR ack (4006) and the end of the session, as KVS does.
        const f = current ?? { timecode: 0, frames: 0, keyframes: 0, bytes: 0 };
        ack('ERROR', f, { ErrorId: 4006, ErrorCode: 'INVALID_MKV_DATA', Message: (e as Error).message });
        finish('malformed');
        res.end();
        return;
      }
      for (const ev of events) {
        if (ev.kind === 'cluster' && current && this.namedError(stream, current.timecode)) {
          ack('RECEIVED', current);
          ack('ERROR', current, { ErrorId: faults.errorAcks?.errorId ?? 5000, ErrorCode: faults.errorAcks?.errorCode ?? 'INJECTED' });
          finish('fault-error');
          res.end();
          return;
        }
        if (ev.kind === 'cluster') {
          // An ERROR ack takes the place of the fragment's PERSISTED, as KVS answers a fragment it could not keep.
          if (
            current &&
            faults.errorAck &&
            record.fragments.length >= faults.errorAck.afterFragments &&
            (!faults.errorAck.sessions || faults.errorAck.sessions.includes(session))
          ) {
            ack('RECEIVED', current);
            ack('ERROR', current, { ErrorId: faults.errorAck.errorId, ErrorCode: faults.errorAck.errorCode ?? 'INJECTED' });
            finish('fault-error');
            res.end();
            return;
          }
          closeFragment();
          if (current) {
            if (faults.dropAfterFragments !== undefined && record.fragments.length >= faults.dropAfterFragments) {
              finish('fault-drop');
              dropConnection();
              return;
            }
          }
          current = { timecode: ev.timecode, frames: 0, keyframes: 0, bytes: 0 };
          this.fragmentIndex(stream, ev.timecode);
          record.fragments.push(current);
          ack('BUFFERING', current);
        } else if (ev.kind === 'frame' && current && ev.track !== 1) {
          // Audio (track 2): counted apart; frames and frameTimecodes are the video's.
          current.audioFrames = (current.audioFrames ?? 0) + 1;
          record.audioFrames = (record.audioFrames ?? 0) + 1;
        } else if (ev.kind === 'frame' && current) {
          current.frames++;
          current.keyframes += ev.keyframe ? 1 : 0;
          current.bytes += ev.size;
          record.frames++;
          if (!discard) record.frameTimecodes.push(ev.timecode);
        }
      }
    });
    req.on('end', () => {
      if (ended) return;
      if (current && this.namedError(stream, current.timecode)) {
        ack('RECEIVED', current);
        ack('ERROR', current, { ErrorId: faults.errorAcks?.errorId ?? 5000, ErrorCode: faults.errorAcks?.errorCode ?? 'INJECTED' });
        finish('fault-error');
        res.end();
        return;
      }
      closeFragment();
      finish('client');
      res.end();
    });
    req.on('aborted', () => finish('aborted'));
    req.on('error', () => finish('aborted'));
  }

  /** Verifies the SigV4 Authorization header; answers 403 and returns undefined when it does not match. */
  private authorized(req: http.IncomingMessage, res: http.ServerResponse, url: URL, payloadSha256: string): LocalKvsCredentials | undefined {
    const deny = (message: string, errorType = 'NotAuthorizedException') => {
      this.authFailures.push({ at: Date.now(), path: url.pathname, message });
      this.json(res, 403, { message }, errorType);
      return undefined;
    };
    const auth = String(req.headers['authorization'] ?? '');
    const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
      auth,
    );
    if (!m) return deny('Missing or malformed Authorization header (AWS4-HMAC-SHA256 expected)');
    const [, akid, , region, service, signedHeaders, signature] = m;
    const cred = this.credentials.find((c) => c.accessKeyId === akid);
    if (!cred) return deny('The security token included in the request is invalid.');
    if (cred.sessionToken !== undefined) {
      if (req.headers['x-amz-security-token'] !== cred.sessionToken) return deny('The security token included in the request is invalid.');
      if (cred.expiration && cred.expiration.getTime() <= Date.now()) return deny('The security token included in the request is expired');
    }
    if (service !== 'kinesisvideo') return deny(`Credential should be scoped to correct service: 'kinesisvideo'.`);
    if (this.o.region && region !== this.o.region) return deny(`Credential should be scoped to a valid region: '${this.o.region}'.`);
    const amzDate = String(req.headers['x-amz-date'] ?? '');
    const d = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
    if (!d) return deny('x-amz-date is missing or malformed');
    const when = Date.UTC(+d[1]!, +d[2]! - 1, +d[3]!, +d[4]!, +d[5]!, +d[6]!);
    // AWS's words for a signing time outside the window, judged by this endpoint's clock.
    const now = this.now();
    const window = this.o.maxSkewMs ?? 300_000;
    const amz = (t: number) =>
      new Date(t)
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d{3}/, '');
    const minutes = `${Math.round(window / 60_000)} min.`;
    if (when < now - window)
      return deny(`Signature expired: ${amzDate} is now earlier than ${amz(now - window)} (${amz(now)} - ${minutes})`, 'InvalidSignatureException');
    if (when > now + window)
      return deny(`Signature not yet current: ${amzDate} is still later than ${amz(now + window)} (${amz(now)} + ${minutes})`, 'InvalidSignatureException');
    const headers: Array<[string, string]> = [];
    for (const name of signedHeaders!.split(';')) {
      const v = req.headers[name];
      if (v === undefined) return deny(`Signed header ${name} is missing`);
      headers.push([name, Array.isArray(v) ? v.join(',') : v]);
    }
    const ours = signV4({
      method: req.method ?? 'POST',
      path: url.pathname,
      query: [...url.searchParams.entries()],
      headers,
      payloadSha256,
      accessKeyId: cred.accessKeyId,
      secretAccessKey: cred.secretAccessKey,
      region: region!,
      service: service!,
      amzDate,
    });
    if (!crypto.timingSafeEqual(Buffer.from(ours.signature), Buffer.from(signature!))) {
      return deny('The request signature we calculated does not match the signature you provided.');
    }
    return cred;
  }

  private json(res: http.ServerResponse, status: number, body: unknown, errorType?: string): void {
    res.writeHead(status, {
      'content-type': 'application/json',
      date: new Date(this.now()).toUTCString(),
      ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
      'x-amzn-requestid': crypto.randomUUID(),
    });
    res.end(JSON.stringify(body));
  }
}
