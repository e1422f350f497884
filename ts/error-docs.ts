/**
 * docs/errors.md, written from the catalogue (error-codes.ts):
 * `npm run docs:errors` rewrites it, test/error-codes.test.ts checks it is
 * current.
 */
import { ERROR_AREAS, ERROR_CODES, ErrorArea, ErrorCodeInfo } from './error-codes';

const cell = (s: string): string => s.replace(/\|/g, '\\|');

export function renderErrorsDoc(): string {
  const out: string[] = [
    '# Error codes',
    '',
    '<!-- Written by `npm run docs:errors` from ts/error-codes.ts; edit that file, not this one. -->',
    '',
    'Every failure camwire reports, from TypeScript or from the native core, is a',
    '`CamwireError` with one of these codes (the type `CamwireErrorCode`). Match on',
    '`code`: codes are stable, messages may improve. `camwire --json` prints',
    '`{ "code", "message", "hint"?, "details"? }`; message, hint and details never',
    'hold a signature, a credential or a session token. A *warning* usually',
    'arrives as a `warning` event (or a CLI line) while the work goes on: a retry,',
    'a reconnect; it becomes the error only when the retry budget is spent.',
    '',
    'Calling the native binding with arguments of the wrong type throws a plain',
    '`TypeError` naming the call; the typed library API never does that.',
    '',
  ];
  const byArea = new Map<ErrorArea, Array<[string, ErrorCodeInfo]>>();
  for (const [code, info] of Object.entries(ERROR_CODES) as Array<[string, ErrorCodeInfo]>) {
    const list = byArea.get(info.area) ?? [];
    list.push([code, info]);
    byArea.set(info.area, list);
  }
  for (const [area, title] of Object.entries(ERROR_AREAS) as Array<[ErrorArea, string]>) {
    const list = byArea.get(area);
    if (!list) continue;
    out.push(`## ${title}`, '', '| code | meaning | what to do |', '|---|---|---|');
    for (const [code, info] of list.sort(([a], [b]) => a.localeCompare(b))) {
      out.push(`| \`${code}\`${info.warning ? ' (warning)' : ''} | ${cell(info.meaning)} | ${cell(info.action)} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
