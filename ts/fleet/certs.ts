/**
 * The fleet's device certificates (`camwire fleet certs`): N devices named
 * `{prefix}{index:05}` (CN = thing name = MQTT client id), each issued by the
 * camwire CA (ts/pki) with a fresh key, EC P-256 by default.
 *
 * Layout of the certificates directory:
 *
 *     DIR/fleet.json         the index (FleetCertsIndex): prefix, key type, CA fingerprint, every device
 *     DIR/ca.pem             the CA certificate the devices chain to (the broker's client CA)
 *     DIR/{thing}.pem        the device certificate
 *     DIR/{thing}.key        its private key, PKCS#8 PEM, mode 0600
 *
 * A device whose files exist and hold a certificate for that thing, signed by
 * that CA, still valid, with its own key, is reused; only the others are
 * issued, so a run that adds devices issues the new ones only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { CamwireError } from '../errors';
import { checkThingName, loadCaDir, parseKeyType, writePrivateKey, writePublicFile } from '../pki';
import type { CertificateAuthority, KeyType } from '../pki';

export const FLEET_CERTS_KIND = 'camwire.fleet.certs';
export const FLEET_CERTS_VERSION = 1;
export const FLEET_CERTS_INDEX = 'fleet.json';
export const DEFAULT_PREFIX = 'cam';
const ISSUE_CONCURRENCY = 8;
/** The thing name of the fleet-side subscriber (`fleet run --subscriber`), kept out of the devices. */
export const SUBSCRIBER_THING = 'fleet-subscriber';

/** DIR/fleet.json. */
export interface FleetCertsIndex {
  kind: typeof FLEET_CERTS_KIND;
  version: typeof FLEET_CERTS_VERSION;
  prefix: string;
  keyType: KeyType;
  /** The CA certificate file (relative to DIR) and its SHA-256 fingerprint (as OpenSSL prints it). */
  ca: { file: string; subject: string; fingerprint256: string };
  /** Devices 0 … count-1. */
  count: number;
  /** The subscriber's files, when made (`--subscriber`). */
  subscriber?: { thing: string; cert: string; key: string };
  devices: Array<{ index: number; thing: string; cert: string; key: string; serialNumber: string; notAfter: string }>;
}

/** One device as the fleet engine loads it. */
export interface FleetDevice {
  index: number;
  thing: string;
  certPem: string;
  /** PKCS#8 PEM; never log it. */
  keyPem: string;
}

/** What `loadFleetCerts` returns: the CA certificate (PEM) and the devices [from, to). */
export interface LoadedFleetCerts {
  caPem: string;
  prefix: string;
  /** Every device the directory holds (the fleet's size). */
  count: number;
  devices: FleetDevice[];
}

export interface MakeFleetCertsOptions {
  /** CA directory (ca.pem, ca.key), as `camwire pki init-ca` writes it. */
  caDir: string;
  count: number;
  outDir: string;
  prefix?: string;
  keyType?: KeyType;
  /** Device validity in days (default 365). */
  days?: number;
  /** Also the fleet-side subscriber's identity, `fleet-subscriber.pem`/`.key` (what `fleet run --subscriber` uses). */
  subscriber?: boolean;
  /** Called after each device (issued or reused). */
  onProgress?: (done: number, total: number) => void;
}

export interface MakeFleetCertsResult {
  dir: string;
  index: string;
  count: number;
  issued: number;
  reused: number;
  ms: number;
  /** Certificates issued per second of the whole run, reuse checks included (0 when none was issued). */
  perSecond: number;
}

/** `{prefix}{index:05}`, checked as a thing name. */
export function fleetThingName(prefix: string, index: number): string {
  return checkThingName(`${prefix}${String(index).padStart(5, '0')}`);
}

/** The prefix must leave room for the index and use thing-name characters only. */
function checkPrefix(prefix: string): void {
  if (!/^[a-zA-Z0-9:_-]{0,100}$/.test(prefix))
    throw new CamwireError('FLEET_BAD_OPTIONS', `--prefix "${prefix}" must be at most 100 characters of letters, digits, colon, underscore, hyphen`);
}

/** An existing device's files are reusable when the certificate is that thing's, signed by this CA, valid for a day more, and the key its own. */
function reusable(
  certFile: string,
  keyFile: string,
  thing: string,
  ca: X509Certificate,
  keyType: KeyType,
): { serialNumber: string; notAfter: string } | undefined {
  if (!fs.existsSync(certFile) || !fs.existsSync(keyFile)) return undefined;
  try {
    const cert = new X509Certificate(fs.readFileSync(certFile));
    const key = createPrivateKey(fs.readFileSync(keyFile));
    if (cert.subject !== `CN=${thing}`) return undefined;
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return undefined;
    if (new Date(cert.validTo).getTime() < Date.now() + 24 * 3600 * 1000) return undefined;
    if (!cert.checkPrivateKey(key)) return undefined;
    if ((key.asymmetricKeyType === 'ec' ? 'ec' : 'rsa') !== keyType) return undefined;
    return { serialNumber: cert.serialNumber.toLowerCase(), notAfter: new Date(cert.validTo).toISOString() };
  } catch {
    return undefined;
  }
}

/**
 * Makes (or completes) a fleet certificates directory: devices 0 … count-1,
 * reusing every valid one, then writes ca.pem and fleet.json.
 */
export async function makeFleetCerts(o: MakeFleetCertsOptions): Promise<MakeFleetCertsResult> {
  const prefix = o.prefix ?? DEFAULT_PREFIX;
  checkPrefix(prefix);
  if (!Number.isInteger(o.count) || o.count < 1 || o.count > 99999)
    throw new CamwireError('FLEET_BAD_OPTIONS', `--count ${o.count} is out of range (1-99999: five digits of index)`);
  const keyType = o.keyType ?? 'ec';
  const ca: CertificateAuthority = await loadCaDir(o.caDir);
  const caPem = ca.certPem;
  const caX509 = new X509Certificate(caPem);
  fs.mkdirSync(o.outDir, { recursive: true });
  const started = performance.now();
  let issued = 0;
  let reused = 0;
  const devices: FleetCertsIndex['devices'] = [];
  const ensure = async (thing: string) => {
    const cert = `${thing}.pem`;
    const key = `${thing}.key`;
    const certFile = path.join(o.outDir, cert);
    const keyFile = path.join(o.outDir, key);
    const kept = reusable(certFile, keyFile, thing, caX509, keyType);
    if (kept) {
      reused++;
      return { thing, cert, key, ...kept };
    }
    const d = await ca.issueDevice(thing, { keyType, ...(o.days ? { days: o.days } : {}) });
    // The key first: a certificate on disk always has its key beside it. No fsync per
    // file (it halved the rate): a pair lost or torn by a crash fails the reuse check
    // above and is issued again; fleet.json, written last, is synced.
    writePrivateKey(keyFile, d.keyPem, { overwrite: true, fsync: false });
    writePublicFile(certFile, d.certPem, { overwrite: true, fsync: false });
    issued++;
    return { thing, cert, key, serialNumber: d.serialNumber, notAfter: d.notAfter.toISOString() };
  };
  // Key generation and signing run on libuv's thread pool: a few in flight keep every core busy.
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < o.count) {
      const index = next++;
      devices[index] = { index, ...(await ensure(fleetThingName(prefix, index))) };
      o.onProgress?.(++done, o.count);
    }
  };
  await Promise.all(Array.from({ length: Math.min(ISSUE_CONCURRENCY, o.count) }, worker));
  if (o.subscriber) await ensure(SUBSCRIBER_THING);
  const ms = performance.now() - started;
  writePublicFile(path.join(o.outDir, 'ca.pem'), caPem, { overwrite: true });
  const index: FleetCertsIndex = {
    kind: FLEET_CERTS_KIND,
    version: FLEET_CERTS_VERSION,
    prefix,
    keyType,
    ca: { file: 'ca.pem', subject: caX509.subject, fingerprint256: caX509.fingerprint256 },
    count: o.count,
    ...(o.subscriber ? { subscriber: { thing: SUBSCRIBER_THING, cert: `${SUBSCRIBER_THING}.pem`, key: `${SUBSCRIBER_THING}.key` } } : {}),
    devices,
  };
  const indexFile = path.join(o.outDir, FLEET_CERTS_INDEX);
  writePublicFile(indexFile, JSON.stringify(index, null, 2) + '\n', { overwrite: true });
  return {
    dir: path.resolve(o.outDir),
    index: path.resolve(indexFile),
    count: o.count,
    issued,
    reused,
    ms,
    perSecond: issued && ms > 0 ? issued / (ms / 1000) : 0,
  };
}

/** Reads and checks DIR/fleet.json. */
export function readFleetCertsIndex(dir: string): FleetCertsIndex {
  const file = path.join(dir, FLEET_CERTS_INDEX);
  if (!fs.existsSync(file))
    throw new CamwireError('FLEET_CERTS_NOT_FOUND', `${file} not found`, {
      hint: 'make the certificates first: camwire fleet certs --ca CA_DIR --count N --out DIR',
    });
  let v: unknown;
  try {
    v = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CamwireError('FLEET_CERTS_NOT_FOUND', `${file} is not JSON (${(e as Error).message})`, { cause: e });
  }
  const x = v as Partial<FleetCertsIndex>;
  if (x?.kind !== FLEET_CERTS_KIND || x.version !== FLEET_CERTS_VERSION || !Array.isArray(x.devices) || typeof x.count !== 'number' || !x.ca)
    throw new CamwireError('FLEET_CERTS_NOT_FOUND', `${file} is not a camwire fleet certificates index (version ${FLEET_CERTS_VERSION})`);
  parseKeyType(x.keyType);
  return x as FleetCertsIndex;
}

/**
 * Loads devices [from, to) of a certificates directory (to defaults to every
 * device), with the CA certificate. FLEET_NO_CERTS when the directory has no
 * index or holds fewer devices than asked for.
 */
export function loadFleetCerts(dir: string, from = 0, to?: number): LoadedFleetCerts {
  const idx = readFleetCertsIndex(dir);
  const end = to ?? idx.count;
  if (!Number.isInteger(from) || !Number.isInteger(end) || from < 0 || end < from || end > idx.count)
    throw new CamwireError('FLEET_CERTS_NOT_FOUND', `${dir} holds devices 0-${idx.count - 1}; devices [${from}, ${end}) were asked for`, {
      hint: `make more: camwire fleet certs --count ${end} (existing ones are reused)`,
    });
  if (path.basename(idx.ca.file) !== idx.ca.file)
    throw new CamwireError('FLEET_CERTS_NOT_FOUND', `${path.join(dir, FLEET_CERTS_INDEX)}: the CA file names a file outside the directory`);
  const caPem = fs.readFileSync(path.join(dir, idx.ca.file), 'utf8');
  const devices: FleetDevice[] = [];
  for (let i = from; i < end; i++) {
    const d = idx.devices[i];
    if (!d || d.index !== i) throw new CamwireError('FLEET_CERTS_NOT_FOUND', `${path.join(dir, FLEET_CERTS_INDEX)} has no entry for device ${i}`);
    // File names only: an index never points outside its directory.
    if (path.basename(d.cert) !== d.cert || path.basename(d.key) !== d.key)
      throw new CamwireError('FLEET_CERTS_NOT_FOUND', `${path.join(dir, FLEET_CERTS_INDEX)}: device ${i} names files outside the directory`);
    devices.push({
      index: i,
      thing: d.thing,
      certPem: fs.readFileSync(path.join(dir, d.cert), 'utf8'),
      keyPem: fs.readFileSync(path.join(dir, d.key), 'utf8'),
    });
  }
  return { caPem, prefix: idx.prefix, count: idx.count, devices };
}
