/** Argument parsing helpers shared by the CLI commands (no heavy imports: every command loads this). */
import fs from 'node:fs';
import { CamwireError } from '../errors';

/** A number parser for an option: an empty value, or one `ok` refuses, is CLI_BAD_ARGUMENT (buildProgram puts the option's name in front). */
function numberArg(ok: (n: number) => boolean, what: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === '' || !ok(n)) throw new CamwireError('CLI_BAD_ARGUMENT', `"${v}" is not ${what}`);
    return n;
  };
}

export const positiveInt = numberArg((n) => Number.isInteger(n) && n > 0, 'a positive whole number');
export const nonNegativeInt = numberArg((n) => Number.isInteger(n) && n >= 0, 'a whole number of 0 or more');
export const positiveNumber = numberArg((n) => Number.isFinite(n) && n > 0, 'a positive number');
export const nonNegativeNumber = numberArg((n) => Number.isFinite(n) && n >= 0, 'a number of 0 or more');
/** A TCP port, 0 (any free one) to 65535. */
export const portNumber = numberArg((n) => Number.isInteger(n) && n >= 0 && n <= 65535, 'a port (0 to 65535)');

export function readFile(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new CamwireError('CLI_FILE_NOT_FOUND', `cannot read the ${what} file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      cause: e,
    });
  }
}
