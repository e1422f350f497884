import fs from 'node:fs';
import { Command, Option } from 'commander';
import { CamwireError } from '../errors';
import type { DeviceConnection, DeviceConnectionOptions } from '../mqtt';
import { Output, Progress } from './output';
import { positiveInt, readFile } from './args';

type Out = () => Output;

export interface ConnOpts {
  url: string;
  thing: string;
  cert?: string;
  key?: string;
  ca?: string;
  mqttVersion: string;
  connectTimeout: number;
  outbox?: string;
  status: boolean;
  keepalive: number;
}

/**
 * The connection options shared by every command that talks MQTT (also used by `upload`).
 * `announce`: whether the connection speaks as a camera and publishes its
 * retained status by default (`--no-status` turns it off), or stays silent
 * unless `--status` is given (a subscriber is not a camera).
 */
export function addConnectionOptions(c: Command, required = true, announce = true): Command {
  const url = '--url <url>';
  const urlHelp = `broker: mqtt://HOST:PORT (plain) or mqtts://HOST:PORT (mutual TLS; port 443 adds ALPN x-amzn-mqtt-ca)${required ? '' : '; without it nothing is published'}`;
  return (
    required
      ? c.requiredOption(url, urlHelp).requiredOption('--thing <name>', 'thing name = client id')
      : c.option(url, urlHelp).option('--thing <name>', 'thing name = client id')
  )
    .option('--cert <file>', 'client certificate PEM (NAME.pem or NAME.chain.pem)')
    .option('--key <file>', 'client private key PEM')
    .option('--ca <file>', "CA certificate(s) that signed the broker's certificate")
    .addOption(new Option('--mqtt-version <v>', 'MQTT protocol version').choices(['3.1.1', '5']).default('3.1.1'))
    .addOption(new Option('--connect-timeout <s>', 'give up connecting after this many seconds').argParser(positiveInt).default(30))
    .addOption(new Option('--keepalive <s>', 'keep-alive seconds').argParser(positiveInt).default(60))
    .option('--outbox <dir>', 'durable outbox directory: QoS 1 messages survive restarts until acknowledged')
    .addOption(
      announce
        ? new Option('--no-status', 'do not publish the retained cameras/{thing}/status (online, last will offline)')
        : new Option('--status', 'publish the retained cameras/{thing}/status (online, last will offline) as a camera does').default(false),
    );
}

export interface ConnOptsPartial extends Omit<ConnOpts, 'url' | 'thing'> {
  url?: string;
  thing?: string;
}

export function connectionOptions(o: ConnOpts): DeviceConnectionOptions {
  return {
    url: o.url,
    thing: o.thing,
    ...(o.cert ? { cert: readFile(o.cert, 'certificate') } : {}),
    ...(o.key ? { key: readFile(o.key, 'key') } : {}),
    ...(o.ca ? { ca: readFile(o.ca, 'CA') } : {}),
    protocolVersion: o.mqttVersion === '5' ? 5 : 4,
    keepaliveSeconds: o.keepalive,
    status: o.status,
    ...(o.outbox ? { outboxDir: o.outbox } : {}),
  };
}

export async function openConnection(o: ConnOpts, out: Output): Promise<DeviceConnection> {
  // mqtt.js loads only when a command connects.
  const { DeviceConnection: Connection } = require('../mqtt') as typeof import('../mqtt');
  const conn = new Connection(connectionOptions(o));
  conn.on('error', (e, { fatal }) => {
    if (!fatal) out.info(`  ${e.code}: ${e.message}`);
  });
  conn.on('reconnecting', ({ attempt, delayMs }) => out.info(`  reconnecting in ${delayMs} ms (attempt ${attempt})`));
  await conn.connect({ timeoutMs: o.connectTimeout * 1000 });
  return conn;
}

const qosOption = () => new Option('--qos <n>', 'QoS').choices(['0', '1']).default('1');

export function mqttCommand(out: Out): Command {
  const mqtt = new Command('mqtt').description('talk MQTT as a camera does with AWS IoT: client id = thing name, mutual TLS');

  addConnectionOptions(mqtt.command('pub').description('publish a message (QoS 1 waits for PUBACK, through the outbox)'))
    .requiredOption('--topic <topic>', 'topic, e.g. cameras/camera001/uploads')
    .option('--message <text>', 'payload text')
    .option('--file <file>', 'payload from a file (- for stdin)')
    .addOption(qosOption())
    .option('--retain', 'retain the message', false)
    .addOption(new Option('--count <n>', 'publish the message n times ({n} in the message is replaced by the index)').argParser(positiveInt).default(1))
    .action(async (o: ConnOpts & { topic: string; message?: string; file?: string; qos: string; retain: boolean; count: number }) => {
      if ((o.message === undefined) === (o.file === undefined)) throw new CamwireError('CLI_BAD_ARGUMENT', 'give exactly one of --message and --file');
      const payload = o.file !== undefined ? (o.file === '-' ? fs.readFileSync(0) : fs.readFileSync(o.file)) : Buffer.from(o.message!);
      const output = out();
      const started = Date.now();
      const conn = await openConnection(o, output);
      const connectedMs = Date.now() - started;
      const qos = o.qos === '0' ? 0 : 1;
      const progress = new Progress('publishing', !output.json && o.count > 1);
      let done = 0;
      const t0 = Date.now();
      try {
        const text = payload.toString();
        const templated = o.count > 1 && o.file === undefined && text.includes('{n}');
        const body = (i: number) => (templated ? Buffer.from(text.split('{n}').join(String(i))) : payload);
        if (qos === 1) {
          // One batch: stored together (one fdatasync when durable), sent through the in-flight window.
          const onDelivered = () => progress.update(++done, o.count);
          conn.on('delivered', onDelivered);
          try {
            await conn.publishMany(
              o.topic,
              Array.from({ length: o.count }, (_, i) => body(i)),
              { retain: o.retain },
            );
          } finally {
            conn.off('delivered', onDelivered);
          }
        } else {
          for (let i = 0; i < o.count; i++) {
            await conn.publish(o.topic, body(i), { qos, retain: o.retain });
            progress.update(++done, o.count);
          }
        }
        // Messages an earlier, interrupted run left in the outbox go out too.
        if (o.outbox) await conn.drain();
      } finally {
        await conn.close();
      }
      const ms = Date.now() - t0;
      const recovered = conn.recovered;
      out().result(
        {
          topic: o.topic,
          count: o.count,
          qos,
          bytes: payload.length,
          connectMs: connectedMs,
          publishMs: ms,
          perSecond: Math.round((o.count / Math.max(ms, 1)) * 1000),
          flushed: recovered,
        },
        `published ${o.count} message(s) to ${o.topic} at QoS ${qos}${qos === 1 ? ' (all acknowledged)' : ''} in ${ms} ms` +
          (recovered ? `\n  and ${recovered} message(s) an earlier run left in the outbox ${o.outbox}, all acknowledged` : ''),
      );
    });

  addConnectionOptions(
    mqtt.command('flush').description('send what an earlier run left in the durable outbox (--outbox) and wait until the broker acknowledged all of it'),
  ).action(async (o: ConnOpts) => {
    if (!o.outbox) throw new CamwireError('CLI_BAD_ARGUMENT', 'mqtt flush needs --outbox DIR (the outbox of the run that was interrupted)');
    const output = out();
    const t0 = Date.now();
    const conn = await openConnection(o, output);
    const recovered = conn.recovered;
    if (recovered) output.info(`  ${recovered} message(s) in ${o.outbox}; sending`);
    try {
      await conn.drain();
    } finally {
      await conn.close();
    }
    const ms = Date.now() - t0;
    out().result(
      { outbox: o.outbox, flushed: recovered, ms },
      recovered ? `flushed ${recovered} message(s) from ${o.outbox}, all acknowledged, in ${ms} ms` : `the outbox ${o.outbox} was empty; nothing to send`,
    );
  });

  addConnectionOptions(mqtt.command('sub').description('subscribe and print messages (one JSON line each with --json)'), true, false)
    .requiredOption('--topic <filter>', 'topic filter, e.g. cameras/camera001/#')
    .addOption(qosOption())
    .addOption(new Option('--count <n>', 'exit after n messages from others').argParser(positiveInt))
    .addOption(new Option('--timeout <s>', 'exit with an error after s seconds without enough messages').argParser(positiveInt))
    .action(async (o: ConnOpts & { topic: string; qos: string; count?: number; timeout?: number }) => {
      const output = out();
      const conn = await openConnection(o, output);
      // With --status the subscriber's own online/offline come back on its
      // status topic (live, or retained on subscribe); only the client with
      // this client id writes there, so they are its own and not shown.
      const ownStatus = o.status ? (require('../mqtt') as typeof import('../mqtt')).topics.status(conn.thing) : undefined;
      let n = 0;
      let stopped = false;
      await new Promise<void>((resolve, reject) => {
        const timer = o.timeout
          ? setTimeout(() => {
              stopped = true;
              reject(new CamwireError('MQTT_TIMEOUT', `${n} message(s) in ${o.timeout} s${o.count ? `, wanted ${o.count}` : ''}`));
            }, o.timeout * 1000)
          : undefined;
        const stop = () => {
          stopped = true;
          if (timer) clearTimeout(timer);
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        conn.on('message', (topic, payload, packet) => {
          // Messages still arriving while the connection closes are past the count.
          if (stopped || topic === ownStatus) return;
          n++;
          if (output.json) process.stdout.write(JSON.stringify({ topic, payload: payload.toString('utf8'), qos: packet.qos, retain: packet.retain }) + '\n');
          else process.stdout.write(`${topic} ${payload.toString('utf8')}\n`);
          if (o.count && n >= o.count) stop();
        });
        conn.on('error', (e, { fatal }) => {
          if (fatal) reject(e);
        });
        conn.subscribe(o.topic, { qos: o.qos === '0' ? 0 : 1 }).then(() => output.info(`subscribed to ${o.topic}`), reject);
      }).finally(() => conn.close());
    });

  return mqtt;
}
