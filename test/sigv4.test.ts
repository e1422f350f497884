/**
 * The C++ core's SigV4 signer (what signs PutMedia) agrees with
 * @smithy/signature-v4, the AWS SDK's signer, on randomized requests.
 */
import test from 'ava';
import crypto from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { Hash } from '@smithy/hash-node';
import { native } from '../ts/native';
import { signV4 } from '../ts/kvs';
import { CamwireError } from '../ts/errors';

const rnd = (n: number) => crypto.randomInt(n);
const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
const word = (len: number, alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_~.') =>
  Array.from({ length: len }, () => alphabet[rnd(alphabet.length)]).join('');

const amzDate = (d: Date) =>
  d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

test('agrees with @smithy/signature-v4 on 500 randomized requests', async (t) => {
  let agreed = 0;
  for (let i = 0; i < 500; i++) {
    const date = new Date(Date.UTC(2015 + rnd(15), rnd(12), 1 + rnd(28), rnd(24), rnd(60), rnd(60)));
    const region = pick(['us-east-1', 'eu-west-1', 'ap-southeast-2', 'cn-north-1']);
    const service = pick(['kinesisvideo', 'service', 'iot', 'execute-api']);
    const host = `${word(8, 'abcdefghij0123456789')}.${service}.${region}.amazonaws.com`;
    const segments = Array.from({ length: 1 + rnd(4) }, () => word(1 + rnd(8)) + pick(['', ' ', 'ü', '%', '+', '=', '@']));
    const path = '/' + segments.join('/') + pick(['', '/']);
    const query: Record<string, string> = {};
    for (let q = rnd(4); q > 0; q--) query[word(1 + rnd(6)) + pick(['', ' ', '*', '/'])] = word(rnd(10)) + pick(['', ' ', '&', '=', 'é']);
    // Names the smithy signer refuses to sign (connection, user-agent, ...) are left out.
    const headers: Record<string, string> = { host };
    for (let h = rnd(5); h > 0; h--)
      headers[pick(['x-amz-meta-', 'x-amzn-', 'x-custom-', 'X-Mixed-Case-'] as const) + word(1 + rnd(5), 'abcdefghijklmnopqrstuvwxyz')] =
        pick(['', '  ', 'a  b']) + word(rnd(12)) + pick(['', ' ', '\t']);
    const body = pick(['', '{"StreamName":"s","APIName":"PUT_MEDIA"}', word(rnd(200))]);
    const credentials = {
      accessKeyId: `AKID${word(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')}`,
      secretAccessKey: word(40),
      ...(rnd(2) ? { sessionToken: word(64) } : {}),
    };

    const smithy = new SignatureV4({ credentials, region, service, sha256: Hash.bind(null, 'sha256'), uriEscapePath: true, applyChecksum: false });
    // HttpRequest.path is the path as it goes on the wire: encoded once.
    const wirePath = path
      .split('/')
      .map((p) => encodeURIComponent(p).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
      .join('/');
    const req = new HttpRequest({ method: pick(['GET', 'POST', 'PUT']), protocol: 'https:', hostname: host, path: wirePath, query, headers, body });
    const theirs = (await smithy.sign(req, { signingDate: date })) as HttpRequest;

    const nativeHeaders: Array<[string, string]> = [...Object.entries(headers), ['x-amz-date', amzDate(date)]];
    if (credentials.sessionToken) nativeHeaders.push(['x-amz-security-token', credentials.sessionToken]);
    const ours = native().signV4({
      method: req.method,
      path,
      query: Object.entries(query),
      headers: nativeHeaders,
      payloadSha256: crypto.createHash('sha256').update(body).digest('hex'),
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      region,
      service,
      amzDate: amzDate(date),
    });
    if (ours.authorization !== theirs.headers['authorization']) {
      t.is(
        ours.authorization,
        theirs.headers['authorization'],
        `request ${i}: ${req.method} ${path} ${JSON.stringify(query)} ${JSON.stringify(headers)}\n${ours.canonicalRequest}`,
      );
      return;
    }
    agreed++;
  }
  t.is(agreed, 500);
});

test('malformed input to the native signer is a CamwireError with a stable code', (t) => {
  const base = {
    method: 'GET',
    path: '/',
    query: [] as Array<[string, string]>,
    headers: [['host', 'h']] as Array<[string, string]>,
    payloadSha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    accessKeyId: 'A',
    secretAccessKey: 'S',
    region: 'us-east-1',
    service: 'kinesisvideo',
    amzDate: '20150830T123600Z',
  };
  const e1 = t.throws(() => signV4({ ...base, amzDate: 'yesterday' })) as CamwireError;
  t.true(e1 instanceof CamwireError);
  t.is(e1.code, 'SIGV4_BAD_DATE');
  t.is((t.throws(() => signV4({ ...base, headers: [] })) as CamwireError).code, 'SIGV4_NO_HOST');
  t.is((t.throws(() => signV4({ ...base, payloadSha256: 'x' })) as CamwireError).code, 'SIGV4_BAD_PAYLOAD_HASH');
});
