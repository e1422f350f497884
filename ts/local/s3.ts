/**
 * A small S3-compatible object store on 127.0.0.1 for `camwire demo` and
 * tests: path-style buckets on a directory, with the requests a camera and
 * its back end make (PutObject, the multipart calls, GetObject with Range,
 * HeadObject, DeleteObject, ListObjects(V2), ListBuckets) and, unlike the
 * embeddable stores on npm, real SigV4 checks: pre-signed URLs (query
 * signature, X-Amz-Expires enforced) and Authorization headers (so the aws
 * CLI works), verified with camwire's own signer (the one tested against the
 * AWS test vectors), payload hashes, Content-MD5 and the x-amz-checksum-*
 * headers checked (a mismatch stores nothing), SigV2 refused as S3 refuses it
 * in V4-only regions, parts below the minimum size refused as S3 does. Errors
 * are S3's XML errors.
 */
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { CamwireError } from '../errors';
import { BodyDigests, Checksum, ChecksumAlgorithm, ChecksumRefused, CHECKSUM_ALGORITHMS, checksumHeader, parseChecksumAlgorithm } from './s3-checksums';
import { HttpFaults } from './faults';
import { closeServer, listenLocal, readBody } from './server';
import { signV4 } from '../common/sigv4';

export interface LocalS3Options {
  /** Where objects, parts and uploads are kept. */
  dir: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  region?: string;
  /** Buckets that exist from the start. */
  buckets?: string[];
  /** 0 (default) picks a free port. */
  port?: number;
  /** Smallest part but the last (default 5 MiB, as S3). */
  minPartSize?: number;
}

/** One request the store answered (for timelines and tests). */
export interface LocalS3Request {
  method: string;
  operation: string;
  bucket?: string;
  key?: string;
  status: number;
  /** Body bytes received. */
  bytes: number;
  code?: string;
  /** UploadPart's part number. */
  partNumber?: number;
}

interface ObjectMeta {
  key: string;
  size: number;
  etag: string;
  contentType: string;
  lastModified: string;
  sha256: string;
  checksum?: Checksum;
}
/** On disk: the metadata names its own data file, so replacing an object is one atomic rename of the metadata. */
interface StoredMeta extends ObjectMeta {
  data: string;
}
interface UploadMeta {
  bucket: string;
  key: string;
  contentType: string;
  initiated: string;
  checksumAlgorithm?: ChecksumAlgorithm;
}

class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const MAX_XML_BODY = 4 << 20;
const BUCKET_NAME = /^(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const xmlEscape = (s: string) => s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
const sha = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

export interface LocalS3Events {
  /** Every request, after it was answered. */
  request: [record: LocalS3Request];
}

export class LocalS3Store extends EventEmitter<LocalS3Events> {
  private server: http.Server | undefined;
  port = 0;
  private readonly region: string;
  /** Error answers given before the store sees a request (e.g. the next 3 PUTs get 503). */
  readonly faults = new HttpFaults();

  constructor(private readonly o: LocalS3Options) {
    super();
    this.region = o.region ?? 'us-east-1';
    for (const b of o.buckets ?? []) this.createBucket(b);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    fs.mkdirSync(path.join(this.o.dir, 'uploads'), { recursive: true });
    fs.mkdirSync(path.join(this.o.dir, 'tmp'), { recursive: true });
    this.server = http.createServer((req, res) => {
      if (this.faults.answer(req, res)) {
        // The path's key, when it parses: timelines tell which object's request was refused.
        const key = /^\/[^/?]+\/([^?]+)/.exec(req.url ?? '')?.[1];
        let decoded: string | undefined;
        try {
          decoded = key ? decodeURIComponent(key) : undefined;
        } catch {
          decoded = undefined;
        }
        res.once('finish', () =>
          this.emit('request', { method: req.method ?? '', operation: 'Fault', status: res.statusCode, bytes: 0, ...(decoded ? { key: decoded } : {}) }),
        );
        return;
      }
      this.handle(req, res).catch(() => res.destroy()); // handle() answers every error itself; this is the last resort
    });
    this.port = await listenLocal(this.server, this.o.port ?? 0);
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }

  createBucket(name: string): void {
    if (!BUCKET_NAME.test(name)) throw new CamwireError('S3_BAD_BUCKET', `"${name}" is not a valid bucket name`);
    fs.mkdirSync(this.bucketDir(name), { recursive: true });
  }

  /** The stored object's metadata and file, or undefined. */
  object(bucket: string, key: string): (ObjectMeta & { file: string }) | undefined {
    try {
      const { data, ...meta } = JSON.parse(fs.readFileSync(`${this.objectBase(bucket, key)}.json`, 'utf8')) as StoredMeta;
      return { ...meta, file: path.join(this.bucketDir(bucket), path.basename(data)) };
    } catch {
      return undefined;
    }
  }

  private bucketDir(bucket: string): string {
    return path.join(this.o.dir, 'buckets', bucket);
  }

  private objectBase(bucket: string, key: string): string {
    return path.join(this.bucketDir(bucket), sha(key));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const record: LocalS3Request = { method: req.method ?? '', operation: '', status: 200, bytes: 0 };
    let key: string | undefined;
    try {
      const url = new URL(req.url ?? '/', 'http://local');
      const segments = url.pathname.split('/').slice(1);
      let bucket: string | undefined;
      try {
        bucket = segments[0] ? decodeURIComponent(segments[0]) : undefined;
        key = segments.length > 1 ? segments.slice(1).map(decodeURIComponent).join('/') : undefined;
      } catch {
        throw new S3Error(400, 'InvalidURI', "Couldn't parse the specified URI.");
      }
      if (bucket) record.bucket = bucket;
      if (key) record.key = key;
      const q = url.searchParams;
      record.operation = operation(req.method ?? '', bucket, key, q, req.headers);
      if (record.operation === 'UploadPart') record.partNumber = Number(q.get('partNumber'));
      const payloadHash = this.authenticate(req, url, bucket, key);
      await this.dispatch(record, req, res, bucket, key, q, payloadHash);
      record.status = res.statusCode;
    } catch (e) {
      const err =
        e instanceof S3Error ? e : e instanceof ChecksumRefused ? new S3Error(400, e.code, e.message) : new S3Error(500, 'InternalError', (e as Error).message);
      record.status = err.status;
      record.code = err.code;
      req.resume();
      if (!res.headersSent) {
        const body =
          `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${err.code}</Code><Message>${xmlEscape(err.message)}</Message>` +
          `${key ? `<Key>${xmlEscape(key)}</Key>` : ''}<RequestId>${crypto.randomBytes(8).toString('hex')}</RequestId></Error>`;
        res.writeHead(err.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), connection: 'close' });
        res.end(req.method === 'HEAD' ? undefined : body);
      } else {
        res.destroy();
      }
    }
    this.emit('request', record);
  }

  /**
   * Checks the SigV4 signature (query or header) and returns the payload hash
   * the request promised (UNSIGNED-PAYLOAD or a hex SHA-256 to check).
   */
  private authenticate(req: http.IncomingMessage, url: URL, bucket: string | undefined, key: string | undefined): string {
    const q = url.searchParams;
    // SigV2 (AWS CLI v1's `aws s3 presign`, old SDKs): S3's answer in the regions that take SigV4 only (all opened since 2014),
    // then camwire's hint, in the message so the aws CLI and the SDKs show it.
    if ((q.has('AWSAccessKeyId') && q.has('Signature')) || /^AWS [^\s:]+:/.test(String(req.headers['authorization'] ?? ''))) {
      const b = bucket ?? 'BUCKET';
      const k = key ?? 'KEY';
      throw new S3Error(
        400,
        'InvalidRequest',
        'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256. ' +
          `(camwire: this store takes SigV4 only, as S3 does in its newer regions. Presign with \`aws s3 presign s3://${b}/${k} --region ${this.region}\` on AWS CLI v2; ` +
          `on AWS CLI v1 run \`aws configure set default.s3.signature_version s3v4\` first; ` +
          `or \`camwire presign put --endpoint ${this.url} --region ${this.region} --bucket ${b} --key ${k}\`.)`,
      );
    }
    let credential: string, amzDate: string, signedHeaders: string, signature: string, payloadHash: string;
    const query: Array<[string, string]> = [];
    if (q.has('X-Amz-Signature') || q.has('X-Amz-Algorithm')) {
      if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256')
        throw new S3Error(400, 'AuthorizationQueryParametersError', 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
      credential = q.get('X-Amz-Credential') ?? '';
      amzDate = q.get('X-Amz-Date') ?? '';
      signedHeaders = q.get('X-Amz-SignedHeaders') ?? '';
      signature = q.get('X-Amz-Signature') ?? '';
      const expires = Number(q.get('X-Amz-Expires'));
      if (!Number.isInteger(expires) || expires < 1 || expires > 604800)
        throw new S3Error(400, 'AuthorizationQueryParametersError', 'X-Amz-Expires must be 1 to 604800 seconds');
      const when = parseAmzDate(amzDate);
      if (when > Date.now() + 15 * 60_000) throw new S3Error(403, 'AccessDenied', 'Request is not valid yet');
      if (Date.now() > when + expires * 1000) throw new S3Error(403, 'AccessDenied', 'Request has expired');
      for (const [k, v] of q) if (k !== 'X-Amz-Signature') query.push([k, v]);
      payloadHash = 'UNSIGNED-PAYLOAD';
    } else {
      const auth = String(req.headers['authorization'] ?? '');
      if (!auth) throw new S3Error(403, 'AccessDenied', 'Access Denied (anonymous requests are not allowed)');
      const m = /^AWS4-HMAC-SHA256 Credential=([^,\s]+), ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
      if (!m) throw new S3Error(400, 'InvalidArgument', 'Unsupported Authorization header (AWS4-HMAC-SHA256 expected)');
      [, credential, signedHeaders, signature] = m as unknown as [string, string, string, string];
      amzDate = String(req.headers['x-amz-date'] ?? '');
      const when = parseAmzDate(amzDate);
      if (Math.abs(Date.now() - when) > 15 * 60_000)
        throw new S3Error(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.');
      payloadHash = String(req.headers['x-amz-content-sha256'] ?? '');
      if (!/^(UNSIGNED-PAYLOAD|[0-9a-f]{64})$/.test(payloadHash))
        throw new S3Error(400, 'InvalidRequest', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD or the hex SHA-256 of the body');
      for (const [k, v] of q) query.push([k, v]);
    }
    const c = /^([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request$/.exec(credential);
    if (!c)
      throw new S3Error(
        400,
        'AuthorizationHeaderMalformed',
        `the credential "${credential.split('/')[0]}/..." is not scoped to s3 (ACCESS_KEY/DATE/REGION/s3/aws4_request)`,
      );
    const [, akid, day, region] = c as unknown as [string, string, string, string];
    if (akid !== this.o.credentials.accessKeyId)
      throw new S3Error(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
    if (region !== this.region) throw new S3Error(400, 'AuthorizationHeaderMalformed', `the region '${region}' is wrong; expecting '${this.region}'`);
    if (!amzDate.startsWith(day)) throw new S3Error(403, 'SignatureDoesNotMatch', 'the credential date does not match X-Amz-Date');
    const headers: Array<[string, string]> = [];
    for (const name of signedHeaders.split(';')) {
      const v = req.headers[name];
      if (v === undefined) throw new S3Error(403, 'SignatureDoesNotMatch', `the signed header ${name} is missing from the request`);
      headers.push([name, Array.isArray(v) ? v.join(',') : v]);
    }
    const rawPath = url.pathname.split('/').map(decodeURIComponent).join('/');
    const ours = signV4({
      method: req.method ?? 'GET',
      path: rawPath,
      query,
      headers,
      payloadSha256: payloadHash,
      accessKeyId: this.o.credentials.accessKeyId,
      secretAccessKey: this.o.credentials.secretAccessKey,
      region,
      service: 's3',
      amzDate,
      normalizePath: false,
      doubleEncodePath: false,
    });
    if (signature.length !== ours.signature.length || !crypto.timingSafeEqual(Buffer.from(ours.signature), Buffer.from(signature))) {
      throw new S3Error(
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      );
    }
    return payloadHash;
  }

  private async dispatch(
    record: LocalS3Request,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    bucket: string | undefined,
    key: string | undefined,
    q: URLSearchParams,
    payloadHash: string,
  ): Promise<void> {
    if (record.operation === 'ListBuckets') return this.listBuckets(res);
    // A bucket name is a directory name here: only S3's bucket names ("..", "a/b" never reach the disk).
    if (!bucket || !BUCKET_NAME.test(bucket)) throw new S3Error(400, 'InvalidBucketName', 'The specified bucket is not valid.');
    if (!fs.existsSync(this.bucketDir(bucket))) {
      if (record.operation === 'CreateBucket') {
        this.createBucket(bucket!);
        res.writeHead(200, { location: `/${bucket}` }).end();
        return;
      }
      throw new S3Error(404, 'NoSuchBucket', 'The specified bucket does not exist');
    }
    switch (record.operation) {
      case 'CreateBucket':
        throw new S3Error(409, 'BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.');
      case 'ListObjects':
        return this.listObjects(res, bucket, q);
      case 'PutObject':
        return this.putObject(record, req, res, bucket, key!, payloadHash);
      case 'CreateMultipartUpload':
        return this.createUpload(res, bucket, key!, req);
      case 'UploadPart':
        return this.uploadPart(record, req, res, q, bucket, key!, payloadHash);
      case 'CompleteMultipartUpload':
        return this.completeUpload(record, req, res, q, bucket, key!);
      case 'AbortMultipartUpload': {
        this.upload(q.get('uploadId'), bucket, key!);
        fs.rmSync(path.join(this.o.dir, 'uploads', q.get('uploadId')!), { recursive: true, force: true });
        res.writeHead(204).end();
        return;
      }
      case 'GetObject':
      case 'HeadObject':
        return this.getObject(req, res, bucket, key!);
      case 'DeleteObject': {
        const old = this.object(bucket, key!);
        fs.rmSync(`${this.objectBase(bucket, key!)}.json`, { force: true });
        if (old) fs.rmSync(old.file, { force: true });
        res.writeHead(204).end();
        return;
      }
      default:
        throw new S3Error(501, 'NotImplemented', `${record.operation} is not implemented by camwire's local store`);
    }
  }

  /**
   * Streams the body into a temp file, checking length, payload hash,
   * Content-MD5 and the x-amz-checksum-* header; returns its digests. On any
   * mismatch the temp file is removed, so nothing is stored.
   */
  private async receive(
    record: LocalS3Request,
    req: http.IncomingMessage,
    payloadHash: string,
    uploadAlgorithm?: ChecksumAlgorithm,
  ): Promise<{ tmp: string; size: number; md5: Buffer; sha256: string; checksum: Checksum | undefined }> {
    const declared = req.headers['content-length'];
    if (declared === undefined) throw new S3Error(411, 'MissingContentLength', 'You must provide the Content-Length HTTP header.');
    const digests = new BodyDigests(amzHeaders(req));
    const given = digests.checksum?.algorithm;
    if (uploadAlgorithm && given && given !== uploadAlgorithm) {
      throw new S3Error(
        400,
        'InvalidRequest',
        `Checksum Type mismatch occurred, expected checksum Type: ${uploadAlgorithm.toLowerCase()}, actual checksum Type: ${given.toLowerCase()}`,
      );
    }
    const tmp = path.join(this.o.dir, 'tmp', crypto.randomBytes(12).toString('hex'));
    const md5 = crypto.createHash('md5');
    const sha256 = crypto.createHash('sha256');
    let size = 0;
    const count = new Transform({
      transform(chunk: Buffer, _e, cb) {
        size += chunk.length;
        md5.update(chunk);
        sha256.update(chunk);
        digests.update(chunk);
        cb(null, chunk);
      },
    });
    try {
      await pipeline(req, count, fs.createWriteStream(tmp));
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw new S3Error(400, 'IncompleteBody', `the request body ended early: ${(e as Error).message}`);
    }
    record.bytes = size;
    const result = { tmp, size, md5: md5.digest(), sha256: sha256.digest('hex'), checksum: digests.checksum };
    const fail = (err: Error) => {
      fs.rmSync(tmp, { force: true });
      return err;
    };
    if (size !== Number(declared)) throw fail(new S3Error(400, 'IncompleteBody', `got ${size} of ${declared} bytes`));
    if (payloadHash !== 'UNSIGNED-PAYLOAD' && payloadHash !== result.sha256)
      throw fail(new S3Error(400, 'XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.'));
    await digests.verify(result.md5).catch((e: Error) => {
      throw fail(e);
    });
    return result;
  }

  /** Makes `tmp` the object's data: a new data file, then the metadata naming it swapped in by rename, then the old data removed. */
  private commit(bucket: string, key: string, tmp: string, meta: ObjectMeta): void {
    const base = this.objectBase(bucket, key);
    const old = this.object(bucket, key);
    const data = `${base}.${crypto.randomBytes(6).toString('hex')}.data`;
    fs.renameSync(tmp, data);
    const stored: StoredMeta = { ...meta, data: path.basename(data) };
    fs.writeFileSync(`${base}.json.tmp`, JSON.stringify(stored));
    fs.renameSync(`${base}.json.tmp`, `${base}.json`);
    if (old) fs.rmSync(old.file, { force: true });
  }

  private async putObject(
    record: LocalS3Request,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    bucket: string,
    key: string,
    payloadHash: string,
  ): Promise<void> {
    const got = await this.receive(record, req, payloadHash);
    const etag = `"${got.md5.toString('hex')}"`;
    this.commit(bucket, key, got.tmp, {
      key,
      size: got.size,
      etag,
      contentType: String(req.headers['content-type'] ?? 'binary/octet-stream'),
      lastModified: new Date().toISOString(),
      sha256: got.sha256,
      ...(got.checksum ? { checksum: got.checksum } : {}),
    });
    res.writeHead(200, { etag, ...checksumHeaders(got.checksum) }).end();
  }

  private createUpload(res: http.ServerResponse, bucket: string, key: string, req: http.IncomingMessage): void {
    const named = amzHeaders(req)['x-amz-checksum-algorithm'];
    const checksumAlgorithm = named === undefined ? undefined : parseChecksumAlgorithm(String(named));
    if (named !== undefined && !checksumAlgorithm) {
      throw new S3Error(
        400,
        'InvalidRequest',
        `Checksum algorithm provided is unsupported. Please try again with any of the valid types: [${CHECKSUM_ALGORITHMS.join(', ')}]`,
      );
    }
    const id = crypto.randomBytes(24).toString('base64url');
    const dir = path.join(this.o.dir, 'uploads', id);
    fs.mkdirSync(dir, { recursive: true });
    const meta: UploadMeta = {
      bucket,
      key,
      contentType: String(req.headers['content-type'] ?? 'binary/octet-stream'),
      initiated: new Date().toISOString(),
      ...(checksumAlgorithm ? { checksumAlgorithm } : {}),
    };
    fs.writeFileSync(path.join(dir, 'upload.json'), JSON.stringify(meta));
    req.resume();
    xml(
      res,
      200,
      `<InitiateMultipartUploadResult><Bucket>${xmlEscape(bucket)}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`,
      checksumAlgorithm ? { 'x-amz-checksum-algorithm': checksumAlgorithm } : {},
    );
  }

  private upload(id: string | null, bucket: string, key: string): { dir: string; meta: UploadMeta } {
    if (!id || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new S3Error(404, 'NoSuchUpload', 'The specified upload does not exist.');
    const dir = path.join(this.o.dir, 'uploads', id);
    let meta: UploadMeta;
    try {
      meta = JSON.parse(fs.readFileSync(path.join(dir, 'upload.json'), 'utf8')) as UploadMeta;
    } catch {
      throw new S3Error(
        404,
        'NoSuchUpload',
        'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
      );
    }
    if (meta.bucket !== bucket || meta.key !== key) throw new S3Error(404, 'NoSuchUpload', 'The upload ID belongs to another object.');
    return { dir, meta };
  }

  private async uploadPart(
    record: LocalS3Request,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    q: URLSearchParams,
    bucket: string,
    key: string,
    payloadHash: string,
  ): Promise<void> {
    const { dir, meta } = this.upload(q.get('uploadId'), bucket, key);
    const n = Number(q.get('partNumber'));
    if (!Number.isInteger(n) || n < 1 || n > 10000) throw new S3Error(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive');
    const got = await this.receive(record, req, payloadHash, meta.checksumAlgorithm);
    const etag = `"${got.md5.toString('hex')}"`;
    fs.renameSync(got.tmp, path.join(dir, `part-${n}`));
    fs.writeFileSync(
      path.join(dir, `part-${n}.json`),
      JSON.stringify({ etag, size: got.size, md5: got.md5.toString('hex'), ...(got.checksum ? { checksum: got.checksum } : {}) }),
    );
    res.writeHead(200, { etag, ...checksumHeaders(got.checksum) }).end();
  }

  private async completeUpload(
    record: LocalS3Request,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    q: URLSearchParams,
    bucket: string,
    key: string,
  ): Promise<void> {
    const { dir, meta } = this.upload(q.get('uploadId'), bucket, key);
    const body = await readBody(req, MAX_XML_BODY).catch((e: Error & { tooLarge?: boolean }) => {
      throw e.tooLarge ? new S3Error(400, 'MaxMessageLengthExceeded', e.message) : new S3Error(400, 'IncompleteBody', e.message);
    });
    record.bytes = body.length;
    const text = body.toString('utf8');
    if (!/<CompleteMultipartUpload[\s>]/.test(text))
      throw new S3Error(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
    const listed = [...text.matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map((m) => ({
      n: Number(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(m[1]!)?.[1]),
      etag: /<ETag>\s*([^<]*?)\s*<\/ETag>/.exec(m[1]!)?.[1]?.replace(/&quot;/g, '"'),
    }));
    if (!listed.length) throw new S3Error(400, 'MalformedXML', 'The XML you provided lists no parts.');
    const parts: Array<{ n: number; size: number; md5: string }> = [];
    for (const [i, p] of listed.entries()) {
      if (!Number.isInteger(p.n) || (i > 0 && p.n <= listed[i - 1]!.n))
        throw new S3Error(400, 'InvalidPartOrder', 'The list of parts was not in ascending order. Parts must be ordered by part number.');
      let info: { etag: string; size: number; md5: string };
      try {
        info = JSON.parse(fs.readFileSync(path.join(dir, `part-${p.n}.json`), 'utf8')) as typeof info;
      } catch {
        throw new S3Error(400, 'InvalidPart', `Part ${p.n} was not uploaded.`);
      }
      if (p.etag !== info.etag && `"${p.etag}"` !== info.etag)
        throw new S3Error(400, 'InvalidPart', `Part ${p.n}'s ETag ${p.etag} does not match the uploaded part's ${info.etag}.`);
      parts.push({ n: p.n, size: info.size, md5: info.md5 });
    }
    const min = this.o.minPartSize ?? 5 * 1024 * 1024;
    const small = parts.slice(0, -1).find((p) => p.size < min);
    if (small) throw new S3Error(400, 'EntityTooSmall', `Part ${small.n} is ${small.size} bytes; every part but the last must be at least ${min} bytes.`);
    // Parts may be gigabytes: streamed into the object, never read whole.
    const tmp = path.join(this.o.dir, 'tmp', crypto.randomBytes(12).toString('hex'));
    const sha256 = crypto.createHash('sha256');
    const out = await fs.promises.open(tmp, 'w');
    try {
      for (const p of parts) {
        for await (const chunk of fs.createReadStream(path.join(dir, `part-${p.n}`), { highWaterMark: 1 << 20 })) {
          sha256.update(chunk as Buffer);
          await out.write(chunk as Buffer);
        }
      }
    } catch (e) {
      await out.close();
      fs.rmSync(tmp, { force: true });
      throw e;
    }
    await out.close();
    const etag = `"${crypto
      .createHash('md5')
      .update(Buffer.concat(parts.map((p) => Buffer.from(p.md5, 'hex'))))
      .digest('hex')}-${parts.length}"`;
    const size = parts.reduce((s, p) => s + p.size, 0);
    this.commit(bucket, key, tmp, { key, size, etag, contentType: meta.contentType, lastModified: new Date().toISOString(), sha256: sha256.digest('hex') });
    fs.rmSync(dir, { recursive: true, force: true });
    xml(
      res,
      200,
      `<CompleteMultipartUploadResult><Location>${xmlEscape(`${this.url}/${bucket}/${key}`)}</Location><Bucket>${xmlEscape(bucket)}</Bucket>` +
        `<Key>${xmlEscape(key)}</Key><ETag>${xmlEscape(etag)}</ETag></CompleteMultipartUploadResult>`,
    );
  }

  private getObject(req: http.IncomingMessage, res: http.ServerResponse, bucket: string, key: string): void {
    req.resume();
    const o = this.object(bucket, key);
    if (!o) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.');
    const headers: Record<string, string | number> = {
      etag: o.etag,
      'content-type': o.contentType,
      'last-modified': new Date(o.lastModified).toUTCString(),
      'accept-ranges': 'bytes',
    };
    let start = 0;
    let end = o.size - 1;
    let status = 200;
    const range = req.headers['range'];
    if (range !== undefined) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range);
      if (m && (m[1] || m[2])) {
        if (m[1]) {
          start = Number(m[1]);
          if (m[2]) end = Math.min(Number(m[2]), o.size - 1);
        } else {
          start = Math.max(0, o.size - Number(m[2]));
        }
        if (start > end || start >= o.size) throw new S3Error(416, 'InvalidRange', 'The requested range is not satisfiable');
        status = 206;
        headers['content-range'] = `bytes ${start}-${end}/${o.size}`;
      }
    }
    // As S3: the stored checksum only when asked for, and only with the whole object (a range has no checksum to check).
    if (status === 200 && o.checksum && String(amzHeaders(req)['x-amz-checksum-mode'] ?? '').toUpperCase() === 'ENABLED') {
      Object.assign(headers, checksumHeaders(o.checksum), { 'x-amz-checksum-type': 'FULL_OBJECT' });
    }
    headers['content-length'] = o.size === 0 ? 0 : end - start + 1;
    res.writeHead(status, headers);
    if (req.method === 'HEAD' || o.size === 0) {
      res.end();
      return;
    }
    fs.createReadStream(o.file, { start, end })
      .on('error', () => res.destroy())
      .pipe(res);
  }

  private listBuckets(res: http.ServerResponse): void {
    let names: string[] = [];
    try {
      names = fs.readdirSync(path.join(this.o.dir, 'buckets')).sort();
    } catch {
      /* none yet */
    }
    xml(
      res,
      200,
      `<ListAllMyBucketsResult><Owner><ID>camwire</ID><DisplayName>camwire</DisplayName></Owner><Buckets>${names
        .map((n) => `<Bucket><Name>${xmlEscape(n)}</Name><CreationDate>${fs.statSync(this.bucketDir(n)).birthtime.toISOString()}</CreationDate></Bucket>`)
        .join('')}</Buckets></ListAllMyBucketsResult>`,
    );
  }

  private listObjects(res: http.ServerResponse, bucket: string, q: URLSearchParams): void {
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const v2 = q.get('list-type') === '2';
    const token = v2 ? q.get('continuation-token') : null;
    let after = (v2 ? q.get('start-after') : q.get('marker')) ?? '';
    if (token) {
      const k = Buffer.from(token, 'base64url').toString('utf8');
      if (!k) throw new S3Error(400, 'InvalidArgument', 'The continuation token provided is incorrect');
      if (k > after) after = k;
    }
    const max = Math.min(1000, Math.max(0, Number(q.get('max-keys') ?? 1000) || 0) || 1000);
    const url = q.get('encoding-type') === 'url';
    if (q.has('encoding-type') && !url) throw new S3Error(400, 'InvalidArgument', 'Invalid Encoding Method specified in Request');
    const enc = (v: string) => xmlEscape(url ? encodeURIComponent(v).replace(/%2F/g, '/') : v);
    const all = fs
      .readdirSync(this.bucketDir(bucket))
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(fs.readFileSync(path.join(this.bucketDir(bucket), f), 'utf8')) as StoredMeta)
      .filter((m) => m.key.startsWith(prefix) && m.key > after)
      .sort((a, b) => (a.key < b.key ? -1 : 1));
    const contents: ObjectMeta[] = [];
    const prefixes = new Set<string>();
    let last = '';
    let truncated = false;
    for (const m of all) {
      const cut = delimiter ? m.key.indexOf(delimiter, prefix.length) : -1;
      const common = cut >= 0 ? m.key.slice(0, cut + delimiter.length) : undefined;
      if (common !== undefined && prefixes.has(common)) {
        last = m.key;
        continue;
      }
      if (contents.length + prefixes.size >= max) {
        truncated = true;
        break;
      }
      if (common !== undefined) prefixes.add(common);
      else contents.push(m);
      last = m.key;
    }
    const items = contents
      .map(
        (m) =>
          `<Contents><Key>${enc(m.key)}</Key><LastModified>${m.lastModified}</LastModified><ETag>${xmlEscape(m.etag)}</ETag><Size>${m.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
      )
      .join('');
    const common = [...prefixes].map((p) => `<CommonPrefixes><Prefix>${enc(p)}</Prefix></CommonPrefixes>`).join('');
    const paging = v2
      ? `<KeyCount>${contents.length + prefixes.size}</KeyCount>${token ? `<ContinuationToken>${xmlEscape(token)}</ContinuationToken>` : ''}` +
        `${truncated ? `<NextContinuationToken>${Buffer.from(last).toString('base64url')}</NextContinuationToken>` : ''}`
      : `<Marker>${enc(q.get('marker') ?? '')}</Marker>${truncated ? `<NextMarker>${enc(last)}</NextMarker>` : ''}`;
    xml(
      res,
      200,
      `<ListBucketResult><Name>${xmlEscape(bucket)}</Name><Prefix>${enc(prefix)}</Prefix>${paging}<MaxKeys>${max}</MaxKeys>` +
        `${delimiter ? `<Delimiter>${enc(delimiter)}</Delimiter>` : ''}${url ? '<EncodingType>url</EncodingType>' : ''}<IsTruncated>${truncated}</IsTruncated>${items}${common}</ListBucketResult>`,
    );
  }
}

/**
 * Query parameters that do not change what an object request is (signing, the
 * SDK's x-id, response overrides; SigV2's, so authenticate() can refuse them as S3 does).
 */
const PLAIN_OBJECT_QUERY = /^(x-amz-.*|x-id|response-.*|AWSAccessKeyId|Signature|Expires)$/i;
/** Query parameters of ListObjects / ListObjectsV2. */
const LIST_QUERY = new Set([
  'list-type',
  'prefix',
  'delimiter',
  'max-keys',
  'marker',
  'start-after',
  'continuation-token',
  'encoding-type',
  'fetch-owner',
  'x-id',
]);

/**
 * The S3 operation a request is, from method, path, sub-resource and copy
 * header. Anything the store does not implement (ACLs, tagging, versions,
 * CopyObject, bucket configuration, ...) is refused with 501 rather than
 * being mistaken for a plain PUT, GET or DELETE of the object.
 */
function operation(method: string, bucket: string | undefined, key: string | undefined, q: URLSearchParams, headers: http.IncomingHttpHeaders): string {
  const sub = [...q.keys()].filter((k) => !PLAIN_OBJECT_QUERY.test(k));
  const notImplemented = (what: string) => new S3Error(501, 'NotImplemented', `${what} is not implemented by camwire's local store`);
  if (!bucket) {
    if (method === 'GET') return 'ListBuckets';
    throw new S3Error(405, 'MethodNotAllowed', `${method} on the service is not allowed`);
  }
  if (!key) {
    if (method === 'GET' && sub.every((k) => LIST_QUERY.has(k))) return 'ListObjects';
    if (method === 'PUT' && sub.length === 0) return 'CreateBucket';
    throw notImplemented(`${method} on a bucket with ${sub.join('&') || 'no sub-resource'}`);
  }
  // Pre-signed URLs carry x-amz-* headers in the query.
  if (headers['x-amz-copy-source'] !== undefined || [...q.keys()].some((k) => k.toLowerCase() === 'x-amz-copy-source'))
    throw notImplemented('CopyObject / UploadPartCopy (x-amz-copy-source)');
  const only = (...allowed: string[]) => sub.every((k) => allowed.includes(k));
  if (method === 'PUT' && sub.length === 0) return 'PutObject';
  if (method === 'PUT' && q.has('uploadId') && q.has('partNumber') && only('uploadId', 'partNumber')) return 'UploadPart';
  if (method === 'POST' && q.has('uploads') && only('uploads')) return 'CreateMultipartUpload';
  if (method === 'POST' && q.has('uploadId') && only('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'DELETE' && sub.length === 0) return 'DeleteObject';
  if (method === 'DELETE' && q.has('uploadId') && only('uploadId')) return 'AbortMultipartUpload';
  if (method === 'GET' && sub.length === 0) return 'GetObject';
  if (method === 'HEAD' && sub.length === 0) return 'HeadObject';
  throw notImplemented(`${method} of an object with ${sub.join('&') || 'no sub-resource'}`);
}

function parseAmzDate(s: string): number {
  const d = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!d) throw new S3Error(400, 'AuthorizationQueryParametersError', "X-Amz-Date must be in the ISO8601 basic format yyyyMMdd'T'HHmmss'Z'");
  return Date.UTC(+d[1]!, +d[2]! - 1, +d[3]!, +d[4]!, +d[5]!, +d[6]!);
}

function xml(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
  res.writeHead(status, { ...headers, 'content-type': 'application/xml', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * The request's headers with the x-amz-* query parameters of a pre-signed URL
 * among them: a presigner hoists signed x-amz-* headers into the query (the
 * AWS SDK puts x-amz-checksum-crc32 there by default), and S3 checks them there too.
 */
function amzHeaders(req: http.IncomingMessage): http.IncomingHttpHeaders {
  const hoisted: http.IncomingHttpHeaders = {};
  for (const [k, v] of new URL(req.url ?? '/', 'http://local').searchParams) if (/^x-amz-/i.test(k)) hoisted[k.toLowerCase()] = v;
  return { ...hoisted, ...req.headers };
}

/** The response header S3 echoes a checksum in (x-amz-checksum-crc32: ...). */
function checksumHeaders(c: Checksum | undefined): Record<string, string> {
  return c ? { [checksumHeader(c.algorithm)]: c.value } : {};
}
