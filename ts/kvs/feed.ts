/**
 * Feeds a raw Annex-B H.264 source into a KvsStream with backpressure
 * (waits for 'drain'), optionally at the source's own pace (a file played
 * like a live camera) and in a loop (a camera that keeps streaming), until
 * the source ends or the signal aborts.
 */
import type { Readable } from 'node:stream';
import { CamwireError } from '../errors';
import type { KvsStream } from './stream';

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

export async function feedAnnexB(s: KvsStream, open: () => Readable, o: FeedOptions): Promise<void> {
  const started = Date.now();
  do {
    const src = open();
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => { src.destroy(); resolve(); };
      o.signal?.addEventListener('abort', onAbort, { once: true });
      const done = (f: () => void) => { o.signal?.removeEventListener('abort', onAbort); f(); };
      src.on('error', (e: NodeJS.ErrnoException) => done(() => reject(new CamwireError('CLI_FILE_NOT_FOUND', `cannot read ${o.what}: ${e.code ?? e.message}`, { cause: e }))));
      src.on('end', () => done(resolve));
      src.on('data', (chunk: Buffer | string) => {
        let ok: boolean;
        try {
          ok = s.putAnnexB(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
        } catch (e) {
          src.destroy();
          done(() => reject(e));
          return;
        }
        const ahead = o.realtime ? (s.metrics().framesStored * 1000) / o.fps - (Date.now() - started) : 0;
        if (!ok || ahead > 200) {
          src.pause();
          const resume = () => { if (!src.destroyed) src.resume(); };
          if (!ok) s.once('drain', resume);
          else setTimeout(resume, ahead);
        }
      });
    });
  } while (o.loop && !o.signal?.aborted);
}
