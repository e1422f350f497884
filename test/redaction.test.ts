/**
 * No signature, credential or session token is ever printed: every path that
 * can show one (errors and hints, --json, info and progress lines, events,
 * the PTP status property) goes through the one redactor (ts/common/redact),
 * fed here with the forms camwire meets: S3 SigV4 in a query and in an
 * Authorization header, SigV2, COS q-signature, the KVS/IoT session token.
 * A result's deliverable (shareUrl) is the one thing shown as it is.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { redactText, redactUrl, redactValue } from '../ts/common/redact';
import { CamwireError } from '../ts/errors';
import { makeOutput, printError } from '../ts/cli/output';
import { PtpCamera } from '../ts/ptp';
import { camwire } from './helpers/run';
import { tempDir } from './helpers/tmp';

const SIG4 = 'a3b1c0ffee00d15ea5e0123456789abcdef0123456789abcdef0123456789ab';
const SIG_COS = '9f0e8d7c6b5a49382716f5e4d3c2b1a0ffeeddcc';
const TOKEN = 'IQoJb3JpZ2luX2VjEKv//////////wEaCXVzLWVhc3QtMSJHMEUCIQDsecretTOKENvalue0123456789';
const AKID = 'AKIAIOSFODNN7EXAMPLE';
// Signed now, valid an hour: the CLI case must fail on the network, not on expiry.
const AMZ_DATE = new Date()
  .toISOString()
  .replace(/[-:]/g, '')
  .replace(/\.\d{3}/, '');
const SECRETS = [SIG4, SIG_COS, TOKEN, AKID, 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'c2lnbmF0dXJldjJzZWNyZXQ9PQ'];

const s3Query = `https://media.s3.cn-north-1.amazonaws.com.cn/devices/cam/DSC00001.JPG?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${AKID}%2F20261203%2Fcn-north-1%2Fs3%2Faws4_request&X-Amz-Date=${AMZ_DATE}&X-Amz-Expires=3600&X-Amz-Security-Token=${encodeURIComponent(TOKEN)}&X-Amz-Signature=${SIG4}&X-Amz-SignedHeaders=host&x-id=PutObject`;
const s3Header = `Authorization: AWS4-HMAC-SHA256 Credential=${AKID}/20261203/us-east-1/kinesisvideo/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=${SIG4}`;
const sigV2 = `https://b.s3.amazonaws.com/k?AWSAccessKeyId=${AKID}&Expires=1764748800&Signature=c2lnbmF0dXJldjJzZWNyZXQ9PQ%3D%3D`;
const sigV2Header = `Authorization: AWS ${AKID}:c2lnbmF0dXJldjJzZWNyZXQ9PQ==`;
const cos = `https://media-1250000000.cos.ap-guangzhou.myqcloud.com/a.jpg?q-sign-algorithm=sha1&q-ak=${AKID}&q-sign-time=1764748800;1764752400&q-key-time=1764748800;1764752400&q-header-list=host&q-url-param-list=&q-signature=${SIG_COS}&x-cos-security-token=${TOKEN}`;
const kvsToken = `x-amz-security-token: ${TOKEN}`;
const iotJson = `{"credentials":{"accessKeyId":"${AKID}","secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","sessionToken":"${TOKEN}","expiration":"2026-12-03T09:00:00Z"}}`;
const ALL = [s3Query, s3Header, sigV2, sigV2Header, cos, kvsToken, iotJson];

function clean(t: { false(v: boolean, m?: string): void }, text: string, where: string): void {
  for (const s of SECRETS) t.false(text.includes(s), `${where} shows ${s.slice(0, 12)}…:\n${text}`);
}

test('the redactor removes every secret form and keeps what helps diagnosis', (t) => {
  for (const form of ALL) clean(t, redactText(`before ${form} after`), form.slice(0, 40));
  const r = redactUrl(s3Query);
  t.true(r.startsWith('https://media.s3.cn-north-1.amazonaws.com.cn/devices/cam/DSC00001.JPG?'));
  t.regex(r, new RegExp(`X-Amz-Date=${AMZ_DATE}&X-Amz-Expires=3600`), 'expiry stays readable');
  t.regex(r, /X-Amz-Signature=REDACTED/);
  t.is(redactUrl('https://example.com/a?b=1'), 'https://example.com/a?b=1', 'an unsigned URL is left as it is');
  t.regex(redactText(s3Header), /SignedHeaders=host;x-amz-date;x-amz-security-token/);
  t.is(redactText(`PUT (${s3Query}), then`), `PUT (${redactUrl(s3Query)}), then`, 'punctuation after a URL in prose stays');
  const deep = redactValue({ a: [s3Query, { b: cos }], shareUrl: s3Query }, new Set(['shareUrl']));
  clean(t, JSON.stringify(deep.a), 'a deep value');
  t.is(deep.shareUrl, s3Query, 'a deliverable is kept');
});

test('a CamwireError redacts its message, hint and details when it is made', (t) => {
  const e = new CamwireError('UPLOAD_HTTP_ERROR', `PUT ${s3Query} answered 403 (${s3Header})`, {
    hint: `try ${cos}`,
    details: { url: sigV2, nested: [kvsToken, iotJson] },
  });
  clean(t, JSON.stringify(e.toJSON()), 'toJSON');
  clean(t, e.message + (e.hint ?? '') + String(e.stack), 'message/hint/stack');
});

/** Captures what the CLI's output layer writes to stdout and stderr. */
function capture(f: () => void): string {
  const writes: string[] = [];
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => {
    writes.push(String(s));
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => {
    writes.push(String(s));
    return true;
  }) as typeof process.stderr.write;
  try {
    f();
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  return writes.join('');
}

test.serial('every CLI output path redacts: result (human and --json), info/progress lines, events, errors; shareUrl is shown', (t) => {
  for (const json of [false, true]) {
    const o = makeOutput(json);
    const text = capture(() => {
      o.result(
        { objectUrl: 'https://media.s3.amazonaws.com/k', note: s3Query, shareUrl: s3Query.replace('x-id=PutObject', 'x-id=GetObject') },
        () => `uploaded\n  ${s3Query}\n  share: ${s3Query.replace('x-id=PutObject', 'x-id=GetObject')}`,
      );
      o.info(`  retrying PUT ${s3Query} in 250 ms (attempt 2: ${s3Header})`);
      o.event({ event: 'job', target: { put: { url: cos } }, token: kvsToken }, `job from ptp: ${cos} ${sigV2Header}`);
      printError(new CamwireError('UPLOAD_NETWORK', `PUT ${s3Query} failed`, { hint: iotJson }), json);
      printError(new Error(`plain error with ${sigV2}`), json);
    });
    // The share URL (the deliverable) appears once, whole; nothing else signed does.
    const share = s3Query.replace('x-id=PutObject', 'x-id=GetObject');
    t.is(text.split(share).length - 1, 1, `shareUrl shown once (json=${json})`);
    clean(t, text.split(share).join(''), `CLI output (json=${json})`);
  }
});

test('the PTP status property never carries a signature', (t) => {
  const storage = tempDir('redact-ptp');
  const cam = new PtpCamera({ storage, port: 0 });
  cam.start();
  t.teardown(() => cam.stop());
  cam.setLastUploadStatus(`t1 failed: ${s3Query}`);
  const shown = cam.property(0xd2a1);
  t.regex(shown, /^t1 failed: https:\/\/media\.s3/);
  clean(t, shown, 'LastUploadStatus');
});

test('a signed URL given where a target file belongs is never echoed (and is used as --put-url, with a note)', (t) => {
  const dir = tempDir('redact-cli');
  const file = path.join(dir, 'DSC00001.JPG');
  fs.writeFileSync(file, 'x');
  // Nothing listens on port 9: the upload fails, and its error names the URL, redacted.
  const url = s3Query.replace('media.s3.cn-north-1.amazonaws.com.cn', '127.0.0.1:9');
  for (const args of [
    ['upload', file, '--target', url],
    ['--json', 'upload', file, '--target', url],
    ['upload', file, '--put-url', url],
    ['upload', file, '--target', `${dir}/missing.json?X-Amz-Signature=${SIG4}`],
  ]) {
    const r = camwire([...args, '--journal', path.join(dir, 'journal'), '--retry-for', '1']);
    t.is(r.status, 1, r.stdout + r.stderr);
    clean(t, r.stdout + r.stderr, args.join(' '));
    if (args[0] === 'upload' && args[2] === '--target' && args[3]!.startsWith('https')) t.regex(r.stderr, /used as --put-url/);
    if (!args[3]!.includes('missing')) t.regex(r.stdout + r.stderr, /UPLOAD_NETWORK/);
  }
});
