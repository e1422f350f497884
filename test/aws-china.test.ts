/**
 * AWS China (aws-cn) beside the standard partition: every generated document
 * in the region's partition (ARNs, the queue URL), a role from another
 * partition refused, URLs presigned for cn-north-1 on amazonaws.com.cn and
 * checked by botocore's own SigV4 signer, the KVS control plane of the
 * region, and KVS refused where AWS China does not offer it.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  backendPolicy,
  iotPolicy,
  jitpRegistrationConfig,
  kvsRolePolicy,
  kvsRoleTrustPolicy,
  jitpRoleTrustPolicy,
  uploadsRuleRolePolicy,
  uploadsRuleTrustPolicy,
  uploadsTopicRule,
} from '../ts/cloud';
import { kvsControlEndpoint, partitionOf, serviceEndpoint } from '../ts/common/partition';
import { CamwireError, isCamwireError } from '../ts/errors';
import { KvsStream } from '../ts/kvs';
import { parseAgentConfig } from '../ts/orchestrator/config';
import { presignPut } from '../ts/upload/presign';
import { camwire, ROOT, run } from './helpers/run';
import { tempDir } from './helpers/tmp';

const ACCOUNT = '123456789012';
const REGIONS = [
  { region: 'cn-north-1', partition: 'aws-cn', suffix: 'amazonaws.com.cn' },
  { region: 'cn-northwest-1', partition: 'aws-cn', suffix: 'amazonaws.com.cn' },
  { region: 'eu-west-1', partition: 'aws', suffix: 'amazonaws.com' },
] as const;

/** Every ARN in a document, its JSON-in-JSON (the JITP template's policy) included. */
function arns(doc: unknown): string[] {
  const text = JSON.stringify(doc).replace(/\\"/g, '"');
  return [...text.matchAll(/arn:[a-z-]+:[^"\s,]*/g)].map((m) => m[0]);
}

function documents(region: string): Record<string, unknown> {
  return {
    iotPolicy: iotPolicy({ region, accountId: ACCOUNT, roleAlias: 'camwire-kvs' }),
    jitp: jitpRegistrationConfig({ region, accountId: ACCOUNT }),
    kvsRolePolicy: kvsRolePolicy({ region, accountId: ACCOUNT }),
    ruleTrust: uploadsRuleTrustPolicy({ region, accountId: ACCOUNT }),
    ruleRole: uploadsRuleRolePolicy({ region, accountId: ACCOUNT }),
    rule: uploadsTopicRule({ region, accountId: ACCOUNT }),
    backend: backendPolicy({ region, accountId: ACCOUNT, bucket: 'camwire-media', queue: 'camwire-uploads' }),
  };
}

test('partitions come from the SDK: aws-cn for both China regions, aws-us-gov, aws; ISO partitions and non-regions refused', (t) => {
  t.like(partitionOf('cn-north-1'), { name: 'aws-cn', dnsSuffix: 'amazonaws.com.cn', arn: 'arn:aws-cn' });
  t.like(partitionOf('cn-northwest-1'), { name: 'aws-cn', dnsSuffix: 'amazonaws.com.cn' });
  t.like(partitionOf('us-gov-west-1'), { name: 'aws-us-gov', dnsSuffix: 'amazonaws.com', arn: 'arn:aws-us-gov' });
  t.like(partitionOf('eu-west-1'), { name: 'aws', dnsSuffix: 'amazonaws.com', arn: 'arn:aws' });
  t.throws(() => partitionOf('us-iso-east-1'), { message: /aws-iso partition/ });
  t.throws(() => partitionOf('Beijing'), { message: /not an AWS region name/ });
  t.is(serviceEndpoint('s3', 'cn-north-1'), 'https://s3.cn-north-1.amazonaws.com.cn');
});

for (const { region, partition, suffix } of REGIONS) {
  test(`${region}: every document's ARNs are ${partition}'s, the queue URL on ${suffix}`, (t) => {
    for (const [name, doc] of Object.entries(documents(region))) {
      const found = arns(doc);
      t.true(found.length > 0, `${name} has ARNs`);
      for (const a of found) t.true(a.startsWith(`arn:${partition}:`), `${name}: ${a}`);
      if (partition !== 'aws') t.false(JSON.stringify(doc).includes('arn:aws:'), name);
    }
    const rule = documents(region)['rule'] as { actions: Array<{ sqs: { queueUrl: string } }> };
    t.is(new URL(rule.actions[0]!.sqs.queueUrl).host, `sqs.${region}.${suffix}`);
    // The service principals are the same names in AWS China (docs.amazonaws.cn: iot.amazonaws.com with arn:aws-cn: ARNs).
    t.is(jitpRoleTrustPolicy().Statement[0]!.Principal!.Service, 'iot.amazonaws.com');
    t.is(kvsRoleTrustPolicy().Statement[0]!.Principal!.Service, 'credentials.iot.amazonaws.com');
  });
}

test('the JITP template embeds a policy of the same partition, and its role may be an arn:aws-cn role', (t) => {
  const cfg = jitpRegistrationConfig({ region: 'cn-north-1', accountId: ACCOUNT, roleArn: `arn:aws-cn:iam::${ACCOUNT}:role/JITPRole` });
  t.is(cfg.roleArn, `arn:aws-cn:iam::${ACCOUNT}:role/JITPRole`);
  const body = JSON.parse(cfg.templateBody) as { Resources: { policy: { Properties: { PolicyDocument: string } } } };
  const policy = JSON.parse(body.Resources.policy.Properties.PolicyDocument) as { Statement: Array<{ Resource: string }> };
  t.true(
    policy.Statement.every((s) => s.Resource.startsWith(`arn:aws-cn:iot:cn-north-1:${ACCOUNT}:`)),
    JSON.stringify(policy),
  );
  // Without a region: the role's partition, or the one named.
  t.true(arns(jitpRegistrationConfig({ roleArn: `arn:aws-cn:iam::${ACCOUNT}:role/JITPRole` })).every((a) => a.startsWith('arn:aws-cn:')));
  t.true(arns(iotPolicy({ partition: 'aws-cn' })).every((a) => a.startsWith('arn:aws-cn:iot:*:*:')));
  t.true(arns(iotPolicy({})).every((a) => a.startsWith('arn:aws:iot:*:*:')));
});

test('a region and a role (or a partition) from different partitions: PKI_PARTITION_MISMATCH, in the library and the CLI', (t) => {
  const e = t.throws(() => jitpRegistrationConfig({ region: 'cn-north-1', accountId: ACCOUNT, roleArn: `arn:aws:iam::${ACCOUNT}:role/JITPRole` }));
  t.true(isCamwireError(e, 'PKI_PARTITION_MISMATCH'), String(e));
  t.regex((e as CamwireError).message, /aws partition, the documents in aws-cn \(region cn-north-1\)/);
  t.true(
    isCamwireError(
      t.throws(() => uploadsTopicRule({ region: 'eu-west-1', accountId: ACCOUNT, roleArn: `arn:aws-cn:iam::${ACCOUNT}:role/r` })),
      'PKI_PARTITION_MISMATCH',
    ),
  );
  t.true(
    isCamwireError(
      t.throws(() => iotPolicy({ region: 'cn-north-1', partition: 'aws' })),
      'PKI_PARTITION_MISMATCH',
    ),
  );
  const cli = camwire(['--json', 'pki', 'jitp-template', '--region', 'cn-north-1', '--account-id', ACCOUNT, '--role-arn', `arn:aws:iam::${ACCOUNT}:role/x`]);
  t.is(cli.status, 1);
  t.is((JSON.parse(cli.stdout) as { error: { code: string } }).error.code, 'PKI_PARTITION_MISMATCH');
});

test('the CLI: pki policy, pki jitp-template and every pki aws document for cn-north-1 use arn:aws-cn: and no arn:aws:', (t) => {
  const region = ['--region', 'cn-north-1', '--account-id', ACCOUNT];
  const commands = [
    ['pki', 'policy', ...region, '--role-alias', 'camwire-kvs'],
    ['pki', 'jitp-template', ...region],
    ['pki', 'jitp-template', ...region, '--body-only'],
    ['pki', 'aws', 'kvs-role-policy', ...region],
    ['pki', 'aws', 'rule-role-trust', ...region],
    ['pki', 'aws', 'rule-role-policy', ...region],
    ['pki', 'aws', 'uploads-rule', ...region],
    ['pki', 'aws', 'backend-policy', ...region, '--bucket', 'camwire-media', '--queue', 'camwire-uploads'],
    ['pki', 'policy', '--partition', 'aws-cn'],
  ];
  for (const c of commands) {
    const r = camwire(c);
    t.is(r.status, 0, `${c.join(' ')}: ${r.stderr}`);
    const found = arns(JSON.parse(r.stdout));
    t.true(found.length > 0, c.join(' '));
    t.true(
      found.every((a) => a.startsWith('arn:aws-cn:')),
      `${c.join(' ')}: ${found.join(' ')}`,
    );
    t.false(r.stdout.replace(/\\"/g, '"').includes('arn:aws:'), c.join(' '));
  }
});

/** botocore's S3 SigV4 query signer over the same request at the same time: the signature it computes for the JS SDK's URL. */
function botocoreSignature(
  url: string,
  key: { accessKeyId: string; secretAccessKey: string },
  region: string,
  contentType: string,
): { signature: string; credential: string; signedHeaders: string } {
  const py = `
import sys, json, datetime, urllib.parse
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
url, ak, sk, region, ctype = sys.argv[1:6]
u = urllib.parse.urlsplit(url)
q = urllib.parse.parse_qsl(u.query, keep_blank_values=True)
params = dict(q)
fixed = datetime.datetime.strptime(params['X-Amz-Date'], '%Y%m%dT%H%M%SZ')
class Fixed(datetime.datetime):
    @classmethod
    def utcnow(cls): return fixed
    @classmethod
    def now(cls, tz=None): return fixed.replace(tzinfo=tz) if tz else fixed
botocore.auth.datetime.datetime = Fixed
if hasattr(botocore.auth, 'get_current_datetime'): botocore.auth.get_current_datetime = lambda *a, **k: fixed
ours = {'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature'}
rest = urllib.parse.urlencode([(k, v) for k, v in q if k not in ours], quote_via=lambda s, *a, **k: urllib.parse.quote(s, safe='-_.~'))
req = AWSRequest(method='PUT', url=urllib.parse.urlunsplit((u.scheme, u.netloc, u.path, rest, '')), headers={'content-type': ctype})
botocore.auth.S3SigV4QueryAuth(Credentials(ak, sk), 's3', region, expires=int(params['X-Amz-Expires'])).add_auth(req)
out = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(req.url).query))
print(json.dumps({'signature': out['X-Amz-Signature'], 'credential': out['X-Amz-Credential'], 'signedHeaders': out['X-Amz-SignedHeaders']}))
`;
  const r = run('python3', ['-c', py, url, key.accessKeyId, key.secretAccessKey, region, contentType]);
  if (r.status !== 0) throw new Error(`botocore (apt-get install python3-boto3): ${r.stderr}`);
  return JSON.parse(r.stdout) as { signature: string; credential: string; signedHeaders: string };
}

for (const bucket of ['camwire-media', 'my.dotted.bucket']) {
  test(`presign put for cn-north-1 (${bucket}): a URL and objectUrl on amazonaws.com.cn, a cn-north-1/s3 scope, the signature botocore computes`, async (t) => {
    const key = { accessKeyId: 'AKIDCHINAEXAMPLE', secretAccessKey: 'china-secret-example' };
    const target = await presignPut({ region: 'cn-north-1', bucket, key: 'devices/cam 1/DSC0001.JPG', contentType: 'image/jpeg', credentials: key });
    const u = new URL(target.put!.url);
    t.true(u.host.endsWith('.amazonaws.com.cn'), u.host);
    t.is(u.host, bucket.includes('.') ? 's3.cn-north-1.amazonaws.com.cn' : `${bucket}.s3.cn-north-1.amazonaws.com.cn`);
    t.regex(u.searchParams.get('X-Amz-Credential')!, /^AKIDCHINAEXAMPLE\/\d{8}\/cn-north-1\/s3\/aws4_request$/);
    const object = new URL(target.objectUrl!);
    t.is(object.search, '');
    t.is(`${object.host}${object.pathname}`, `${u.host}${u.pathname}`);
    t.true(new URL(target.share!.url).host.endsWith('.amazonaws.com.cn'));
    const boto = botocoreSignature(target.put!.url, key, 'cn-north-1', 'image/jpeg');
    t.is(boto.credential, u.searchParams.get('X-Amz-Credential') ?? '');
    t.is(boto.signedHeaders, u.searchParams.get('X-Amz-SignedHeaders') ?? '');
    t.is(boto.signature, u.searchParams.get('X-Amz-Signature') ?? '');
  });
}

test('the independent check fails when the signature is not the one botocore computes', async (t) => {
  const key = { accessKeyId: 'AKIDCHINAEXAMPLE', secretAccessKey: 'china-secret-example' };
  const target = await presignPut({ region: 'cn-north-1', bucket: 'camwire-media', key: 'k.jpg', contentType: 'image/jpeg', credentials: key });
  // Signed for the standard partition's region: the same inputs otherwise, another scope, another signature.
  const boto = botocoreSignature(target.put!.url, key, 'cn-northwest-1', 'image/jpeg');
  t.not(boto.signature, new URL(target.put!.url).searchParams.get('X-Amz-Signature'));
});

test('presign put for eu-west-1 stays on amazonaws.com (objectUrl as the SDK addresses the bucket)', async (t) => {
  const target = await presignPut({ region: 'eu-west-1', bucket: 'camwire-media', key: 'k.jpg', credentials: { accessKeyId: 'AKID', secretAccessKey: 's' } });
  t.is(target.objectUrl, 'https://camwire-media.s3.eu-west-1.amazonaws.com/k.jpg');
});

test('KVS: the control plane of the region; cn-northwest-1 refused before any request, naming cn-north-1', (t) => {
  t.is(kvsControlEndpoint('cn-north-1'), 'https://kinesisvideo.cn-north-1.amazonaws.com.cn');
  t.is(kvsControlEndpoint('eu-west-1'), 'https://kinesisvideo.eu-west-1.amazonaws.com');
  t.is(kvsControlEndpoint('us-gov-west-1'), 'https://kinesisvideo.us-gov-west-1.amazonaws.com');
  const e = t.throws(() => new KvsStream({ streamName: 's', region: 'cn-northwest-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }));
  t.true(isCamwireError(e, 'KVS_REGION_UNSUPPORTED'), String(e));
  t.regex((e as CamwireError).message, /not offered in cn-northwest-1; in aws-cn it is offered in cn-north-1/);
  t.deepEqual((e as CamwireError).details?.['offeredIn'], ['cn-north-1']);
  // An explicit endpoint (a local one, a proxy) is the caller's choice.
  const s = new KvsStream({
    streamName: 's',
    region: 'cn-northwest-1',
    endpoint: 'http://127.0.0.1:9',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
  });
  s.abort();
});

test('camwire kvs stream --region cn-north-1 goes to kinesisvideo.cn-north-1.amazonaws.com.cn; --region cn-northwest-1 is refused at once', async (t) => {
  const refused = camwire(['--json', 'kvs', 'stream', '--region', 'cn-northwest-1', '--stream', 's', '--input', '/dev/null'], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'x' },
  });
  t.is(refused.status, 1, refused.stderr);
  t.is((JSON.parse(refused.stdout) as { error: { code: string } }).error.code, 'KVS_REGION_UNSUPPORTED');
  // Nothing answers for the China endpoint here: the line that names it, then the process is stopped.
  const p = spawn(process.execPath, [`${ROOT}/bin/camwire.js`, 'kvs', 'stream', '--region', 'cn-north-1', '--stream', 's', '--input', '-'], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'x' },
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let err = '';
  const seen = new Promise<void>((resolve) =>
    p.stderr.on('data', (b: Buffer) => {
      err += b.toString();
      if (err.includes('\n')) resolve();
    }),
  );
  t.teardown(() => p.kill('SIGKILL'));
  await seen;
  t.regex(err, /^streaming to s in cn-north-1 via https:\/\/kinesisvideo\.cn-north-1\.amazonaws\.com\.cn\n/);
});

test('a device configuration with KVS in cn-northwest-1 and no endpoint is CONFIG_INVALID, naming the region that has it', (t) => {
  const root = tempDir('china-config');
  fs.mkdirSync(path.join(root, 'storage'));
  const config = (region: string, endpoint?: string) => ({
    thing: 'camera001',
    storage: 'storage',
    ptp: { port: 0 },
    kvs: { streamName: 'camera001', region, ...(endpoint ? { endpoint } : {}), source: { synthetic: true } },
  });
  const e = t.throws(() => parseAgentConfig(config('cn-northwest-1'), root));
  t.true(isCamwireError(e, 'CONFIG_INVALID'), String(e));
  t.regex((e as CamwireError).message, /kvs\.region: Kinesis Video Streams is not offered in cn-northwest-1; in aws-cn it is offered in cn-north-1/);
  t.notThrows(() => parseAgentConfig(config('cn-north-1'), root));
  t.notThrows(() => parseAgentConfig(config('cn-northwest-1', 'https://127.0.0.1:4443'), root));
});

test('a KVS region that is no region name is KVS_BAD_OPTIONS, not an unresolvable host', (t) => {
  const e = t.throws(() => new KvsStream({ streamName: 's', region: 'Beijing', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }));
  t.true(isCamwireError(e, 'KVS_BAD_OPTIONS'), String(e));
  t.regex((e as CamwireError).message, /"Beijing" is not an AWS region name/);
});
