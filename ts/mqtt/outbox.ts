/**
 * The durable outbox: every QoS 1 message is appended to a journal on disk and
 * fsync'd before it is handed to the network, and forgotten only after the
 * broker's PUBACK. A broker restart, a dropped link or a killed process
 * therefore loses nothing; after a restart the journal is replayed in order.
 * Delivery is at least once: a message acknowledged just before a crash may be
 * sent again.
 *
 * Journal format (outbox.jsonl), one JSON object per line:
 *   {"s":SEQ,"t":TOPIC,"p":BASE64,"r":RETAIN}   a message
 *   {"a":SEQ}                                   its PUBACK
 * Appends are grouped: all messages queued in one turn of the event loop share
 * one write and one fdatasync. A torn last line (power cut mid-write) is
 * dropped on open; it was never reported durable. On open the journal is
 * compacted to the pending messages (temp file, fsync, rename, fsync dir).
 */
import fs from 'node:fs';
import path from 'node:path';
import { CamwireError } from '../errors';

export interface OutboxMessage {
  topic: string;
  payload: Buffer;
  retain: boolean;
}

export interface OutboxRecord extends OutboxMessage {
  seq: number;
}

/** Where QoS 1 messages wait for their PUBACK. */
export interface Outbox {
  /** Resolves once the message is stored (on disk for the durable outbox). */
  append(msg: OutboxMessage): Promise<OutboxRecord>;
  /** Appends many at once (one promise, one write and one fdatasync for the durable outbox), in order. */
  appendMany(msgs: OutboxMessage[]): Promise<OutboxRecord[]>;
  /** Forgets a message the broker acknowledged. */
  ack(seq: number): void;
  /** Pending messages in the order they were appended. */
  pending(): OutboxRecord[];
  readonly size: number;
  close(): Promise<void>;
}

/** Process-lifetime outbox: survives reconnects, not restarts. */
export class MemoryOutbox implements Outbox {
  private readonly records = new Map<number, OutboxRecord>();
  private seq = 0;
  async append(msg: OutboxMessage): Promise<OutboxRecord> {
    const rec = { ...msg, seq: ++this.seq };
    this.records.set(rec.seq, rec);
    return rec;
  }
  async appendMany(msgs: OutboxMessage[]): Promise<OutboxRecord[]> {
    return msgs.map((m) => {
      const rec = { ...m, seq: ++this.seq };
      this.records.set(rec.seq, rec);
      return rec;
    });
  }
  ack(seq: number): void {
    this.records.delete(seq);
  }
  pending(): OutboxRecord[] {
    return [...this.records.values()];
  }
  get size(): number {
    return this.records.size;
  }
  async close(): Promise<void> {
    /* nothing to release */
  }
}

interface Waiter {
  rec: OutboxRecord;
  line: string;
  /** Absent on all but the last message of an appendMany (they share one flush: the last one resolves them all). */
  resolve?: (r: OutboxRecord) => void;
  reject?: (e: Error) => void;
}

export interface DurableOutboxStats {
  pending: number;
  appended: number;
  syncs: number;
  compactions: number;
  droppedTornLines: number;
}

export class DurableOutbox implements Outbox {
  private readonly records = new Map<number, OutboxRecord>();
  private queue: Waiter[] = [];
  private ackLines: string[] = [];
  private flushing: Promise<void> | undefined;
  private closed = false;
  /** Set after a failed write: the file may end in a torn line, so nothing more is appended. */
  private failure: CamwireError | undefined;
  private linesInFile = 0;
  private readonly stats: DurableOutboxStats = { pending: 0, appended: 0, syncs: 0, compactions: 0, droppedTornLines: 0 };

  private constructor(
    readonly file: string,
    private fd: number,
    private seq: number,
  ) {}

  /** Opens (creating if needed) the journal in dir and replays it. */
  static async open(dir: string): Promise<DurableOutbox> {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, 'outbox.jsonl');
    const records = new Map<number, OutboxRecord>();
    let maxSeq = 0;
    let torn = 0;
    if (fs.existsSync(file)) {
      const text = fs.readFileSync(file, 'utf8');
      const lines = text.split('\n');
      // Everything before the last '\n' was written whole; what follows it is
      // either empty or a torn append.
      const tail = lines.pop();
      if (tail) torn++;
      lines.forEach((line, i) => {
        if (!line) return;
        let o: { s?: number; t?: string; p?: string; r?: boolean; a?: number };
        try {
          o = JSON.parse(line) as typeof o;
        } catch {
          throw new CamwireError('OUTBOX_CORRUPT', `${file} line ${i + 1} is not a journal record`, {
            hint: 'move the file aside to start a fresh outbox; its readable lines can be recovered by hand',
          });
        }
        if (typeof o.a === 'number') {
          records.delete(o.a);
        } else if (typeof o.s === 'number' && typeof o.t === 'string' && typeof o.p === 'string') {
          records.set(o.s, { seq: o.s, topic: o.t, payload: Buffer.from(o.p, 'base64'), retain: o.r === true });
          maxSeq = Math.max(maxSeq, o.s);
        } else {
          throw new CamwireError('OUTBOX_CORRUPT', `${file} line ${i + 1} has an unknown record shape`);
        }
      });
    }
    // Compact: rewrite just the pending records, then swap files atomically.
    const tmp = `${file}.tmp`;
    const body = [...records.values()].map((r) => recordLine(r)).join('');
    const tfd = fs.openSync(tmp, 'w', 0o600);
    fs.writeSync(tfd, body);
    fs.fdatasyncSync(tfd);
    fs.closeSync(tfd);
    fs.renameSync(tmp, file);
    fsyncDir(dir);
    const fd = fs.openSync(file, 'a', 0o600);
    const box = new DurableOutbox(file, fd, maxSeq);
    for (const [k, v] of records) box.records.set(k, v);
    box.linesInFile = records.size;
    box.stats.droppedTornLines = torn;
    box.stats.compactions = 1;
    return box;
  }

  append(msg: OutboxMessage): Promise<OutboxRecord> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new CamwireError('OUTBOX_CLOSED', 'the outbox is closed'));
    const rec: OutboxRecord = { ...msg, seq: ++this.seq };
    return new Promise((resolve, reject) => {
      this.queue.push({ rec, line: recordLine(rec), resolve, reject });
      this.scheduleFlush();
    });
  }

  appendMany(msgs: OutboxMessage[]): Promise<OutboxRecord[]> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new CamwireError('OUTBOX_CLOSED', 'the outbox is closed'));
    if (!msgs.length) return Promise.resolve([]);
    const recs = msgs.map((m) => ({ ...m, seq: ++this.seq }));
    return new Promise((resolve, reject) => {
      // Pushed together, so one flush takes them all: the last one's waiter answers for the batch.
      // One payload repeated (mqtt pub --count) is base64-encoded once: nothing can change it during this call.
      const b64 = new Map<Buffer, string>();
      const line = (r: OutboxRecord) => {
        let p = b64.get(r.payload);
        if (p === undefined) {
          p = r.payload.toString('base64');
          if (b64.size < 16) b64.set(r.payload, p);
        }
        return recordLine(r, p);
      };
      for (let i = 0; i < recs.length - 1; i++) this.queue.push({ rec: recs[i]!, line: line(recs[i]!) });
      const last = recs[recs.length - 1]!;
      this.queue.push({ rec: last, line: line(last), resolve: () => resolve(recs), reject });
      this.scheduleFlush();
    });
  }

  ack(seq: number): void {
    if (!this.records.delete(seq)) return;
    // Acks need no fsync of their own: losing one only means a duplicate.
    this.ackLines.push(`{"a":${seq}}\n`);
    this.scheduleFlush();
  }

  pending(): OutboxRecord[] {
    return [...this.records.values()];
  }

  get size(): number {
    return this.records.size;
  }

  getStats(): DurableOutboxStats {
    return { ...this.stats, pending: this.records.size };
  }

  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flush());
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length || this.ackLines.length) {
        // At most BATCH_LINES a write and fdatasync: a long burst is written in
        // pieces (bounded memory for the joined lines), and separate appends
        // resolve as their own piece is on disk. One appendMany still resolves
        // only when all of its lines are.
        let batch = this.queue;
        if (batch.length > BATCH_LINES) {
          batch = this.queue.slice(0, BATCH_LINES);
          this.queue = this.queue.slice(BATCH_LINES);
        } else {
          this.queue = [];
        }
        const acks = this.ackLines;
        this.ackLines = [];
        const data = batch.map((w) => w.line).join('') + acks.join('');
        try {
          await writeAll(this.fd, Buffer.from(data));
          if (batch.length) {
            await new Promise<void>((res, rej) => fs.fdatasync(this.fd, (e) => (e ? rej(e) : res())));
            this.stats.syncs++;
          }
        } catch (e) {
          this.failure = new CamwireError('OUTBOX_WRITE_FAILED', `could not write the outbox journal ${this.file}: ${(e as Error).message}`, {
            cause: e,
            hint: 'free disk space or fix permissions, then restart: the journal is replayed and a torn last line dropped',
          });
          for (const w of [...batch, ...this.queue.splice(0)]) w.reject?.(this.failure);
          this.ackLines = [];
          return;
        }
        this.linesInFile += batch.length + acks.length;
        for (const w of batch) {
          this.records.set(w.rec.seq, w.rec);
          this.stats.appended++;
          w.resolve?.(w.rec);
        }
        this.maybeCompact();
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /** Keeps the journal from growing without bound under a long steady stream. */
  private maybeCompact(): void {
    if (this.linesInFile < 20000 || this.linesInFile < 4 * (this.records.size + 1)) return;
    const tmp = `${this.file}.tmp`;
    const tfd = fs.openSync(tmp, 'w', 0o600);
    fs.writeSync(tfd, [...this.records.values()].map((r) => recordLine(r)).join(''));
    fs.fdatasyncSync(tfd);
    fs.closeSync(tfd);
    fs.renameSync(tmp, this.file);
    fsyncDir(path.dirname(this.file));
    fs.closeSync(this.fd);
    this.fd = fs.openSync(this.file, 'a', 0o600);
    this.linesInFile = this.records.size;
    this.stats.compactions++;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing) await this.flushing;
    fs.closeSync(this.fd);
  }
}

/** Journal lines written and synced together at most (a few hundred KiB of small messages). */
const BATCH_LINES = 1024;

/** The topics' JSON (a device publishes on a handful). */
const topicJson = new Map<string, string>();

/** One journal line, byte for byte JSON.stringify({ s, t, p, r }) + '\n', without the object (base64 and a number need no escaping). */
function recordLine(r: OutboxRecord, base64 = r.payload.toString('base64')): string {
  let t = topicJson.get(r.topic);
  if (t === undefined) {
    t = JSON.stringify(r.topic);
    if (topicJson.size < 256) topicJson.set(r.topic, t);
  }
  return `{"s":${r.seq},"t":${t},"p":"${base64}","r":${r.retain ? 'true' : 'false'}}\n`;
}

async function writeAll(fd: number, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    off += await new Promise<number>((res, rej) => fs.write(fd, buf, off, buf.length - off, null, (e, n) => (e ? rej(e) : res(n))));
  }
}

function fsyncDir(dir: string): void {
  const dfd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dfd);
  } finally {
    fs.closeSync(dfd);
  }
}
