import { Command, Option } from 'commander';
import { positiveInt } from './args';
import { Output } from './output';

type Out = () => Output;

/** `camwire testbench`: the local bench a camera's firmware is tested on (docs/testbench.md). */
export function testbenchCommand(out: Out): Command {
  const bench = new Command('testbench').description('the local bench that tests a camera: its CA, certificates and device configuration');
  bench
    .command('init')
    .description('a bench directory: CA, server certificate (SAN = --host), the device certificate and key, bench.json and device.json')
    .requiredOption('--out <dir>', 'the bench directory')
    .requiredOption('--thing <name>', 'the device under test (thing name, MQTT client id, certificate CN, KVS stream)')
    .option('--host <addr...>', 'host names or IPs the camera reaches the bench by (default 127.0.0.1; the first goes in device.json)')
    .addOption(new Option('--key-type <type>', 'key type').choices(['rsa', 'ec']).default('ec'))
    .addOption(new Option('--mqtt-port <n>', 'MQTT over mutual TLS').argParser(positiveInt))
    .addOption(new Option('--s3-port <n>', 'the S3 store').argParser(positiveInt))
    .addOption(new Option('--kvs-port <n>', 'the KVS endpoint').argParser(positiveInt))
    .addOption(new Option('--credentials-port <n>', 'the IoT credentials provider').argParser(positiveInt))
    .option('--force', 'replace an existing bench', false)
    .action(
      async (o: {
        out: string;
        thing: string;
        host?: string[];
        keyType: 'rsa' | 'ec';
        mqttPort?: number;
        s3Port?: number;
        kvsPort?: number;
        credentialsPort?: number;
        force: boolean;
      }) => {
        const { initBench } = require('../testbench') as typeof import('../testbench');
        const r = await initBench({
          out: o.out,
          thing: o.thing,
          ...(o.host ? { hosts: o.host } : {}),
          keyType: o.keyType,
          ports: {
            ...(o.mqttPort ? { mqtt: o.mqttPort } : {}),
            ...(o.s3Port ? { s3: o.s3Port } : {}),
            ...(o.kvsPort ? { kvs: o.kvsPort } : {}),
            ...(o.credentialsPort ? { iotCredentials: o.credentialsPort } : {}),
          },
          force: o.force,
        });
        const c = r.config;
        out().result(
          { dir: r.dir, thing: c.thing, hosts: c.hosts, ports: c.ports, deviceConfig: `${r.dir}/device.json`, files: r.written.length },
          `bench for ${c.thing} in ${r.dir}\n` +
            `  server certificate for ${c.hosts.join(', ')}; MQTT ${c.ports.mqtt}, S3 ${c.ports.s3}, KVS ${c.ports.kvs}, credentials ${c.ports.iotCredentials}\n` +
            `  the device: ${r.dir}/device.json (camwire device --config), its certificate and key in ${r.dir}/device/ (key 0600)`,
        );
      },
    );
  return bench;
}
