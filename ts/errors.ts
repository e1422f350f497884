/**
 * Every failure camwire reports, from TypeScript or from the native core, is a
 * CamwireError with a stable string `code` (e.g. `MQTT_UNKNOWN_CA`, one of
 * CamwireErrorCode: error-codes.ts, docs/errors.md) and one human line in
 * `message`. Match on `code`; the message may improve.
 * Message, hint and details are redacted when the error is made: no signature,
 * credential or session token is ever part of one (common/redact).
 */
import { redactText, redactValue } from './common/redact';
import type { CamwireErrorCode } from './error-codes';

export type { CamwireErrorCode } from './error-codes';

export class CamwireError extends Error {
  readonly code: CamwireErrorCode;
  /** A one-line suggestion of what to do about it, when there is one. */
  declare readonly hint?: string;
  /** Extra machine-readable facts (file names, counts); never secrets. */
  declare readonly details?: Record<string, unknown>;

  constructor(code: CamwireErrorCode, message: string, options: { cause?: unknown; hint?: string; details?: Record<string, unknown> } = {}) {
    super(redactText(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CamwireError';
    this.code = code;
    if (options.hint !== undefined) this.hint = redactText(options.hint);
    if (options.details !== undefined) this.details = redactValue(options.details);
  }

  /** The shape `--json` prints for an error. */
  toJSON(): { code: CamwireErrorCode; message: string; hint?: string; details?: Record<string, unknown> } {
    return { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}), ...(this.details ? { details: this.details } : {}) };
  }
}

export function isCamwireError(e: unknown, code?: CamwireErrorCode): e is CamwireError {
  return e instanceof CamwireError && (code === undefined || e.code === code);
}
