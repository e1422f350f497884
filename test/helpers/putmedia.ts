/**
 * A small PutMedia client for tests: signs once at connect with camwire's
 * signer (empty-body hash, as KVS producers do), sends the MKV chunked, and
 * collects the ack lines. It stands in for the producer until the native one
 * drives these tests.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import { native } from '../../ts/native';

export interface TestCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}
export interface PutResult {
  status: number;
  acks: Array<{ EventType: string; FragmentTimecode?: number; FragmentNumber?: string; ErrorId?: number }>;
  body: string;
  error?: string;
}

const amzDate = () =>
  new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
export const EMPTY_SHA256 = crypto.createHash('sha256').update('').digest('hex');

export function signedHeaders(
  port: number,
  pathName: string,
  extra: Record<string, string>,
  payloadSha256: string,
  c: TestCredentials,
): Record<string, string> {
  const headers: Record<string, string> = {
    host: `127.0.0.1:${port}`,
    'x-amz-date': amzDate(),
    ...extra,
    ...(c.sessionToken ? { 'x-amz-security-token': c.sessionToken } : {}),
  };
  const s = native().signV4({
    method: 'POST',
    path: pathName,
    query: [],
    headers: Object.entries(headers),
    payloadSha256,
    accessKeyId: c.accessKeyId,
    secretAccessKey: c.secretAccessKey,
    region: 'us-east-1',
    service: 'kinesisvideo',
    amzDate: headers['x-amz-date']!,
  });
  return { ...headers, authorization: s.authorization };
}

export function putMedia(port: number, body: Buffer, c: TestCredentials, o: { stream?: string; chunk?: number } = {}): Promise<PutResult> {
  const headers = signedHeaders(
    port,
    '/putMedia',
    {
      connection: 'keep-alive',
      'transfer-encoding': 'chunked',
      'user-agent': 'camwire-test',
      'x-amzn-stream-name': o.stream ?? 'camera001',
      'x-amzn-fragment-timecode-type': 'ABSOLUTE',
      'x-amzn-producer-start-timestamp': (Date.now() / 1000).toFixed(3),
      'x-amzn-fragment-acknowledgment-required': '1',
    },
    EMPTY_SHA256,
    c,
  );
  return new Promise((resolve) => {
    const result: PutResult = { status: 0, acks: [], body: '' };
    const req = http.request({ host: '127.0.0.1', port, path: '/putMedia', method: 'POST', headers }, (res) => {
      result.status = res.statusCode ?? 0;
      res.on('data', (d: Buffer) => {
        result.body += d.toString();
      });
      // The acks that arrived count also when the connection then broke (a drop fault).
      const parse = () => {
        if (result.status !== 200) return;
        const lines = result.body.split('\n');
        lines.pop(); // a torn last line is not an ack
        for (const line of lines.filter(Boolean)) {
          try {
            result.acks.push(JSON.parse(line));
          } catch {
            result.error = `not an ack: ${line}`;
          }
        }
      };
      res.on('end', () => {
        parse();
        resolve(result);
      });
      res.on('error', (e) => {
        parse();
        result.error ??= e.message;
        resolve(result);
      });
    });
    req.on('error', (e) => {
      result.error = e.message;
      resolve(result);
    });
    const chunk = o.chunk ?? 16 * 1024;
    (async () => {
      for (let i = 0; i < body.length; i += chunk) {
        if (req.destroyed) return;
        req.write(body.subarray(i, i + chunk));
        await new Promise((r) => setImmediate(r));
      }
      req.end();
    })();
  });
}
