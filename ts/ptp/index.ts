/**
 * PTP in both roles. PtpCamera is the simulated camera: a PTP/IP responder
 * over a storage directory that any initiator (gphoto2 included) can talk
 * to, which hands received upload targets on as events. PtpClient is the app
 * side: list a camera's files, fetch them (streamed to disk), hand over an
 * upload target. The protocol runs in the native core.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { redactText } from '../common/redact';
import { CamwireError } from '../errors';
import { fromNative, native, NativePtpCamera, NativePtpCameraEvent, NativePtpCameraStarted, NativePtpClient, NativeUsbDevice } from '../native';
import { parseUploadTarget, UploadTarget } from '../common/upload-target';

export const PTPIP_PORT = 15740;
export const STORAGE_ID = 0x00010001;
const ROOT = 0xffffffff;
const ASSOCIATION = 0x3001;

export interface PtpCameraOptions {
  /** The directory served as the camera's store (DCIM layout or anything). */
  storage: string;
  /** 127.0.0.1 unless told otherwise. */
  host?: string;
  /** 15740 by default; 0 picks a free port. */
  port?: number;
  /** 16 bytes in hex (random when absent) and the friendly name sent in the handshake. */
  guid?: string;
  name?: string;
  manufacturer?: string;
  model?: string;
  serial?: string;
  version?: string;
  /**
   * Appear as a virtual USB still-image device (through umockdev) instead of
   * listening on PTP/IP: start() then returns the environment a client
   * process needs (LD_PRELOAD, UMOCKDEV_DIR) to see the camera.
   */
  usb?: boolean;
  /** A fault for testing initiators: the next stallCount (default 1) requests for this operation get no answer. */
  stallOperation?: number;
  stallCount?: number;
  /** DeleteObject allowed (default false) and SendObject allowed (default true). */
  allowDelete?: boolean;
  allowUpload?: boolean;
}

export type PtpCameraStarted = NativePtpCameraStarted;

/**
 * Events: `session-opened` (sessionId), `session-closed` (sessionId),
 * `upload-target` ({ target, via: 'vendor-op' | 'ticket' }), `rejected-target`
 * (CamwireError: the JSON was not a valid upload target), `object-received`
 * (path relative to the storage: an initiator sent it), `object-added`
 * ({ handle, path }: a file appeared in the storage directory), `property-changed` ({ code, value }),
 * `log` ({ kind, detail }: handshakes, busy refusals, ended sessions).
 */
/** PtpCamera's events, typed. */
export interface PtpCameraEvents {
  'session-opened': [sessionId: number];
  'session-closed': [sessionId: number];
  /** A valid upload target handed over by an initiator. */
  'upload-target': [info: { target: UploadTarget; via: 'vendor-op' | 'ticket' }];
  /** An initiator sent JSON that is not a valid upload target. */
  'rejected-target': [err: CamwireError];
  /** An initiator sent an object (SendObject); the path is relative to the storage. */
  'object-received': [path: string];
  /** A file appeared in the storage directory. */
  'object-added': [info: { handle: number; path: string }];
  'property-changed': [info: { code: number; value: string }];
  /** Handshakes, busy refusals, ended sessions. */
  log: [info: { kind: string; detail: string }];
}

export class PtpCamera extends EventEmitter<PtpCameraEvents> {
  private readonly camera: NativePtpCamera;
  port = 0;
  guid = '';

  constructor(readonly options: PtpCameraOptions) {
    super();
    if (!fs.existsSync(options.storage) || !fs.statSync(options.storage).isDirectory()) {
      throw new CamwireError('PTP_STORAGE', `the storage directory ${options.storage} does not exist`);
    }
    try {
      this.camera = new (native().PtpCamera)({ ...options, storage: path.resolve(options.storage), port: options.port ?? PTPIP_PORT }, (e) => this.onEvent(e));
    } catch (e) {
      throw fromNative(e, new Error().stack);
    }
  }

  /** Starts listening (PTP/IP) or attaches the virtual USB device. */
  start(): PtpCameraStarted {
    try {
      const r = this.camera.start();
      this.port = r.port;
      this.guid = r.guid ?? '';
      return r;
    } catch (e) {
      throw fromNative(e, new Error().stack);
    }
  }

  stop(): void {
    this.camera.stop();
  }

  /** The vendor property 0xD2A1 LastUploadStatus an app can read. */
  setLastUploadStatus(s: string): void {
    // Any initiator may read the property: never a signature in it.
    this.camera.setLastUploadStatus(redactText(s));
  }

  property(code: number): string {
    return this.camera.property(code);
  }

  private onEvent(e: NativePtpCameraEvent): void {
    switch (e.kind) {
      case 'session-opened':
      case 'session-closed':
        this.emit(e.kind, e.n);
        break;
      case 'upload-target': {
        let target: UploadTarget;
        try {
          target = parseUploadTarget(e.a ?? '');
        } catch (err) {
          this.emit('rejected-target', err instanceof CamwireError ? err : new CamwireError('UPLOAD_TARGET_INVALID', String(err)));
          break;
        }
        this.emit('upload-target', { target, via: e.b === 'ticket' ? 'ticket' : 'vendor-op' });
        break;
      }
      case 'object-received':
        this.emit('object-received', e.a ?? '');
        break;
      case 'object-added':
        this.emit('object-added', { handle: e.n, path: e.a ?? '' });
        break;
      case 'property-changed':
        this.emit('property-changed', { code: e.n, value: e.a ?? '' });
        break;
      default:
        this.emit('log', { kind: e.a ?? '', detail: e.b ?? '' });
    }
  }
}

export interface PtpObject {
  handle: number;
  /** Path in the camera, e.g. DCIM/100CAMWR/IMG_0001.JPG. */
  path: string;
  filename: string;
  size: number;
  format: number;
  folder: boolean;
  modified: string;
}

export type PtpAddress = { kind: 'ptpip'; host: string; port: number } | { kind: 'usb'; bus: number; address: number };

/** `ptpip:HOST[:PORT]` (or HOST[:PORT]), `usb` (the first PTP camera) or `usb:BUS:DEV`. */
export function parsePtpAddress(to: string): PtpAddress {
  const u = /^usb(?::(\d{1,3})[:,](\d{1,3}))?$/.exec(to);
  if (u) return { kind: 'usb', bus: u[1] ? Number(u[1]) : 0, address: u[2] ? Number(u[2]) : 0 };
  const m = /^(?:ptpip:)?(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(to);
  if (!m) throw new CamwireError('PTP_BAD_ADDRESS', `"${to}" is not ptpip:IPv4[:PORT], usb or usb:BUS:DEV`, { hint: 'e.g. ptpip:192.168.1.1, usb, usb:1:4' });
  return { kind: 'ptpip', host: m[1]!, port: m[2] ? Number(m[2]) : PTPIP_PORT };
}

export type UsbDevice = NativeUsbDevice;

/** What libusb sees. */
export async function usbDevices(): Promise<UsbDevice[]> {
  const stack = new Error().stack;
  try {
    return await native().usbDevices();
  } catch (e) {
    throw fromNative(e, stack);
  }
}

/** The app side of PTP, over PTP/IP or USB: one session per client. */
export class PtpClient {
  private readonly c: NativePtpClient;
  private supportsPartial = false;

  private constructor() {
    this.c = new (native().PtpClient)();
  }

  /** to: ptpip:HOST[:PORT], usb, or usb:BUS:DEV. timeoutMs bounds every step (default 5 s). */
  static async connect(to: string, o: { name?: string; guid?: string; timeoutMs?: number } = {}): Promise<PtpClient> {
    const a = parsePtpAddress(to);
    const client = new PtpClient();
    if (a.kind === 'usb') {
      await client.call(() => client.c.connectUsb(a.bus, a.address, { timeoutMs: o.timeoutMs ?? 5000 }));
    } else {
      await client.call(() =>
        client.c.connect(a.host, a.port, { name: o.name ?? 'camwire', ...(o.guid ? { guid: o.guid } : {}), timeoutMs: o.timeoutMs ?? 5000 }),
      );
    }
    const info = await client.deviceInfo();
    client.supportsPartial = info.operations.includes(0x101b);
    return client;
  }

  deviceInfo(): ReturnType<NativePtpClient['deviceInfo']> {
    return this.call(() => this.c.deviceInfo());
  }

  /** Every object of every store, folders first, with camera paths. */
  async list(): Promise<PtpObject[]> {
    const out: PtpObject[] = [];
    for (const storage of await this.call(() => this.c.storageIds())) {
      const walk = async (parent: number, prefix: string, depth: number): Promise<void> => {
        if (depth > 16) return;
        for (const h of await this.call(() => this.c.objectHandles(storage, parent))) {
          const oi = await this.call(() => this.c.objectInfo(h));
          const folder = oi.format === ASSOCIATION;
          const p = prefix ? `${prefix}/${oi.filename}` : oi.filename;
          out.push({ handle: h, path: p, filename: oi.filename, size: oi.size, format: oi.format, folder, modified: oi.modificationDate });
          if (folder) await walk(h, p, depth + 1);
        }
      };
      await walk(ROOT, '', 0);
    }
    return out;
  }

  /** Fetches one object to a file, streamed (GetPartialObject in 8 MiB pieces when the camera has it). */
  async get(obj: PtpObject, file: string): Promise<number> {
    if (obj.folder) throw new CamwireError('PTP_IS_FOLDER', `${obj.path} is a folder`);
    return this.call(() => this.c.getToFile(obj.handle, obj.size, file, this.supportsPartial && obj.size > 1 << 20));
  }

  /** Hands an upload target to the camera (vendor operation 0x9A01 SetUploadTarget). */
  async sendTarget(target: UploadTarget | string): Promise<void> {
    const json = typeof target === 'string' ? JSON.stringify(parseUploadTarget(target)) : JSON.stringify(target);
    await this.call(() => this.c.setUploadTarget(json));
  }

  /** The next event from the camera (e.g. 0x4002 ObjectAdded with its handle), or null after timeoutMs. */
  waitEvent(timeoutMs: number): Promise<{ code: number; params: number[] } | null> {
    return this.call(() => this.c.waitEvent(timeoutMs));
  }

  close(): Promise<void> {
    return this.call(() => this.c.close());
  }

  private async call<T>(f: () => Promise<T>): Promise<T> {
    const stack = new Error().stack;
    try {
      return await f();
    } catch (e) {
      throw fromNative(e, stack);
    }
  }
}
