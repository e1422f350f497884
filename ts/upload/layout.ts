import path from 'node:path';
import { checkThingName } from '../common/thing-name';

/** The default key layout that ties uploads to devices: devices/{thing}/{yyyy}/{mm}/{dd}/{filename}. */
export function deviceKey(thing: string, file: string, when = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `devices/${checkThingName(thing)}/${when.getUTCFullYear()}/${p(when.getUTCMonth() + 1)}/${p(when.getUTCDate())}/${path.basename(file)}`;
}
