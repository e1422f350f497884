/**
 * The error catalogue (ts/error-codes.ts) is whole both ways: every code the
 * native core can raise is in it (TypeScript's own codes are held by the type
 * of CamwireError's constructor), every code in it is raised somewhere, and
 * docs/errors.md is the catalogue as written by `npm run docs:errors`.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { CamwireError } from '../ts/errors';
import { ERROR_CODES, isErrorCode } from '../ts/error-codes';
import { renderErrorsDoc } from '../ts/error-docs';
import { fromNative, nativeError } from '../ts/native';
import { ROOT } from './helpers/run';
import { tempDir } from './helpers/tmp';

/** Upper-case string literals in C++ that are not error codes. */
const NOT_CODES = new Set(['AWS_KINESISVIDEO_END_OF_FRAGMENT', 'CAMWIRE_DEBUG', 'LD_PRELOAD', 'UMOCKDEV_DIR', 'AWS4_HMAC_SHA256', 'UNSIGNED_PAYLOAD']);

function files(dir: string, re: RegExp): string[] {
  const out: string[] = [];
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) out.push(...files(p, re));
    else if (re.test(d.name)) out.push(p);
  }
  return out;
}

/** Every code-like string literal ("KVS_STORE_FULL", "INTERNAL", "MALFORMED") in the C++ sources under dirs. */
function nativeCodes(dirs: string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const dir of dirs) {
    for (const f of files(dir, /\.(cc|h)$/)) {
      const text = fs.readFileSync(f, 'utf8');
      for (const m of text.matchAll(/"([A-Z][A-Z0-9]+(?:_[A-Z0-9]+)+|INTERNAL|MALFORMED)"/g)) {
        if (!NOT_CODES.has(m[1]!) && !found.has(m[1]!)) found.set(m[1]!, path.relative(ROOT, f));
      }
    }
  }
  return found;
}

/** Every quoted upper-case code in the TypeScript sources but the catalogue itself. */
function tsCodes(): Set<string> {
  const found = new Set<string>();
  for (const f of files(path.join(ROOT, 'ts'), /\.ts$/)) {
    if (f.endsWith('error-codes.ts')) continue;
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/'([A-Z][A-Z0-9]+(?:_[A-Z0-9]+)*)'/g)) found.add(m[1]!);
  }
  return found;
}

test('every code the native core raises is in the catalogue', (t) => {
  const codes = nativeCodes([path.join(ROOT, 'cpp'), path.join(ROOT, 'binding')]);
  t.true(codes.size > 60, `${codes.size} native codes found`);
  const missing = [...codes].filter(([c]) => !isErrorCode(c)).map(([c, f]) => `${c} (${f})`);
  t.deepEqual(missing, [], 'add these to ts/error-codes.ts, then npm run docs:errors');
});

test('the check finds a native code missing from the catalogue', (t) => {
  const dir = tempDir('codes');
  fs.writeFileSync(path.join(dir, 'x.cc'), 'return Status::Error("KVS_SOMETHING_NEW", "x"); // and "PTP_IO" is known\n');
  const codes = nativeCodes([dir]);
  t.deepEqual([...codes.keys()], ['KVS_SOMETHING_NEW', 'PTP_IO']);
  t.deepEqual(
    [...codes.keys()].filter((c) => !isErrorCode(c)),
    ['KVS_SOMETHING_NEW'],
  );
});

test('every code in the catalogue is raised somewhere (no dead entries)', (t) => {
  const native = nativeCodes([path.join(ROOT, 'cpp'), path.join(ROOT, 'binding')]);
  const ts = tsCodes();
  const dead = Object.keys(ERROR_CODES).filter((c) => !native.has(c) && !ts.has(c));
  t.deepEqual(dead, []);
});

test('every entry says what it means and what to do', (t) => {
  for (const [code, info] of Object.entries(ERROR_CODES)) {
    t.regex(code, /^[A-Z][A-Z0-9]+(_[A-Z0-9]+)*$/);
    t.true(info.meaning.length > 10 && info.action.length > 5, code);
  }
});

test('docs/errors.md is the catalogue (npm run docs:errors writes it)', (t) => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'errors.md'), 'utf8');
  t.is(doc, renderErrorsDoc());
  for (const code of Object.keys(ERROR_CODES)) t.true(doc.includes(`| \`${code}\``), code);
});

test('a native error keeps its code; an unknown one arrives as INTERNAL naming it', (t) => {
  const known = fromNative(Object.assign(new Error('no object with handle 7'), { code: 'PTP_INVALID_HANDLE', camwireNative: true }));
  t.true(known instanceof CamwireError);
  t.is((known as CamwireError).code, 'PTP_INVALID_HANDLE');
  const unknown = nativeError('KVS_FROM_THE_FUTURE', 'something new');
  t.is(unknown.code, 'INTERNAL');
  t.is(unknown.details?.['nativeCode'], 'KVS_FROM_THE_FUTURE');
  t.regex(unknown.message, /KVS_FROM_THE_FUTURE: something new/);
});
