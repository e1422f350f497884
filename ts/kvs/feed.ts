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
}

/** Frames the stream has taken so far: packaged, still queued for the network loop, or dropped. */
const framesIn = (m: KvsMetrics) => m.framesStored + m.queuedFrames + m.framesDropped;

export async function feedAnnexB(s: KvsStream, open: () => Readable, o: FeedOptions): Promise<void> {
  const started = Date.now();
  do {
    if (o.signal?.aborted) return;  // an abort that came before this pass: its event will not fire again
    const src = open();
    await new Promise<void>((resolve, reject) => {
      // Not src.destroyed: a file stream destroys itself at its end while the last chunk may still be going in.
      let stopped = false;
      const onAbort = () => { stopped = true; src.destroy(); resolve(); };
      o.signal?.addEventListener('abort', onAbort, { once: true });
      const done = (f: () => void) => { o.signal?.removeEventListener('abort', onAbort); f(); };
      src.on('error', (e: NodeJS.ErrnoException) => {
        stopped = true;
        done(() => reject(new CamwireError('CLI_FILE_NOT_FOUND', `cannot read ${o.what}: ${e.code ?? e.message}`, { cause: e })));
      });
      // Realtime: the chunk goes in 512-byte pieces and the source waits whenever
      // the stream is more than 200 ms ahead of the wall clock, so a low-bit-rate
      // file does not put seconds of frames in at once.
      const piece = o.realtime ? 512 : Infinity;
      let busy = false;
      let ended = false;
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
          const ahead = o.realtime ? (framesIn(s.metrics()) * 1000) / o.fps - (Date.now() - started) : 0;
          const next = off + piece;
          if (!ok || ahead > 200) {
            busy = true;
            src.pause();
            const go = () => put(chunk, next);
            if (!ok) s.once('drain', go);
            else setTimeout(go, ahead);
            return;
          }
        }
        busy = false;
        if (ended) done(resolve);
        else if (src.isPaused() && !stopped) src.resume();
      };
      src.on('end', () => { ended = true; if (!busy) done(resolve); });
      src.on('data', (chunk: Buffer | string) => put(typeof chunk === 'string' ? Buffer.from(chunk) : chunk, 0));
    });
  } while (o.loop && !o.signal?.aborted);
}
