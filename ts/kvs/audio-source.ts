/**
 * An audio file or pipe as frames for KvsStream.putAudio, timed by sample
 * count: ADTS AAC (one frame per ADTS header; the header goes with it and
 * the native side strips it and checks it) or raw G.711 (20 ms pieces).
 * Bytes are taken as they come (any chunk boundaries) and only the frames
 * wanted so far are cut off, so memory is the unread part of the source.
 */
import type { Readable } from 'node:stream';
import { CamwireError } from '../errors';

export type AudioFormat = 'adts' | 'alaw' | 'mulaw';

export interface AudioSourceOptions {
  format: AudioFormat;
  /** G.711 only (ADTS headers carry their own). */
  rate?: number;
  channels?: number;
  /** For error messages. */
  what: string;
}

const AAC_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
/** Junk before the first ADTS frame that is skipped (the native ADTS reader's bound too). */
const MAX_SKIP = 64 << 10;

export interface AudioFrame {
  bytes: Buffer;
  /** Samples per channel in this frame. */
  samples: number;
}

export class AudioSource {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private failed: CamwireError | undefined;
  private waiting: (() => void) | undefined;
  private synced = false;
  private skipped = 0;
  /** Samples per channel taken so far; rate known from the first frame (ADTS) or the options (G.711). */
  samples = 0;
  rate: number;
  readonly channels: number;

  constructor(
    private readonly src: Readable,
    private readonly o: AudioSourceOptions,
  ) {
    if (o.format !== 'adts' && !(o.rate && o.channels)) throw new CamwireError('CLI_USAGE', 'G.711 audio needs its rate and channels');
    this.rate = o.format === 'adts' ? 0 : o.rate!;
    this.channels = o.format === 'adts' ? 0 : o.channels!;
    src.on('data', (c: Buffer | string) => {
      const b = typeof c === 'string' ? Buffer.from(c) : c;
      this.chunks.push(b);
      this.buffered += b.length;
      // Enough in hand: the source waits until frames are taken (a pipe is not read into memory whole).
      if (this.buffered > 1 << 20) src.pause();
      this.wake();
    });
    src.on('end', () => {
      this.ended = true;
      this.wake();
    });
    src.on('error', (e: NodeJS.ErrnoException) => {
      this.failed = new CamwireError('CLI_FILE_NOT_FOUND', `cannot read ${o.what}: ${e.code ?? e.message}`, { cause: e });
      this.wake();
    });
  }

  /** Milliseconds of audio taken so far (the next frame's time from the start). */
  get takenMs(): number {
    return this.rate ? (this.samples * 1000) / this.rate : 0;
  }

  get done(): boolean {
    return this.ended && this.buffered === 0;
  }

  /**
   * The next frame, or undefined at the end of the source. Waits for bytes
   * when the source has not delivered a whole frame yet.
   */
  async next(): Promise<AudioFrame | undefined> {
    for (;;) {
      if (this.failed) throw this.failed;
      const f = this.cut();
      if (f) return f;
      if (this.ended) {
        if (this.buffered > 0 && this.o.format === 'adts') {
          throw new CamwireError('AAC_TRUNCATED', `${this.o.what} ends inside an ADTS frame (${this.buffered} bytes left over)`);
        }
        this.chunks = [];
        this.buffered = 0;
        return undefined;
      }
      if (this.src.isPaused()) this.src.resume();
      await new Promise<void>((r) => (this.waiting = r));
    }
  }

  /** Stops reading (the video ended first, or the stream stopped). */
  destroy(): void {
    this.src.destroy();
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  /** The first n buffered bytes as one Buffer (joined only when they span chunks). */
  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  private take(n: number): Buffer {
    const head = this.peek(n);
    const out = head.subarray(0, n);
    if (head.length === n) this.chunks.shift();
    else this.chunks[0] = head.subarray(n);
    this.buffered -= n;
    return out;
  }

  private cut(): AudioFrame | undefined {
    if (this.o.format !== 'adts') {
      // 20 ms of samples (what RTP carries G.711 in); the last piece may be shorter.
      const want = ((this.rate * this.channels) / 50) | 0;
      const n = this.buffered >= want ? want : this.ended ? this.buffered - (this.buffered % this.channels) : 0;
      if (n <= 0) return undefined;
      const bytes = Buffer.from(this.take(n)); // a copy: the pinned frame must not share a read chunk still being cut
      this.samples += n / this.channels;
      return { bytes, samples: n / this.channels };
    }
    while (this.buffered >= 7) {
      const h = this.peek(7);
      if (h[0] !== 0xff || (h[1]! & 0xf6) !== 0xf0) {
        // Before the first frame, junk is skipped (up to 64 KiB); after it, a frame that does not follow its predecessor is an error.
        if (this.synced) throw new CamwireError('AAC_NO_SYNC', `${this.o.what}: no ADTS sync word after ${this.samples} samples (the stream is damaged)`);
        if (++this.skipped > MAX_SKIP)
          throw new CamwireError('AAC_NO_SYNC', `${this.o.what} holds no ADTS frame in its first 64 KiB (give AAC with ADTS headers)`);
        this.take(1);
        continue;
      }
      const index = (h[2]! >> 2) & 0xf;
      const length = ((h[3]! & 3) << 11) | (h[4]! << 3) | (h[5]! >> 5);
      const protectionAbsent = h[1]! & 1;
      if (index >= AAC_RATES.length || length < (protectionAbsent ? 7 : 9)) {
        throw new CamwireError(
          'AAC_BAD_HEADER',
          `${this.o.what}: ADTS header with ${index >= AAC_RATES.length ? `sampling index ${index}` : `frame length ${length}`}`,
        );
      }
      if (this.buffered < length) return undefined;
      const rate = AAC_RATES[index]!;
      if (this.rate && rate !== this.rate) {
        throw new CamwireError('AAC_CONFIG_CHANGED', `${this.o.what}: the sample rate changes from ${this.rate} Hz to ${rate} Hz mid-stream`);
      }
      this.rate = rate;
      this.synced = true;
      const samples = 1024 * ((h[6]! & 3) + 1);
      const bytes = Buffer.from(this.take(length));
      this.samples += samples;
      return { bytes, samples };
    }
    return undefined;
  }
}
