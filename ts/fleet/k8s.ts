/**
 * `camwire fleet k8s`: the fleet as a Kubernetes Indexed Job. Pod I of S runs
 * `camwire fleet run --shard I/S` (I from JOB_COMPLETION_INDEX, which the Job
 * controller sets in every pod of an Indexed Job), with its certificates
 * mounted from a Secret or made in an initContainer from a CA Secret, and
 * prints its report as one `CAMWIRE_FLEET_REPORT {…}` line at the end of its
 * log: `kubectl logs` collects it on any cluster (no shared volume needed)
 * and `fleet merge` reads the logs as they are. With a ReadWriteMany claim
 * the report files are written there too. docs/fleet.md walks through it.
 */
import { stringify } from 'yaml';
import { CamwireError } from '../errors';
import { REPORT_LOG_MARKER } from './report';

export interface FleetJobOptions {
  /** Devices over every shard. */
  devices: number;
  /** Pods (completions = parallelism = shards). */
  shards: number;
  /** An image with camwire on its PATH (deploy/fleet/Dockerfile). */
  image: string;
  /** mqtts://HOST:PORT as the pods reach it. */
  broker: string;
  /** Secret holding `ca.pem`, the CA of the broker's server certificate. */
  brokerCaSecret?: string;
  /** Secret holding a whole `fleet certs` directory (fleet.json, ca.pem, {thing}.pem, {thing}.key). */
  certsSecret?: string;
  /** Secret holding the device CA (`ca.pem`, `ca.key`): each pod makes the certificates itself. */
  caSecret?: string;
  /** Thing-name prefix and key type for certificates made in the pod (default cam, ec). */
  prefix?: string;
  keyType?: 'ec' | 'rsa';
  namespace?: string;
  /** Job name (default camwire-fleet). */
  name?: string;
  durationS?: number;
  rate?: number;
  publishIntervalS?: number;
  /** Further `fleet run` options, as they are typed (e.g. ['--subscriber', '--workers', '2']). */
  runArgs?: string[];
  /** A ReadWriteMany PersistentVolumeClaim the pods also write shard-I.json to. */
  reportsClaim?: string;
  /** Container resources (requests = limits for cpu and memory when given). */
  cpu?: string;
  memory?: string;
  /** Pod tolerance to failure: retries of the whole Job (default 0: a failed shard is a failed measurement). */
  backoffLimit?: number;
}

/** Kubernetes object names: DNS-1123 labels (the Job name also prefixes its pods, so at most 52 characters). */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,50}[a-z0-9])?$/;
const SECRET_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** POSIX shell single quoting. */
export const shq = (s: string): string => (/^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

function check(o: FleetJobOptions): void {
  const bad = (m: string, hint?: string) => new CamwireError('FLEET_BAD_OPTIONS', m, hint ? { hint } : {});
  if (!Number.isInteger(o.devices) || o.devices < 1) throw bad(`--devices ${o.devices} must be a whole number of 1 or more`);
  if (!Number.isInteger(o.shards) || o.shards < 1 || o.shards > 100000) throw bad(`--shards ${o.shards} must be 1 to 100000 (Indexed Job completions)`);
  if (o.shards > o.devices) throw bad(`--shards ${o.shards} is more than --devices ${o.devices}: some pods would have no device`);
  if (!o.image.trim() || /\s/.test(o.image)) throw bad(`--image "${o.image}" is not an image reference`);
  if (!/^mqtts?:\/\/[^\s/]+(:\d+)?\/?$/.test(o.broker)) throw bad(`--broker "${o.broker}" is not mqtts://HOST:PORT`);
  if (!!o.certsSecret === !!o.caSecret)
    throw bad('give exactly one of --certs-secret (certificates made beforehand) and --ca-secret (made in each pod)', 'docs/fleet.md: "Kubernetes"');
  for (const [flag, v] of [
    ['--certs-secret', o.certsSecret],
    ['--ca-secret', o.caSecret],
    ['--broker-ca-secret', o.brokerCaSecret],
    ['--reports-claim', o.reportsClaim],
  ] as const)
    if (v !== undefined && !SECRET_NAME.test(v)) throw bad(`${flag} "${v}" is not a Kubernetes object name (lower-case letters, digits, - and .)`);
  if (o.name !== undefined && !DNS_LABEL.test(o.name)) throw bad(`--name "${o.name}" is not a DNS-1123 label of at most 52 characters`);
  if (o.namespace !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(o.namespace)) throw bad(`--namespace "${o.namespace}" is not a namespace name`);
  for (const a of o.runArgs ?? [])
    if (/^--(certs|broker|broker-ca|devices|shard|report)(=|$)/.test(a))
      throw bad(`${a} is set by the Job itself; leave it out of the passed-through run options`);
}

/** The Job (a plain object, as the API server takes it). */
export function fleetJob(o: FleetJobOptions): Record<string, unknown> {
  check(o);
  const name = o.name ?? 'camwire-fleet';
  const labels = { 'app.kubernetes.io/name': 'camwire-fleet', 'app.kubernetes.io/instance': name };
  const run = [
    'camwire',
    'fleet',
    'run',
    '--certs',
    '/fleet/certs',
    '--broker',
    o.broker,
    ...(o.brokerCaSecret ? ['--broker-ca', '/fleet/broker-ca/ca.pem'] : []),
    '--devices',
    String(o.devices),
    ...(o.durationS !== undefined ? ['--duration', String(o.durationS)] : []),
    ...(o.rate !== undefined ? ['--rate', String(o.rate)] : []),
    ...(o.publishIntervalS !== undefined ? ['--publish-interval', String(o.publishIntervalS)] : []),
    ...(o.runArgs ?? []),
  ]
    .map(shq)
    .join(' ');
  const report = '/reports/shard-$I.json';
  // The report line is printed whatever the run's exit status, then that status is the pod's.
  const script = [
    'I="${JOB_COMPLETION_INDEX:?not an Indexed Job pod}"',
    `${run} --shard "$I/${o.shards}" --report "${report}"`,
    'rc=$?',
    `if [ -f "${report}" ]; then printf '%s ' ${REPORT_LOG_MARKER}; tr -d '\\n' < "${report}"; echo; fi`,
    'exit $rc',
  ].join('\n');
  const resources =
    o.cpu || o.memory
      ? {
          requests: { ...(o.cpu ? { cpu: o.cpu } : {}), ...(o.memory ? { memory: o.memory } : {}) },
          limits: { ...(o.cpu ? { cpu: o.cpu } : {}), ...(o.memory ? { memory: o.memory } : {}) },
        }
      : undefined;
  const volumes: Array<Record<string, unknown>> = [
    o.certsSecret ? { name: 'certs', secret: { secretName: o.certsSecret, defaultMode: 0o440 } } : { name: 'certs', emptyDir: { medium: 'Memory' } },
    o.reportsClaim ? { name: 'reports', persistentVolumeClaim: { claimName: o.reportsClaim } } : { name: 'reports', emptyDir: {} },
    ...(o.caSecret ? [{ name: 'ca', secret: { secretName: o.caSecret, defaultMode: 0o440 } }] : []),
    ...(o.brokerCaSecret ? [{ name: 'broker-ca', secret: { secretName: o.brokerCaSecret, defaultMode: 0o444 } }] : []),
  ];
  const mounts = [
    { name: 'certs', mountPath: '/fleet/certs', readOnly: true },
    { name: 'reports', mountPath: '/reports' },
    ...(o.brokerCaSecret ? [{ name: 'broker-ca', mountPath: '/fleet/broker-ca', readOnly: true }] : []),
  ];
  const securityContext = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };
  const initContainers = o.caSecret
    ? [
        {
          name: 'certs',
          image: o.image,
          // Every pod makes the whole fleet's certificates: `fleet run --devices N` checks it has them all, and only its shard's connect.
          command: [
            'camwire',
            'fleet',
            'certs',
            '--ca',
            '/fleet/ca',
            '--count',
            String(o.devices),
            '--out',
            '/fleet/certs',
            '--prefix',
            o.prefix ?? 'cam',
            '--key',
            o.keyType ?? 'ec',
            // `fleet run --subscriber` connects as fleet-subscriber too.
            ...((o.runArgs ?? []).includes('--subscriber') ? ['--subscriber'] : []),
          ],
          volumeMounts: [
            { name: 'certs', mountPath: '/fleet/certs' },
            { name: 'ca', mountPath: '/fleet/ca', readOnly: true },
          ],
          securityContext,
          ...(resources ? { resources } : {}),
        },
      ]
    : undefined;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, ...(o.namespace ? { namespace: o.namespace } : {}), labels },
    spec: {
      completionMode: 'Indexed',
      completions: o.shards,
      parallelism: o.shards,
      backoffLimit: o.backoffLimit ?? 0,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 },
          ...(initContainers ? { initContainers } : {}),
          containers: [
            {
              name: 'fleet',
              image: o.image,
              command: ['/bin/sh', '-c', script],
              volumeMounts: mounts,
              securityContext,
              ...(resources ? { resources } : {}),
            },
          ],
          volumes,
        },
      },
    },
  };
}

/** The Job as YAML (one document). */
export function fleetJobYaml(o: FleetJobOptions): string {
  return stringify(fleetJob(o), { lineWidth: 0, aliasDuplicateObjects: false });
}
