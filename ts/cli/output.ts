/**
 * How the CLI speaks: human lines by default, one JSON document with --json,
 * errors with code and hint. Everything it writes goes through the redactor;
 * only a result's deliverables (an upload's shareUrl, the pre-signed GET it
 * exists to hand out) are shown as they are.
 */
import { redactText, redactValue } from '../common/redact';
import { CamwireError } from '../errors';

/** Result fields that are the command's deliverable, printed unredacted. */
const DELIVERABLES: ReadonlySet<string> = new Set(['shareUrl']);

export interface Output {
  json: boolean;
  /** The command's result: JSON with --json, else the human text. */
  result(value: unknown, human: string | (() => string)): void;
  /** A progress or status line on stderr (suppressed with --json). */
  info(line: string): void;
  /** One event of a long-running command: a timestamped JSON line on stdout with --json, else a timestamped line on stderr. */
  event(value: Record<string, unknown>, human: string): void;
}

export function makeOutput(json: boolean): Output {
  return {
    json,
    result(value, human) {
      if (json) process.stdout.write(JSON.stringify(redactValue(value, DELIVERABLES), null, 2) + '\n');
      else process.stdout.write(redactHuman(typeof human === 'function' ? human() : human, value) + '\n');
    },
    info(line) {
      if (!json) process.stderr.write(redactText(line) + '\n');
    },
    event(value, human) {
      const at = new Date().toISOString();
      if (json) process.stdout.write(JSON.stringify({ at, ...redactValue(value) }) + '\n');
      else process.stderr.write(`${at} ${redactText(human)}\n`);
    },
  };
}

/** The human form of a result, redacted except for the deliverables the value holds. */
function redactHuman(text: string, value: unknown): string {
  const keep = new Map<string, string>();
  if (value && typeof value === 'object') {
    for (const k of DELIVERABLES) {
      const v = (value as Record<string, unknown>)[k];
      if (typeof v === 'string' && text.includes(v)) keep.set(`\u0000${keep.size}\u0000`, v);
    }
  }
  let t = text;
  for (const [mark, v] of keep) t = t.split(v).join(mark);
  t = redactText(t);
  for (const [mark, v] of keep) t = t.split(mark).join(v);
  return t;
}

export function printError(e: unknown, json: boolean): void {
  // A CamwireError redacted itself; anything else is wrapped, and so redacted too.
  const err = e instanceof CamwireError ? e : new CamwireError('INTERNAL', e instanceof Error ? e.message : String(e), { cause: e });
  if (json) {
    process.stdout.write(JSON.stringify({ error: err.toJSON() }, null, 2) + '\n');
    return;
  }
  process.stderr.write(`camwire: ${err.code}: ${err.message}\n`);
  if (err.hint) process.stderr.write(`  hint: ${err.hint}\n`);
  if (err.code === 'INTERNAL' && e instanceof Error && e.stack && process.env['CAMWIRE_DEBUG']) process.stderr.write(redactText(e.stack) + '\n');
}

/**
 * The one progress bar of the CLI: one line on stderr that redraws itself at
 * most every 100 ms on a TTY (and once more at the end), silent elsewhere and
 * with --json. Used by `mqtt pub --count` and `upload`.
 */
export class Progress {
  private last = 0;
  private open = false;
  private readonly tty = process.stderr.isTTY === true;
  constructor(
    private readonly label: string,
    private readonly enabled: boolean,
  ) {}
  /** done of total; detail replaces the default "done/total" after the bar. */
  update(done: number, total: number, detail?: string): void {
    if (!this.enabled || !this.tty) return;
    const now = Date.now();
    if (done < total && now - this.last < 100) return;
    this.last = now;
    const width = 30;
    const filled = Math.min(width, Math.round((done / Math.max(1, total)) * width));
    process.stderr.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${detail ?? `${done}/${total}`}   `);
    this.open = true;
    if (done >= total) this.end();
  }
  /** Redraws the line with a status only (no bar, no end): a run whose total is time, such as `fleet run`. */
  status(detail: string): void {
    if (!this.enabled || !this.tty) return;
    const now = Date.now();
    if (now - this.last < 100) return;
    this.last = now;
    process.stderr.write(`\r${this.label} ${detail}   `);
    this.open = true;
  }
  /** Ends the bar's line, if one is drawn (a failure before the end leaves none half-written). */
  end(): void {
    if (!this.open) return;
    this.open = false;
    process.stderr.write('\n');
  }
}
