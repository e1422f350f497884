/**
 * The only file that loads the native addon. `CAMWIRE_ADDON` (a .node file)
 * if set; otherwise node-gyp-build's resolution: build/Release and build/Debug
 * (a developer's source build; skipped with PREBUILDS_ONLY=1), then
 * prebuilds/<platform>-<arch>/ matched by prebuildify's tags (napi, armv7 or
 * armv8, glibc). The typed interface of everything the addon exports is
 * declared here.
 */
import path from 'node:path';
import { CamwireError } from './errors';
import { isErrorCode } from './error-codes';

export interface LibraryVersion {
  /** Version of the headers the core was compiled against. */
  compiled: string;
  /** Version reported by the library loaded in this process. */
  runtime: string;
}

export interface NativeProbe {
  /** camwire version baked in at build time (from package.json). */
  version: string;
  /** `__cplusplus` of the C++ core: 201402 (C++14). */
  coreCxxStandard: string;
  napiVersion: number;
  /** Protocol modules compiled into the core (kvs, ptp, ...). */
  modules: string[];
  /** OpenSSL: the runtime one is Node's own, which the addon shares. */
  openssl: LibraryVersion;
  libusb: LibraryVersion | null;
  libcurl: LibraryVersion;
  /** "static": libcurl and libusb are inside the addon (a prebuild); "shared": the system's (a source build). */
  dependencies: 'static' | 'shared';
  /** SHA-256 of the native sources this build was made from (scripts/source-hash.js), or "unknown". */
  sourceHash: string;
}

/** The packager's options as the binding takes them; the audio track is a Buffer (packageAnnexB) or a path (packageFile). */
export interface NativePackageOptions<Audio> {
  fps: number;
  fragmentDurationMs: number;
  absoluteTimecodes: boolean;
  startMs: number;
  codec: string;
  audio?: Audio;
  audioFormat?: string;
  audioRate?: number;
  audioChannels?: number;
  /** packageAnnexB: the caller's buffer the MKV is written into (no mkv in the result then). */
  into?: Buffer;
}

export interface NativePackageResult {
  /** The MKV (packageAnnexB; packageFile writes it to its output instead). */
  mkv?: Buffer;
  /** The MKV's size. */
  bytes: number;
  frames: number;
  fragments: number;
  width: number;
  height: number;
  /** The video codec packaged. */
  codec: 'h264' | 'h265';
  /** The audio track (0 when there is none): frames, duration in ms, rate and channels. */
  audioFrames: number;
  audioMs: number;
  audioRate: number;
  audioChannels: number;
}

export interface NativeSignRequest {
  method: string;
  path: string;
  query: Array<[string, string]>;
  headers: Array<[string, string]>;
  payloadSha256: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  region: string;
  service: string;
  amzDate: string;
  normalizePath?: boolean;
  doubleEncodePath?: boolean;
}

export interface NativeSigned {
  canonicalRequest: string;
  stringToSign: string;
  signedHeaders: string;
  signature: string;
  authorization: string;
}

export type MkvReaderEvent =
  | { kind: 'header'; width: number; height: number; codecId: string; codecPrivateSize: number; timecodeScaleNs: number }
  | { kind: 'cluster'; timecode: number }
  | { kind: 'frame'; timecode: number; keyframe: boolean; track: number; size: number }
  | { kind: 'tag'; name: string; value: string };

export interface NativeMkvReader {
  /** Consumes a chunk of a PutMedia MKV body; returns the events it completes. Throws on malformed input. */
  feed(chunk: Buffer): MkvReaderEvent[];
  readonly bytes: number;
}

export interface NativeKvsMetrics {
  bytesSent: number;
  connections: number;
  queuedFrames: number;
  queuedBytes: number;
  storeBytes: number;
  storeFragments: number;
  storeDurationMs: number;
  framesStored: number;
  framesDropped: number;
  /** Frames found in storeDir when the stream started (sent first). */
  framesRecovered: number;
  /** Audio frames put into fragments, and those dropped (before the first video key frame, late for their cluster, or the store full). */
  audioFramesStored: number;
  audioFramesDropped: number;
  /** What RAM holds of the store (all of it without storeDir). */
  storeBytesInMemory: number;
  fragmentsPersisted: number;
  acksBuffering: number;
  acksReceived: number;
  acksPersisted: number;
  acksError: number;
  /** From a fragment's first byte sent to its PERSISTED ack, for the latest one. */
  persistLatencyMs: number;
  connectionAgeMs: number;
  /** The service's clock minus this machine's, measured when it refused a signing time as skewed (0 until then). */
  clockOffsetMs: number;
  dataEndpoint: string;
}

export type NativeKvsEvent =
  | {
      type: 'ack';
      ackType: 'BUFFERING' | 'RECEIVED' | 'PERSISTED' | 'ERROR' | 'IDLE' | 'UNKNOWN';
      timecode?: number;
      fragmentNumber: string;
      errorId?: number;
      errorCode?: string;
    }
  | { type: 'error'; code: string; message: string; fatal: boolean; timecode?: number }
  | { type: 'dropped'; timecode: number; frames: number }
  | { type: 'connected'; connection: number; endpoint: string }
  | { type: 'metrics'; metrics: NativeKvsMetrics }
  | { type: 'closed'; code: string; message: string; metrics: NativeKvsMetrics };

/**
 * The KVS producer's tuning, defined once: KvsStreamOptions takes these as
 * they are, and the binding (binding/kvs_stream.cc) reads them by these names
 * into cpp/kvs/producer.h's ProducerOptions, whose defaults are given here.
 */
export interface KvsProducerTuning {
  /** The video codec of the frames: H.264 or H.265 in Annex-B form, or found from the first parameter sets (default 'auto'). */
  codec?: 'h264' | 'h265' | 'auto';
  /** A new fragment starts on the first key frame after this long (default 2000 ms; 1000-10000). */
  fragmentDurationMs?: number;
  /** Bound of the fragment store in bytes (default 64 MiB; with storeDir, of the disk it takes). */
  storeBytes?: number;
  /**
   * Keep the store on disk in this directory: every fragment not yet
   * PERSISTED is written there before it is sent, closed fragments leave RAM,
   * the oldest are dropped (a KVS_STORE_EVICTED warning) when storeBytes is
   * reached, and a stream started again on the directory sends what it finds
   * first (KVS_STORE_RECOVERED). One stream per directory (KVS_STORE_LOCKED).
   */
  storeDir?: string;
  /** Bound of the fragment store in duration (default 120 s). */
  storeDurationMs?: number;
  /** When the store is full: drop frames up to the next key frame (default), or hold them (putFrame returns false). */
  overflow?: 'drop' | 'block';
  /** Frame rate for putAnnexB streams (default 30). */
  fps?: number;
  /** First putAnnexB timestamp, epoch ms (default: the wall clock). */
  startMs?: number;
  /** Sent as User-Agent (default camwire). */
  userAgent?: string;
  /** TCP and TLS connect timeout (default 5000 ms). */
  connectTimeoutMs?: number;
  /** Rotate the PutMedia connection after this long (default 40 minutes; KVS ends them at 45). */
  rotateAfterMs?: number;
  /** Reconnect when a sent fragment has no BUFFERING ack after this long (default 30 s). */
  staleAfterMs?: number;
  /** How long close() waits for the last PERSISTED ack (default 30 s). */
  persistTimeoutMs?: number;
  /** Full-jitter reconnect backoff: base (default 100 ms), doubling up to the cap (default 10 s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Consecutive 401/403 answers before the stream gives up (default 3). */
  maxAuthFailures?: number;
  /** ERROR acks for one fragment before it is dropped (default 3). */
  maxFragmentErrors?: number;
  /** 0 turns metrics events off (default 1000 ms). */
  metricsIntervalMs?: number;
}

/** Every key of KvsProducerTuning (the compiler holds the list whole). */
export const KVS_TUNING_KEYS = [
  'codec',
  'fragmentDurationMs',
  'storeBytes',
  'storeDir',
  'storeDurationMs',
  'overflow',
  'fps',
  'startMs',
  'userAgent',
  'connectTimeoutMs',
  'rotateAfterMs',
  'staleAfterMs',
  'persistTimeoutMs',
  'backoffBaseMs',
  'backoffMaxMs',
  'maxAuthFailures',
  'maxFragmentErrors',
  'metricsIntervalMs',
] as const satisfies ReadonlyArray<keyof KvsProducerTuning>;
const tuningKeysWhole: Exclude<keyof KvsProducerTuning, (typeof KVS_TUNING_KEYS)[number]> extends never ? true : never = true;
void tuningKeysWhole;

export interface NativeKvsProducerOptions extends KvsProducerTuning {
  streamName: string;
  region: string;
  controlEndpoint?: string;
  dataEndpoint?: string;
  trimOnReceived?: boolean;
  caFile?: string;
  /** PEM roots to trust when there is no caFile (KvsStream passes Node's). */
  caPem?: string;
  insecureSkipTlsVerify?: boolean;
  audioCodec?: 'aac' | 'alaw' | 'mulaw';
  audioRate?: number;
  audioChannels?: number;
  audioSpecificConfig?: Buffer;
}

export interface NativeKvsProducer {
  /** Pins the buffer until the producer has packaged it; returns the bytes queued now. */
  putFrame(frame: Buffer, ptsMs: number, keyframe: boolean | undefined): number;
  putAnnexB(piece: Buffer): number;
  putAudio(frame: Buffer, ptsMs: number): number;
  setCredentials(accessKeyId: string, secretAccessKey: string, sessionToken: string | undefined, expirationMs: number): void;
  close(): void;
  abort(): void;
  metrics(): NativeKvsMetrics;
}

export interface NativePtpCameraEvent {
  kind: string;
  a?: string;
  b?: string;
  n: number;
}

export interface NativePtpCameraStarted {
  /** The PTP/IP port (0 for a USB camera). */
  port: number;
  guid?: string;
  /** USB: the port as gphoto2 names it (usb:001,001), and the client environment. */
  usb?: string;
  env?: Record<string, string>;
}

export interface NativePtpCamera {
  start(): NativePtpCameraStarted;
  stop(): void;
  setLastUploadStatus(s: string): void;
  property(code: number): string;
}

export interface NativePtpClient {
  connect(host: string, port: number, o: { name?: string; guid?: string; timeoutMs?: number }): Promise<{ name: string; guid: string }>;
  connectUsb(bus: number, address: number, o: { timeoutMs?: number }): Promise<{ bus: number; address: number }>;
  deviceInfo(): Promise<{ manufacturer: string; model: string; version: string; serial: string; vendorExtensionId: number; operations: number[] }>;
  storageIds(): Promise<number[]>;
  objectHandles(storage: number, parent: number): Promise<number[]>;
  objectInfo(handle: number): Promise<{ storageId: number; format: number; size: number; parent: number; filename: string; modificationDate: string }>;
  getToFile(handle: number, size: number, file: string, partial: boolean): Promise<number>;
  setUploadTarget(json: string): Promise<void>;
  waitEvent(timeoutMs: number): Promise<{ code: number; params: number[] } | null>;
  close(): Promise<void>;
}

export interface NativeUsbDevice {
  bus: number;
  address: number;
  vendorId: number;
  productId: number;
  manufacturer: string;
  product: string;
  serial: string;
  /** Has a still-image (PTP, class 6/1/1) interface. */
  ptp: boolean;
}

export interface NativeBinding {
  PtpCamera: new (options: object, onEvent: (e: NativePtpCameraEvent) => void) => NativePtpCamera;
  PtpClient: new () => NativePtpClient;
  usbDevices(): Promise<NativeUsbDevice[]>;
  KvsProducer: new (options: NativeKvsProducerOptions, onEvents: (events: NativeKvsEvent[], queuedBytes: number) => void) => NativeKvsProducer;
  /** libcurl's version and the TLS library it uses in this process. */
  kvsTransport(): { curl: string; ssl: string };
  probe(): NativeProbe;
  MkvReader: new () => NativeMkvReader;
  /** SigV4 header signing by the C++ core (the producer's signer). */
  signV4(request: NativeSignRequest): NativeSigned;
  packageAnnexB(h264: Buffer, options: NativePackageOptions<Buffer>): Promise<NativePackageResult>;
  /** File to file: the input mapped, the MKV written as it is made (audio: a path). */
  packageFile(input: string, output: string, options: NativePackageOptions<string>): Promise<Omit<NativePackageResult, 'mkv'>>;
}

/**
 * A CamwireError for a code the native core reported (an error thrown, or an
 * event's code). Every native code is in the catalogue (test/error-codes.test.ts
 * holds it); one that is not would arrive as INTERNAL with the code in details.
 */
export function nativeError(code: string, message: string, details?: Record<string, unknown>): CamwireError {
  if (isErrorCode(code)) return new CamwireError(code, message, details ? { details } : {});
  return new CamwireError('INTERNAL', `${code}: ${message}`, { details: { ...details, nativeCode: code } });
}

/**
 * Native errors carry a stable `code` (see binding/errors.h); this turns them
 * into CamwireError with the caller's stack, and leaves anything else alone.
 */
export function fromNative(e: unknown, callerStack?: string): unknown {
  const n = e as { code?: unknown; message?: string; camwireNative?: boolean };
  if (n && n.camwireNative === true && typeof n.code === 'string') {
    const err = nativeError(n.code, n.message ?? n.code);
    if (callerStack) err.stack = `CamwireError: ${err.message}\n${callerStack.split('\n').slice(1).join('\n')}`;
    return err;
  }
  return e;
}

/** The package root: dist/ and ts/ both sit one level below it. */
export const packageRoot = path.resolve(__dirname, '..');

let cached: { binding: NativeBinding; file: string } | undefined;

function load(): { binding: NativeBinding; file: string } {
  if (cached) return cached;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- node-gyp-build is CommonJS and loads only with the addon
  const gypBuild = require('node-gyp-build') as { path(dir: string): string };
  let file: string;
  try {
    file = process.env['CAMWIRE_ADDON'] ? path.resolve(process.env['CAMWIRE_ADDON']) : gypBuild.path(packageRoot);
  } catch (e) {
    throw new CamwireError('NATIVE_NOT_FOUND', `no camwire native addon for ${process.platform}-${process.arch} under ${packageRoot}`, {
      cause: e,
      hint: 'camwire carries prebuilds for linux-x64, linux-arm64 and linux-arm (armv7) with glibc; elsewhere run `npm rebuild camwire` (needs cmake, g++, pkg-config, libssl-dev, libusb-1.0-0-dev, libcurl4-openssl-dev)',
    });
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the addon path is known only at run time
    cached = { binding: require(file) as NativeBinding, file };
  } catch (e) {
    throw new CamwireError('NATIVE_LOAD_FAILED', `the camwire native addon at ${file} did not load: ${(e as Error).message}`, { cause: e });
  }
  return cached;
}

/** The loaded addon. Throws CamwireError NATIVE_NOT_FOUND / NATIVE_LOAD_FAILED. */
export function native(): NativeBinding {
  return load().binding;
}

/**
 * The hash of the native sources shipped beside the addon (cpp/, binding/,
 * CMakeLists.txt, the prebuild recipe), to compare with probe().sourceHash;
 * undefined when they are not there.
 */
export function packageSourceHash(): string | undefined {
  const script = path.join(packageRoot, 'scripts', 'source-hash.js');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the hash script sits beside the addon and may be absent
    return (require(script) as { sourceHash(): string }).sourceHash();
  } catch {
    return undefined;
  }
}

/** The path of the .node file that was (or would be) loaded. */
export function nativePath(): string {
  return load().file;
}
