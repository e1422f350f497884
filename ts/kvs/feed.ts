/**
 * Feeds a raw Annex-B H.264 source into a KvsStream with backpressure
 * (waits for 'drain'), optionally at the source's own pace (a file played
 * like a live camera) and in a loop (a camera that keeps streaming), until
 * the source ends or the signal aborts.
 */
import type { Readable } from 'node:stream';
import { CamwireError } from '../errors';
import type { KvsMetrics, KvsStream } from './stream';

export interface FeedOptions {
  fps: number;
  /** No faster than fps (by the frames the stream has taken). */
  realtime: boolean;
  /** Open the source again when it ends. */
  loop?: boolean;
  signal?: AbortSignal;
  /** For error messages: what the source is. */
  what: string;
  /** The clock realtime pacing reads and waits on (default: the wall clock and setTimeout). */
  clock?: FeedClock;
}

export interface FeedClock {
  now(): number;
  /** Calls go after ms. */
  wait(ms: number, go: () => void): void;
}

const wallClock: FeedClock = {
  now: () => Date.now(),
  wait: (ms, go) => {
    setTimeout(go, ms);
  },
};

/**
 * Frames the stream has taken so far: packaged or dropped. Read once the
 * native side has parsed every piece put: queuedFrames counts queued pieces
 * for putAnnexB, not frames, so counting it made the lead depend on how far
 * the native thread had got. The frame still being assembled is not counted
 * yet, so the lead may be one frame more than measured.
 */
const framesIn = (m: KvsMetrics) => m.framesStored + m.framesDropped;

export async function feedAnnexB(s: KvsStream, open: () => Readable, o: FeedOptions): Promise<void> {
  const clock = o.clock ?? wallClock;
  const started = clock.now();
  do {
    if (o.signal?.aborted) return; // an abort that came before this pass: its event will not fire again
    const src = open();
    await new Promise<void>((resolve, reject) => {
      // Not src.destroyed: a file stream destroys itself at its end while the last chunk may still be going in.
      let stopped = false;
      const onAbort = () => {
        stopped = true;
        src.destroy();
        resolve();
      };
      o.signal?.addEventListener('abort', onAbort, { once: true });
      const done = (f: () => void) => {
        o.signal?.removeEventListener('abort', onAbort);
        f();
      };
      src.on('error', (e: NodeJS.ErrnoException) => {
        stopped = true;
        done(() => reject(new CamwireError('CLI_FILE_NOT_FOUND', `cannot read ${o.what}: ${e.code ?? e.message}`, { cause: e })));
      });
      // Realtime: the chunk goes in 512-byte pieces, and after each the source
      // waits whenever the stream is more than 200 ms ahead of the clock, so a
      // low-bit-rate file does not put seconds of frames in at once.
      const piece = o.realtime ? 512 : Infinity;
      let busy = false;
      let ended = false;
      const pace = (go: () => void, spins = 0, waits = 0): void => {
        const m = s.metrics();
        // Pieces not parsed yet hold frames not counted yet: let the native side catch up first
        // (a few turns of the loop; on a machine too busy for that, short waits on the clock). A
        // queue that does not move for 200 such waits (a stream that stopped) no longer holds the
        // source back: the next put says what happened to the stream.
        if (m.queuedFrames > 0 && !stopped && waits < 200) {
          if (spins < 100) setImmediate(() => pace(go, spins + 1, waits));
          else setTimeout(() => pace(go, 0, waits + 1), 5); // the native side's time, not the pacing clock's
          return;
        }
        const ahead = (framesIn(m) * 1000) / o.fps - (clock.now() - started);
        if (ahead > 200) clock.wait(ahead, go);
        else go();
      };
      const put = (chunk: Buffer, from: number): void => {
        for (let off = from; off < chunk.length; off += piece) {
          if (stopped) return;
          let ok: boolean;
          try {
            ok = s.putAnnexB(chunk.subarray(off, Math.min(chunk.length, off + piece)));
          } catch (e) {
            stopped = true;
            src.destroy();
            done(() => reject(e));
            return;
          }
          const next = off + piece;
          if (!ok || o.realtime) {
            busy = true;
            src.pause();
            const go = () => put(chunk, next);
            if (!ok) s.once('drain', go);
            else pace(go);
            return;
          }
        }
        busy = false;
        if (ended) done(resolve);
        else if (src.isPaused() && !stopped) src.resume();
      };
      src.on('end', () => {
        ended = true;
        if (!busy) done(resolve);
      });
      src.on('data', (chunk: Buffer | string) => put(typeof chunk === 'string' ? Buffer.from(chunk) : chunk, 0));
    });
  } while (o.loop && !o.signal?.aborted);
}
