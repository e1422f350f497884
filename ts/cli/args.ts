/** Argument parsing helpers shared by the CLI commands (no heavy imports: every command loads this). */
import fs from 'node:fs';
import { CamwireError } from '../errors';

export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new CamwireError('CLI_BAD_ARGUMENT', `"${v}" is not a positive whole number`);
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
