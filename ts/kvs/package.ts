/**
 * H.264 or H.265 to the MKV that KVS PutMedia takes, packaged by the native core on a
 * worker thread: one EBML header, one Segment, a Cluster per fragment starting
 * on a key frame, AVCC frames in SimpleBlocks, avcC CodecPrivate from the
 * stream's SPS/PPS.
 */
import { CamwireError } from '../errors';
import { fromNative, native, NativePackageResult } from '../native';

export interface PackageOptions {
  /** Frame rate used to timestamp the frames of a raw stream (default 30). */
  fps?: number;
  /** A new fragment starts on the first key frame after this many ms (default 2000; 0 = every key frame). */
  fragmentDurationMs?: number;
  /** Cluster timecodes in ms since the Unix epoch (ABSOLUTE) instead of since the first frame (default false). */
  absoluteTimecodes?: boolean;
  /** Timestamp of the first frame in ms (default 0, or now with absoluteTimecodes). */
  startMs?: number;
  /** H.264 or H.265, or found from the stream's parameter sets (default 'auto'). */
  codec?: 'h264' | 'h265' | 'auto';
  /**
   * An audio track (track 2), interleaved with the video by time, starting
   * with it: an ADTS AAC stream (the headers are stripped and the first one's
   * AudioSpecificConfig becomes CodecPrivate; a configuration change is
   * AAC_CONFIG_CHANGED), or raw G.711 A-law/µ-law bytes (format, rate, channels).
   */
  audio?: Buffer;
  audioFormat?: 'adts' | 'alaw' | 'mulaw';
  /** G.711 only (default 8000 Hz, 1 channel); ADTS headers say their own. */
  audioRate?: number;
  audioChannels?: number;
  /**
   * packageAnnexB only: a Buffer to write the MKV into instead of a new one
   * (the result's `mkv` is then its first `bytes`). For an app that packages
   * clip after clip, one buffer reused skips a fresh allocation per clip:
   * first touches of fresh memory are most of the in-memory time. Too small:
   * KVS_BAD_OPTIONS saying how many bytes this MKV needs (a little more than
   * the input). It may not share memory with the input.
   */
  into?: Buffer;
}

export type PackageResult = NativePackageResult & { mkv: Buffer };

/** Checks the options both calls take and gives the native ones (audio added by the caller). */
function nativeOptions(o: Omit<PackageOptions, 'audio'>) {
  const fps = o.fps ?? 30;
  const fragmentDurationMs = o.fragmentDurationMs ?? 2000;
  const absoluteTimecodes = o.absoluteTimecodes ?? false;
  const startMs = o.startMs ?? (absoluteTimecodes ? Date.now() : 0);
  const problems: string[] = [];
  if (!(fps > 0 && fps <= 1000)) problems.push('fps must be in (0, 1000]');
  if (!Number.isInteger(fragmentDurationMs) || fragmentDurationMs < 0 || fragmentDurationMs > 30_000)
    problems.push('fragmentDurationMs must be a whole number in 0..30000');
  if (!Number.isSafeInteger(startMs) || startMs < 0) problems.push('startMs must be a non-negative whole number');
  const codec = o.codec ?? 'auto';
  if (!['h264', 'h265', 'auto'].includes(codec)) problems.push("codec must be 'h264', 'h265' or 'auto'");
  if (o.audioFormat !== undefined && !['adts', 'alaw', 'mulaw'].includes(o.audioFormat)) problems.push("audioFormat must be 'adts', 'alaw' or 'mulaw'");
  return { problems, options: { fps, fragmentDurationMs, absoluteTimecodes, startMs, codec } };
}

const audioOptions = (o: Omit<PackageOptions, 'audio'>) => ({
  audioFormat: o.audioFormat ?? 'adts',
  audioRate: o.audioRate ?? 8000,
  audioChannels: o.audioChannels ?? 1,
});

/** Packages an Annex-B H.264 or H.265 elementary stream into one MKV. The input Buffer is read in place, not copied. */
export async function packageAnnexB(h264: Buffer, o: PackageOptions = {}): Promise<PackageResult> {
  if (!Buffer.isBuffer(h264)) throw new CamwireError('KVS_BAD_OPTIONS', 'packageAnnexB needs a Buffer of Annex-B H.264');
  const { problems, options } = nativeOptions(o);
  if (o.audio !== undefined && !Buffer.isBuffer(o.audio)) problems.push('audio must be a Buffer');
  if (o.into !== undefined && !Buffer.isBuffer(o.into)) problems.push('into must be a Buffer');
  else if (o.into && o.into.buffer === h264.buffer) {
    const a = h264.byteOffset;
    const b = o.into.byteOffset;
    if (a < b + o.into.length && b < a + h264.length) problems.push('into may not share memory with the input');
  }
  if (problems.length) throw new CamwireError('KVS_BAD_OPTIONS', problems.join('; '));
  const stack = new Error().stack;
  try {
    const r = await native().packageAnnexB(h264, {
      ...options,
      ...(o.audio ? { audio: o.audio, ...audioOptions(o) } : {}),
      ...(o.into ? { into: o.into } : {}),
    });
    return (o.into ? { ...r, mkv: o.into.subarray(0, r.bytes) } : r) as PackageResult;
  } catch (e) {
    throw fromNative(e, stack);
  }
}

export interface PackageFileOptions extends Omit<PackageOptions, 'audio' | 'into'> {
  /** An audio file (ADTS AAC, or G.711 with audioFormat) packaged as track 2. */
  audio?: string;
}

/**
 * Packages an Annex-B file into an MKV file, natively from end to end: the
 * input mapped, the MKV written in pieces of a few MiB into a temporary file
 * renamed over `output` once whole (a failure leaves `output` as it was).
 * Memory stays flat whatever the file's size. The result is packageAnnexB's
 * without `mkv` (its size is `bytes`).
 */
export async function packageFile(input: string, output: string, o: PackageFileOptions = {}): Promise<Omit<PackageResult, 'mkv'>> {
  const { problems, options } = nativeOptions(o);
  if (typeof input !== 'string' || typeof output !== 'string') problems.push('input and output must be paths');
  if (o.audio !== undefined && typeof o.audio !== 'string') problems.push('audio must be a path');
  if (problems.length) throw new CamwireError('KVS_BAD_OPTIONS', problems.join('; '));
  const stack = new Error().stack;
  try {
    return await native().packageFile(input, output, { ...options, ...(o.audio !== undefined ? { audio: o.audio, ...audioOptions(o) } : {}) });
  } catch (e) {
    throw fromNative(e, stack);
  }
}
