/** Argument parsing helpers shared by the CLI commands (no heavy imports: every command loads this). */
import fs from 'node:fs';
import { CamwireError } from '../errors';

// Each throws CLI_BAD_ARGUMENT; buildProgram puts the option's name in front of the message.
export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new CamwireError('CLI_BAD_ARGUMENT', `"${v}" is not a positive whole number`);
  return n;
}

export function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new CamwireError('CLI_BAD_ARGUMENT', `"${v}" is not a whole number of 0 or more`);
  return n;
}

export function positiveNumber(v: string): number {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new CamwireError('CLI_BAD_ARGUMENT', `"${v}" is not a positive number`);
  return n;
}

export function nonNegativeNumber(v: string): number {
  const n = Number(v);
  if (!(n >= 0) || !Number.isFinite(n)) throw new CamwireError('CLI_BAD_ARGUMENT', `"${v}" is not a number of 0 or more`);
  return n;
}

/** A TCP port, 0 (any free one) to 65535. */
export function portNumber(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535 || v.trim() === '') throw new CamwireError('CLI_BAD_ARGUMENT', `"${v}" is not a port (0 to 65535)`);
  return n;
}

export function readFile(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new CamwireError('CLI_FILE_NOT_FOUND', `cannot read the ${what} file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      cause: e,
    });
  }
}
