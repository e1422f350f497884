/**
 * The device agent's configuration file (JSON). Every problem is reported
 * at once, as one CONFIG_INVALID error listing them all. Relative paths are
 * taken from the file's directory. docs/device-config.example.json is an
 * annotated example.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CamwireError } from '../errors';
import { checkThingName } from '../common/thing-name';
import { kvsControlEndpoint } from '../common/partition';

export interface AgentConfig {
  thing: string;
  /** The camera's store: what PTP serves and where upload targets' object paths point. */
  storage: string;
  /** cleanSession false (the default): the broker keeps the subscription and queues QoS 1 targets while the camera is away. */
  mqtt?: {
    url: string;
    cert?: string;
    key?: string;
    ca?: string;
    outboxDir?: string;
    protocolVersion?: 4 | 5;
    cleanSession: boolean;
    /** MQTT keep-alive (default 60 s; AWS IoT takes 30-1200). */
    keepaliveSeconds?: number;
  };
  ptp?: { host: string; port: number; usb: boolean; name?: string; guid?: string };
  upload: { concurrency: number; journalDir: string; jobsDir: string };
  kvs?: {
    streamName: string;
    region: string;
    endpoint?: string;
    caFile?: string;
    fragmentDurationMs: number;
    /**
     * An Annex-B H.264 file (or a named pipe, with loop false) played at fps
     * like a live camera, looped by default; or synthetic frames (a moving
     * I_PCM test pattern, about 1.5 bytes per pixel per frame) for as long as
     * the agent runs.
     */
    source: { file?: string; synthetic?: { width: number; height: number }; fps: number; loop: boolean };
    /** The AWS IoT credentials provider with the device certificate; without it the standard AWS chain. */
    iotCredentials?: { endpoint: string; roleAlias: string; ca?: string };
  };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function parseAgentConfig(input: unknown, baseDir: string): AgentConfig {
  const problems: string[] = [];
  const c = isObj(input) ? input : {};
  if (!isObj(input)) problems.push('the configuration must be a JSON object');
  const known = new Set(['thing', 'storage', 'mqtt', 'ptp', 'upload', 'kvs', '$comment']);
  for (const k of Object.keys(c)) if (!known.has(k)) problems.push(`unknown key "${k}" (known: ${[...known].filter((x) => x !== '$comment').join(', ')})`);
  const file = (v: unknown, where: string, mustExist: boolean): string | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !v) {
      problems.push(`${where} must be a path`);
      return undefined;
    }
    const p = path.resolve(baseDir, v);
    if (mustExist && !fs.existsSync(p)) problems.push(`${where}: ${p} does not exist`);
    return p;
  };
  let thing = '';
  if (typeof c['thing'] !== 'string') problems.push('thing is required (the thing name = MQTT client id)');
  else {
    try {
      thing = checkThingName(c['thing']);
    } catch (e) {
      problems.push(`thing: ${(e as Error).message}`);
    }
  }
  const storage = file(c['storage'], 'storage', true) ?? '';
  if (c['storage'] === undefined) problems.push('storage is required (the directory the camera serves and uploads from)');
  let mqtt: AgentConfig['mqtt'];
  if (c['mqtt'] !== undefined) {
    const m = isObj(c['mqtt']) ? c['mqtt'] : {};
    if (!isObj(c['mqtt'])) problems.push('mqtt must be an object');
    const url = m['url'];
    if (typeof url !== 'string' || !/^mqtts?:\/\/[^/]+$/.test(url)) problems.push('mqtt.url must be mqtt://HOST:PORT or mqtts://HOST:PORT');
    const tls = typeof url === 'string' && url.startsWith('mqtts:');
    if (tls && (m['cert'] === undefined || m['key'] === undefined)) problems.push('mqtt.cert and mqtt.key are required with mqtts:// (mutual TLS)');
    const pv = m['protocolVersion'];
    if (pv !== undefined && pv !== 4 && pv !== 5) problems.push('mqtt.protocolVersion must be 4 (3.1.1) or 5');
    if (m['cleanSession'] !== undefined && typeof m['cleanSession'] !== 'boolean') problems.push('mqtt.cleanSession must be true or false');
    const ka = m['keepaliveSeconds'];
    if (ka !== undefined && (typeof ka !== 'number' || !Number.isInteger(ka) || ka < 1 || ka > 1200)) problems.push('mqtt.keepaliveSeconds must be 1-1200');
    mqtt = {
      url: String(url),
      ...(m['cert'] !== undefined ? { cert: file(m['cert'], 'mqtt.cert', true)! } : {}),
      ...(m['key'] !== undefined ? { key: file(m['key'], 'mqtt.key', true)! } : {}),
      ...(m['ca'] !== undefined ? { ca: file(m['ca'], 'mqtt.ca', true)! } : {}),
      ...(m['outboxDir'] !== undefined ? { outboxDir: file(m['outboxDir'], 'mqtt.outboxDir', false)! } : {}),
      ...(pv === 4 || pv === 5 ? { protocolVersion: pv } : {}),
      cleanSession: m['cleanSession'] === true,
      ...(typeof ka === 'number' ? { keepaliveSeconds: ka } : {}),
    };
  }
  let ptp: AgentConfig['ptp'];
  if (c['ptp'] !== undefined) {
    const p = isObj(c['ptp']) ? c['ptp'] : {};
    if (!isObj(c['ptp'])) problems.push('ptp must be an object');
    const port = p['port'] ?? 15740;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) problems.push('ptp.port must be a port number (0: any free one)');
    const host = p['host'] ?? '127.0.0.1';
    if (typeof host !== 'string' || !/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) problems.push('ptp.host must be an IPv4 address');
    if (p['usb'] !== undefined && typeof p['usb'] !== 'boolean') problems.push('ptp.usb must be true or false');
    ptp = {
      host: String(host),
      port: Number(port),
      usb: p['usb'] === true,
      ...(typeof p['name'] === 'string' ? { name: p['name'] } : {}),
      ...(typeof p['guid'] === 'string' ? { guid: p['guid'] } : {}),
    };
  }
  const u = isObj(c['upload']) ? c['upload'] : {};
  if (c['upload'] !== undefined && !isObj(c['upload'])) problems.push('upload must be an object');
  const concurrency = u['concurrency'] ?? 2;
  if (typeof concurrency !== 'number' || !Number.isInteger(concurrency) || concurrency < 1 || concurrency > 16)
    problems.push('upload.concurrency must be 1-16');
  const journalDir = file(u['journalDir'] ?? 'state/journal', 'upload.journalDir', false)!;
  const jobsDir = file(u['jobsDir'] ?? 'state/jobs', 'upload.jobsDir', false)!;
  let kvs: AgentConfig['kvs'];
  if (c['kvs'] !== undefined) {
    const k = isObj(c['kvs']) ? c['kvs'] : {};
    if (!isObj(c['kvs'])) problems.push('kvs must be an object');
    if (typeof k['streamName'] !== 'string' || !/^[a-zA-Z0-9_.-]{1,256}$/.test(k['streamName']))
      problems.push('kvs.streamName must be 1-256 of [a-zA-Z0-9_.-]');
    if (typeof k['region'] !== 'string' || !k['region']) problems.push('kvs.region is required');
    if (k['endpoint'] !== undefined && (typeof k['endpoint'] !== 'string' || !/^https?:\/\//.test(k['endpoint'])))
      problems.push('kvs.endpoint must be an http(s) URL');
    // Without an endpoint the region's own is used: it must be a region that offers KVS (AWS China: cn-north-1 only).
    if (k['endpoint'] === undefined && typeof k['region'] === 'string' && k['region']) {
      try {
        kvsControlEndpoint(k['region']);
      } catch (e) {
        problems.push(`kvs.region: ${(e as Error).message}`);
      }
    }
    const fragment = k['fragmentDurationMs'] ?? 2000;
    if (typeof fragment !== 'number' || fragment < 1000 || fragment > 10000) problems.push('kvs.fragmentDurationMs must be 1000-10000');
    const s = isObj(k['source']) ? k['source'] : {};
    if (!isObj(k['source'])) problems.push('kvs.source must be an object with file (Annex-B H.264) or synthetic, and fps');
    const fps = s['fps'] ?? 30;
    if (typeof fps !== 'number' || !(fps > 0 && fps <= 1000)) problems.push('kvs.source.fps must be in (0, 1000]');
    const src = s['file'] !== undefined ? file(s['file'], 'kvs.source.file', true) : undefined;
    let synthetic: { width: number; height: number } | undefined;
    if (s['synthetic'] !== undefined) {
      const y = s['synthetic'] === true ? {} : isObj(s['synthetic']) ? s['synthetic'] : undefined;
      const w = y?.['width'] ?? 176;
      const h = y?.['height'] ?? 144;
      const ok = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 16 && v <= 1920 && v % 16 === 0;
      if (!y || !ok(w) || !ok(h)) problems.push('kvs.source.synthetic must be true or { width, height } (multiples of 16, 16-1920)');
      else synthetic = { width: Number(w), height: Number(h) };
      // I_PCM is about 1.5 bytes a pixel a frame: keep the pattern within what a camera would send.
      if (typeof fps === 'number' && !(fps >= 1 && fps <= 60)) problems.push('kvs.source.fps must be 1-60 with synthetic frames');
    }
    if ((s['file'] === undefined) === (s['synthetic'] === undefined)) problems.push('kvs.source needs exactly one of file and synthetic');
    let iot: NonNullable<AgentConfig['kvs']>['iotCredentials'];
    if (k['iotCredentials'] !== undefined) {
      const i = isObj(k['iotCredentials']) ? k['iotCredentials'] : {};
      if (typeof i['endpoint'] !== 'string' || typeof i['roleAlias'] !== 'string') problems.push('kvs.iotCredentials needs endpoint and roleAlias');
      if (!mqtt?.cert || !mqtt.key) problems.push('kvs.iotCredentials uses the device certificate: configure mqtt.cert and mqtt.key');
      iot = {
        endpoint: String(i['endpoint']),
        roleAlias: String(i['roleAlias']),
        ...(i['ca'] !== undefined ? { ca: file(i['ca'], 'kvs.iotCredentials.ca', true)! } : {}),
      };
    }
    kvs = {
      streamName: String(k['streamName']),
      region: String(k['region']),
      ...(typeof k['endpoint'] === 'string' ? { endpoint: k['endpoint'] } : {}),
      ...(k['caFile'] !== undefined ? { caFile: file(k['caFile'], 'kvs.caFile', true)! } : {}),
      fragmentDurationMs: Number(fragment),
      source: { ...(src !== undefined ? { file: src } : {}), ...(synthetic ? { synthetic } : {}), fps: Number(fps), loop: s['loop'] !== false },
      ...(iot ? { iotCredentials: iot } : {}),
    };
  }
  if (!mqtt && !ptp) problems.push('nothing to do: configure mqtt (targets from the cloud) and/or ptp (targets from the app)');
  if (problems.length) {
    throw new CamwireError('CONFIG_INVALID', `the device configuration has ${problems.length} problem(s): ${problems.join('; ')}`, { details: { problems } });
  }
  return {
    thing,
    storage,
    ...(mqtt ? { mqtt } : {}),
    ...(ptp ? { ptp } : {}),
    upload: { concurrency: Number(concurrency), journalDir, jobsDir },
    ...(kvs ? { kvs } : {}),
  };
}

export function loadAgentConfig(file: string): AgentConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new CamwireError('CONFIG_NOT_FOUND', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CamwireError('CONFIG_INVALID', `${file} is not valid JSON: ${(e as Error).message}`, { details: { problems: [(e as Error).message] } });
  }
  return parseAgentConfig(json, path.dirname(path.resolve(file)));
}
