/**
 * `fleet k8s`: the manifest is a batch/v1 Indexed Job that validates against
 * the Kubernetes Job schema (kubernetes-models, generated from the official
 * OpenAPI), and the same manifest with `completionMode` misspelt, or a
 * container without a name, is shown failing that validation. The pod's
 * shell script parses (sh -n) and runs `fleet run --shard $I/S`.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { fleetJob, FleetJobOptions, fleetJobYaml } from '../ts/fleet/k8s';
import { camwire, camwireJson, run } from './helpers/run';
import { tempDir } from './helpers/tmp';

const dir = tempDir('fleet-k8s');

const base: FleetJobOptions = {
  devices: 3000,
  shards: 3,
  image: 'registry.example/camwire-fleet:0.1.0',
  broker: 'mqtts://mqtt.example.com:8883',
  brokerCaSecret: 'broker-ca',
  caSecret: 'fleet-ca',
  durationS: 60,
  rate: 200,
  publishIntervalS: 5,
  runArgs: ['--subscriber', '--workers', '2'],
  cpu: '2',
  memory: '1Gi',
};

/** Validates a Job object with kubernetes-models; the error message, or undefined when valid. */
async function validateJob(obj: unknown): Promise<string | undefined> {
  const { Job } = await import('kubernetes-models/batch/v1/Job');
  try {
    new Job(obj as ConstructorParameters<typeof Job>[0]).validate();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

function docs(yaml: string): Array<Record<string, unknown>> {
  return parseAllDocuments(yaml).map((d) => {
    if (d.errors.length) throw new Error(d.errors.map((e) => e.message).join('; '));
    return d.toJS() as Record<string, unknown>;
  });
}

type Job = {
  spec: {
    completionMode: string;
    completions: number;
    parallelism: number;
    template: {
      spec: { initContainers?: Array<{ command: string[] }>; containers: Array<{ command: string[]; image?: string }>; volumes: Array<{ name: string }> };
    };
  };
};

for (const [label, o] of [
  ['certificates made in the pods from a CA Secret', base],
  ['certificates from a Secret, reports on a claim', { ...base, caSecret: undefined, certsSecret: 'fleet-certs', reportsClaim: 'fleet-reports' }],
] as Array<[string, FleetJobOptions]>) {
  test(`the Job validates against the Kubernetes schema: ${label}`, async (t) => {
    const yaml = fleetJobYaml(o);
    const [job, ...rest] = docs(yaml);
    t.is(rest.length, 0);
    t.is(await validateJob(job), undefined);
    const j = job as unknown as Job;
    t.like(j.spec, { completionMode: 'Indexed', completions: 3, parallelism: 3 });
    const script = j.spec.template.spec.containers[0]!.command[2]!;
    t.regex(
      script,
      /camwire fleet run --certs \/fleet\/certs --broker mqtts:\/\/mqtt\.example\.com:8883 --broker-ca \/fleet\/broker-ca\/ca\.pem --devices 3000/,
    );
    t.regex(script, /--subscriber --workers 2 --shard "\$I\/3" --report/);
    t.regex(script, /JOB_COMPLETION_INDEX/);
    const sh = run('sh', ['-n', '-c', script]);
    t.is(sh.status, 0, sh.stderr);
    if (o.caSecret) {
      const init = j.spec.template.spec.initContainers![0]!.command;
      t.deepEqual(init.slice(0, 7), ['camwire', 'fleet', 'certs', '--ca', '/fleet/ca', '--count', '3000']);
      t.true(init.includes('--subscriber'), 'the subscriber identity is made too');
    } else t.is(j.spec.template.spec.initContainers, undefined);
    t.log(`${label}: ${Buffer.byteLength(yaml)} bytes of YAML`);
  });
}

test('a broken Job fails that validation: completionMode misspelt, a container without a name, a string for completions', async (t) => {
  const good = fleetJob(base) as unknown as Job;
  const clone = () => JSON.parse(JSON.stringify(good)) as Job;
  const typo = clone();
  typo.spec.completionMode = 'Indexd';
  t.regex((await validateJob(typo)) ?? 'valid', /completionMode must be equal to one of the allowed values/);
  const noName = clone() as unknown as { spec: { template: { spec: { containers: Array<{ name?: string }> } } } };
  delete noName.spec.template.spec.containers[0]!.name;
  t.regex((await validateJob(noName)) ?? 'valid', /containers\/0 must have required property name/);
  const str = clone() as unknown as { spec: { completions: unknown } };
  str.spec.completions = 'three';
  t.regex((await validateJob(str)) ?? 'valid', /completions must be integer/);
});

test('camwire fleet k8s prints or writes the manifest; conflicting or bad options are refused', (t) => {
  const args = [
    'fleet',
    'k8s',
    '--devices',
    '600',
    '--shards',
    '3',
    '--image',
    'camwire-fleet:dev',
    '--broker',
    'mqtts://broker:8883',
    '--ca-secret',
    'fleet-ca',
  ];
  const printed = camwire([...args, '--', '--subscriber']);
  t.is(printed.status, 0, printed.stderr);
  t.like(docs(printed.stdout)[0], { apiVersion: 'batch/v1', kind: 'Job' });
  const file = path.join(dir, 'job.yaml');
  const w = camwireJson<{ file: string; bytes: number }>([...args, '--out', file]);
  t.is(w.bytes, fs.statSync(file).size);
  const both = camwire(['--json', ...args, '--certs-secret', 'fleet-certs']);
  t.is((JSON.parse(both.stdout) as { error: { code: string } }).error.code, 'FLEET_BAD_OPTIONS');
  const owned = camwire(['--json', ...args, '--', '--shard', '0/1']);
  t.is((JSON.parse(owned.stdout) as { error: { code: string } }).error.code, 'FLEET_BAD_OPTIONS');
  const name = camwire(['--json', ...args, '--name', 'Not_A_Name']);
  t.is((JSON.parse(name.stdout) as { error: { code: string } }).error.code, 'FLEET_BAD_OPTIONS');
});
