/** The upload target contract, expiry from every URL flavour, and redaction. */
import test from 'ava';
import { parseUploadTarget, redactText, redactUrl, targetExpiry, urlExpiry } from '../ts/upload';
import { CamwireError } from '../ts/errors';

const good = {
  version: 1,
  id: 'job-1',
  object: { path: 'DCIM/100CAMWR/DSC00001.JPG' },
  contentType: 'image/jpeg',
  put: {
    url: 'https://b.s3.eu-west-1.amazonaws.com/k?X-Amz-Date=20261126T080000Z&X-Amz-Expires=600&X-Amz-Signature=abc',
    headers: { 'content-type': 'image/jpeg' },
  },
  expiresAt: '2026-11-26T09:00:00Z',
};

test('a valid target parses, from an object or from JSON text', (t) => {
  t.is(parseUploadTarget(good).id, 'job-1');
  t.is(parseUploadTarget(JSON.stringify(good)).put!.url, good.put.url);
});

test('every problem is listed in one UPLOAD_TARGET_INVALID', (t) => {
  const e = t.throws(() =>
    parseUploadTarget({
      version: 2,
      id: 'bad id!',
      object: {},
      put: { url: 'ftp://x' },
      multipart: { partSize: 0, parts: [{ partNumber: 2, url: 'nope' }], completeUrl: 'https://x' },
      expiresAt: 'soon',
    }),
  ) as CamwireError;
  t.is(e.code, 'UPLOAD_TARGET_INVALID');
  const problems = e.details!['problems'] as string[];
  for (const p of [
    /version must be 1/,
    /^id must/,
    /object\.path/,
    /exactly one of put and multipart/,
    /put\.url must be http/,
    /partSize/,
    /parts\[0\]\.partNumber must be 1/,
    /parts\[0\]\.url is not a valid URL/,
    /expiresAt/,
  ]) {
    t.true(
      problems.some((x) => p.test(x)),
      `${p} in ${problems.join(' | ')}`,
    );
  }
  t.is((t.throws(() => parseUploadTarget('{not json')) as CamwireError).code, 'UPLOAD_TARGET_INVALID');
  t.is((t.throws(() => parseUploadTarget([])) as CamwireError).code, 'UPLOAD_TARGET_INVALID');
});

test('expiry: SigV4 X-Amz-Date + X-Amz-Expires, COS q-key-time and sign=, and the earliest of all', (t) => {
  t.is(urlExpiry('https://h/k?X-Amz-Date=20261126T080000Z&X-Amz-Expires=600')!.toISOString(), '2026-11-26T08:10:00.000Z');
  t.is(
    urlExpiry('https://h/k?q-sign-algorithm=sha1&q-ak=AK&q-sign-time=1795680000;1795683600&q-key-time=1795680000;1795683600&q-signature=x')!.getTime(),
    1795683600_000,
  );
  t.is(urlExpiry(`https://h/k?sign=${encodeURIComponent('q-sign-algorithm=sha1&q-key-time=100;200&q-signature=x')}`)!.getTime(), 200_000);
  t.is(urlExpiry('https://h/k'), undefined);
  const target = parseUploadTarget(good);
  t.is(targetExpiry(target)!.toISOString(), '2026-11-26T08:10:00.000Z', 'the URL expires before expiresAt');
  t.is(targetExpiry({ ...target, put: { url: 'https://h/k' } })!.toISOString(), '2026-11-26T09:00:00.000Z');
});

test('signatures and tokens never survive redaction', (t) => {
  const url =
    'https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20261126&X-Amz-Security-Token=SECRETTOKEN&X-Amz-Signature=deadbeef&partNumber=2';
  const r = redactUrl(url);
  for (const secret of ['SECRETTOKEN', 'deadbeef', 'AKIA']) t.false(r.includes(secret), `${secret} in ${r}`);
  t.regex(r, /partNumber=2/);
  t.regex(r, /X-Amz-Algorithm=AWS4-HMAC-SHA256/);
  const cos = redactUrl('https://b-125.cos.ap-guangzhou.myqcloud.com/k?q-sign-algorithm=sha1&q-signature=cafe0001&x-cos-security-token=TOK');
  t.false(cos.includes('cafe0001') || cos.includes('TOK'));
  t.false(redactText(`PUT ${url} failed`).includes('deadbeef'));
  t.false(redactUrl('not a url X-Amz-Signature=beef&x=1').includes('beef'));
});
