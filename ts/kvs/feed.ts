/**
 * Feeds a raw Annex-B H.264 source into a KvsStream with backpressure
 * (waits for 'drain'), optionally at the source's own pace (a file played
 * like a live camera) and in a loop (a camera that keeps streaming), until
 * the source ends or the signal aborts.
 */
import type { Readable } from 'node:stream';
import { CamwireError } from '../errors';
import type { AudioSource } from './audio-source';
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
  /**
   * An audio track fed beside the video: its frames are put a little ahead of
   * the video the stream has taken (the packager holds them until the video
   * reaches them), never behind it, timed by sample count from startMs (the
   * stream's startMs: the first video frame's time).
   */
  audio?: { source: AudioSource; startMs: number };
}

/**
 * How far ahead of the video taken the audio is kept: twice the most video
 * one of the last 30 pieces added, and two frames, within [100 ms, 1 s]
 * (the packager holds up to 3 s); 1 s until the video has started. Audio
 * put ahead cannot be taken back: when the video ends, the track may run on
 * by up to this lead.
 */
class AudioLead {
  private readonly advances: number[] = [];
  private lastVideoMs = 0;
  constructor(private readonly fps: number) {}
  ms(videoMs: number): number {
    if (videoMs === 0) return 1000;
    // The piece that started the video (parameter sets, the first key frame) is not a measure.
    if (this.lastVideoMs > 0) this.advances.push(videoMs - this.lastVideoMs);
    this.lastVideoMs = videoMs;
    if (this.advances.length > 30) this.advances.shift();
    if (this.advances.length < 3) return 1000;
    return Math.min(1000, Math.max(100, 2 * Math.max(...this.advances) + 2000 / this.fps));
  }
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
  /** Puts audio frames until the audio reaches ms after the start (or its source ends). */
  const audioUpTo = async (ms: number): Promise<void> => {
    const a = o.audio;
    if (!a) return;
    while (!a.source.done && a.source.takenMs <= ms) {
      const before = a.source.takenMs;
      const f = await a.source.next();
      if (!f) return;
      s.putAudio(f.bytes, { pts: a.startMs + Math.round(before) });
    }
  };
  try {
    await feedVideo(s, open, o, clock, started, audioUpTo);
    // The video has ended: the audio up to its last frame goes in, the rest is left unread.
    const m = await settled(s);
    if (!o.signal?.aborted) await audioUpTo((framesIn(m) * 1000) / o.fps - 1);
  } finally {
    o.audio?.source.destroy();
  }
}

/** The metrics once every piece put has been parsed (or the stream stopped moving). */
async function settled(s: KvsStream): Promise<KvsMetrics> {
  for (let i = 0; i < 400; i++) {
    const m = s.metrics();
    if (m.queuedFrames === 0) return m;
    await new Promise((r) => setTimeout(r, 5));
  }
  return s.metrics();
}

async function feedVideo(
  s: KvsStream,
  open: () => Readable,
  o: FeedOptions,
  clock: FeedClock,
  started: number,
  audioUpTo: (ms: number) => Promise<void>,
): Promise<void> {
  const lead = new AudioLead(o.fps);
  let bytesPut = 0;
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
      // With audio, pieces of about a frame (512 bytes until the frame size is known): after
      // each, the audio is brought up to the video, so a piece adds far less video than the lead.
      let piece = o.realtime || o.audio ? 512 : Infinity;
      let busy = false;
      let ended = false;
      const pace = (go: () => void): void =>
        parsed((m) => {
          const step = () => {
            const ahead = (framesIn(m) * 1000) / o.fps - (clock.now() - started);
            if (o.realtime && ahead > 200) clock.wait(ahead, go);
            else go();
          };
          if (o.audio) {
            const videoMs = (framesIn(m) * 1000) / o.fps;
            if (!o.realtime && framesIn(m) > 0) piece = Math.min(64 << 10, Math.max(512, Math.round(bytesPut / framesIn(m))));
            audioUpTo(videoMs + lead.ms(videoMs)).then(step, fail);
          } else step();
        });
      // Pieces not parsed yet hold frames not counted yet: let the native side catch up first
      // (a few turns of the loop; on a machine too busy for that, short waits on the clock). A
      // queue that does not move for 200 such waits (a stream that stopped) no longer holds the
      // source back: the next put says what happened to the stream.
      const parsed = (then: (m: KvsMetrics) => void, spins = 0, waits = 0): void => {
        const m = s.metrics();
        if (m.queuedFrames > 0 && !stopped && waits < 200) {
          if (spins < 100) setImmediate(() => parsed(then, spins + 1, waits));
          else setTimeout(() => parsed(then, 0, waits + 1), 5); // the native side's time, not the pacing clock's
          return;
        }
        then(m);
      };
      const fail = (e: unknown) => {
        stopped = true;
        src.destroy();
        done(() => reject(e));
      };
      const put = (chunk: Buffer, from: number): void => {
        for (let off = from; off < chunk.length; off += piece) {
          if (stopped) return;
          let ok: boolean;
          try {
            ok = s.putAnnexB(chunk.subarray(off, Math.min(chunk.length, off + piece)));
          } catch (e) {
            fail(e);
            return;
          }
          const next = off + piece;
          bytesPut += Math.min(chunk.length, next) - off;
          if (!ok || o.realtime || o.audio) {
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
