/**
 * UploadJournal: what is known about each target id, on disk, so a crash
 * costs at most the parts in flight. One JSON file per target id, replaced
 * atomically (temp file, fsync, rename) whenever a part finishes.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

export interface JournalEntry {
  id: string;
  /** Size and mtime of the file when the upload started: a changed file restarts the upload. */
  file: { size: number; mtimeMs: number };
  /** partNumber -> ETag (quoted, as the store returned it). */
  parts: Record<string, string>;
  /** Set once complete: the published result. */
  result?: unknown;
}

export class UploadJournal {
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private file(id: string): string {
    // Ids are validated, but hash them anyway: no id can name a path.
    return path.join(this.dir, `${crypto.createHash('sha256').update(id).digest('hex').slice(0, 32)}.json`);
  }

  get(id: string): JournalEntry | undefined {
    try {
      const e = JSON.parse(fs.readFileSync(this.file(id), 'utf8')) as JournalEntry;
      return e.id === id ? e : undefined;
    } catch {
      return undefined;
    }
  }

  put(entry: JournalEntry): void {
    const f = this.file(entry.id);
    const tmp = `${f}.${process.pid}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(entry));
      fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, f);
  }

  remove(id: string): void {
    fs.rmSync(this.file(id), { force: true });
  }
}
