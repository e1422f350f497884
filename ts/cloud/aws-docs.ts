/**
 * The AWS documents a camwire deployment needs beside the IoT policy and the
 * JITP template (aws.ts): the IAM roles for JITP, for the IoT credentials
 * provider (KVS) and for the topic rule; the rule that forwards upload results
 * to SQS; the S3 lifecycle rule for abandoned multipart uploads; the back
 * end's policy; a Route53 CNAME for a custom IoT domain. Each is the JSON the
 * matching `aws` command takes (docs/aws-setup.md, checked by a test).
 */
import { arnPartition, awsAccount, awsRegion, badArgument, checkName, checkRoleArn, dnsSuffix, PartitionHint } from './aws-arn';

export interface IamStatement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource?: string | string[];
  Principal?: { Service: string };
  Condition?: Record<string, Record<string, string>>;
}

export interface IamPolicyDocument {
  Version: '2012-10-17';
  Statement: IamStatement[];
}

/** The SQS queue the uploads rule writes to unless told otherwise. */
export const DEFAULT_UPLOADS_QUEUE = 'camwire-uploads';
/** The topic rule's name unless told otherwise (rule names take no hyphens). */
export const DEFAULT_UPLOADS_RULE = 'camwire_uploads';
/** The IAM role the topic rule runs as unless told otherwise. */
export const DEFAULT_UPLOADS_RULE_ROLE = 'camwire-uploads-rule';

function trust(service: string, condition?: IamStatement['Condition']): IamPolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole', ...(condition ? { Condition: condition } : {}) }],
  };
}

/**
 * Trust policy of the role JITP provisions with (`roleArn` of the JITP
 * template): AWS IoT may assume it. Attach the AWS managed policy
 * AWSIoTThingsRegistration to the role for the permissions.
 */
export function jitpRoleTrustPolicy(): IamPolicyDocument {
  return trust('iot.amazonaws.com');
}

/**
 * Trust policy of the role behind the IoT role alias: the credentials
 * provider (credentials.iot.amazonaws.com) assumes it for a camera that
 * presented its certificate.
 */
export function kvsRoleTrustPolicy(): IamPolicyDocument {
  return trust('credentials.iot.amazonaws.com');
}

export interface KvsRolePolicyOptions {
  /** Region of the streams (its partition's ARNs); `*` when absent. */
  region?: string;
  /** Without a region: the partition of the ARNs (default aws). */
  partition?: PartitionHint['partition'];
  /** Account of the streams; `*` when absent. */
  accountId?: string;
}

/**
 * What a camera may do with the credentials it got: stream into the Kinesis
 * video stream named like its thing, and nothing else. The credentials
 * provider sets `credentials-iot:ThingName` from the x-amzn-iot-thingname
 * header camwire sends, once it checked the certificate is attached to that thing.
 */
export function kvsRolePolicy(o: KvsRolePolicyOptions = {}): IamPolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: ['kinesisvideo:DescribeStream', 'kinesisvideo:GetDataEndpoint', 'kinesisvideo:PutMedia'],
        // Stream ARNs end in /CREATION-TIME, hence the trailing /*.
        Resource: `${arnPartition(o)}:kinesisvideo:${awsRegion(o.region)}:${awsAccount(o.accountId)}:stream/\${credentials-iot:ThingName}/*`,
      },
    ],
  };
}

function queueName(queue: string | undefined): string {
  const q = queue ?? DEFAULT_UPLOADS_QUEUE;
  if (q.endsWith('.fifo')) throw badArgument(`"${q}" is a FIFO queue; the AWS IoT SQS rule action only writes to standard queues`);
  return checkName(q, /^[\w-]{1,80}$/, 'SQS queue name', 'letters, digits, - and _, up to 80');
}

function ruleName(rule: string | undefined): string {
  return checkName(rule ?? DEFAULT_UPLOADS_RULE, /^\w{1,128}$/, 'topic rule name', 'letters, digits and _, no hyphens');
}

function topicRoot(root: string | undefined): string {
  return checkName(root ?? 'cameras', /^[\w-]{1,64}$/, 'topic root', 'letters, digits, - and _');
}

export interface UploadsRuleOptions {
  /** Region of the queue and the rule. */
  region: string;
  /** Account of the queue and the rule. */
  accountId: string;
  /** Standard SQS queue name (default camwire-uploads). */
  queue?: string;
  /** Topic rule name (default camwire_uploads). */
  ruleName?: string;
  /** Role the rule runs as (default arn:PARTITION:iam::ACCOUNT:role/camwire-uploads-rule, in the region's partition). */
  roleArn?: string;
  /** Topic root; DESIGN.md fixes `cameras`. */
  topicRoot?: string;
}

/**
 * Trust policy of the role the topic rule runs as: AWS IoT may assume it, for
 * this rule of this account only (aws:SourceArn, aws:SourceAccount), so no
 * other account's rule can borrow it.
 */
export function uploadsRuleTrustPolicy(o: Pick<UploadsRuleOptions, 'region' | 'accountId' | 'ruleName'>): IamPolicyDocument {
  const region = awsRegion(o.region, 'the rule ARN');
  const account = awsAccount(o.accountId, 'the rule ARN');
  return trust('iot.amazonaws.com', {
    StringEquals: { 'aws:SourceAccount': account },
    ArnLike: { 'aws:SourceArn': `${arnPartition(o)}:iot:${region}:${account}:rule/${ruleName(o.ruleName)}` },
  });
}

/** Permission of that role: send messages to the one queue. */
export function uploadsRuleRolePolicy(o: Pick<UploadsRuleOptions, 'region' | 'accountId' | 'queue'>): IamPolicyDocument {
  const region = awsRegion(o.region, 'the queue ARN');
  const account = awsAccount(o.accountId, 'the queue ARN');
  return {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: 'sqs:SendMessage', Resource: `${arnPartition(o)}:sqs:${region}:${account}:${queueName(o.queue)}` }],
  };
}

export interface TopicRulePayload {
  sql: string;
  description: string;
  awsIotSqlVersion: '2016-03-23';
  ruleDisabled: boolean;
  actions: Array<{ sqs: { queueUrl: string; roleArn: string; useBase64: boolean } }>;
}

/**
 * The `--topic-rule-payload` of `aws iot create-topic-rule`: every upload
 * result any camera publishes on `cameras/{thing}/uploads` goes to the queue,
 * as the JSON the camera sent (useBase64 false). The policy lets a camera
 * publish only under its own name, so the topic's thing is trustworthy.
 */
export function uploadsTopicRule(o: UploadsRuleOptions): TopicRulePayload {
  const region = awsRegion(o.region, 'the queue URL');
  const account = awsAccount(o.accountId, 'the queue URL');
  const arn = arnPartition(o);
  const roleArn = checkRoleArn(o.roleArn ?? `${arn}:iam::${account}:role/${DEFAULT_UPLOADS_RULE_ROLE}`);
  const root = topicRoot(o.topicRoot);
  return {
    sql: `SELECT * FROM '${root}/+/uploads'`,
    description: `camwire upload results (${root}/{thing}/uploads) to SQS for the back end`,
    awsIotSqlVersion: '2016-03-23',
    ruleDisabled: false,
    actions: [{ sqs: { queueUrl: `https://sqs.${region}.${dnsSuffix(region)}/${account}/${queueName(o.queue)}`, roleArn, useBase64: false } }],
  };
}

export interface LifecycleOptions {
  /** Key prefix the rule applies to (default `devices/`, where camwire's default keys live); '' for the whole bucket. */
  prefix?: string;
  /** Days after which an unfinished multipart upload is aborted and its parts deleted (default 7). */
  days?: number;
  /** Rule id (default camwire-abort-incomplete-multipart). */
  id?: string;
}

export interface BucketLifecycle {
  Rules: Array<{ ID: string; Status: 'Enabled'; Filter: { Prefix: string }; AbortIncompleteMultipartUpload: { DaysAfterInitiation: number } }>;
}

function keyPrefix(prefix: string | undefined): string {
  const p = prefix ?? 'devices/';
  if (p.startsWith('/') || p.includes('*') || p.length > 1024) throw badArgument(`"${p}" is not a key prefix (no leading /, no *)`);
  return p;
}

/**
 * The lifecycle configuration that aborts multipart uploads still unfinished
 * after `days`: their parts are billed until then. The default, 7 days, is the
 * longest a pre-signed URL lives, so no camera can still finish such an upload.
 * The same JSON serves `aws s3api put-bucket-lifecycle-configuration` and
 * Tencent COS's SDK `putBucketLifecycle`.
 */
export function bucketLifecycle(o: LifecycleOptions = {}): BucketLifecycle {
  const days = o.days ?? 7;
  if (!Number.isInteger(days) || days < 1 || days > 36500) throw badArgument(`${days} is not a whole number of days from 1 to 36500`);
  const id = checkName(o.id ?? 'camwire-abort-incomplete-multipart', /^[\w.-]{1,255}$/, 'lifecycle rule id', 'letters, digits, . - _, up to 255');
  return { Rules: [{ ID: id, Status: 'Enabled', Filter: { Prefix: keyPrefix(o.prefix) }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: days } }] };
}

export interface BackendPolicyOptions {
  /** Region of the IoT topics (and the queue), and so the partition of every ARN; `*` when absent. */
  region?: string;
  /** Without a region: the partition of the ARNs (default aws). */
  partition?: PartitionHint['partition'];
  /** Account of the IoT topics (and the queue); `*` when absent. */
  accountId?: string;
  bucket: string;
  /** Key prefix the back end presigns under (default `devices/`). */
  prefix?: string;
  /** Also consume this queue (the uploads rule's). */
  queue?: string;
  topicRoot?: string;
}

function checkBucketName(bucket: string): string {
  return checkName(bucket, /^(?!xn--)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'S3 bucket name', '3-63 lower-case letters, digits, . and -');
}

/**
 * The back end's IAM policy: presign uploads under the prefix (s3:PutObject
 * also covers CreateMultipartUpload, UploadPart and CompleteMultipartUpload;
 * AbortMultipartUpload is its own action), publish upload targets to any
 * camera, and with `queue` read the results the uploads rule forwards. A
 * pre-signed URL can do no more than the credentials that signed it.
 */
export function backendPolicy(o: BackendPolicyOptions): IamPolicyDocument {
  const region = awsRegion(o.region);
  const account = awsAccount(o.accountId);
  const arn = arnPartition(o);
  const statements: IamStatement[] = [
    { Effect: 'Allow', Action: ['s3:PutObject', 's3:AbortMultipartUpload'], Resource: `${arn}:s3:::${checkBucketName(o.bucket)}/${keyPrefix(o.prefix)}*` },
    { Effect: 'Allow', Action: 'iot:Publish', Resource: `${arn}:iot:${region}:${account}:topic/${topicRoot(o.topicRoot)}/*/upload-targets` },
  ];
  if (o.queue !== undefined) {
    statements.push({
      Effect: 'Allow',
      Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'],
      Resource: `${arn}:sqs:${region}:${account}:${queueName(o.queue)}`,
    });
  }
  return { Version: '2012-10-17', Statement: statements };
}

export interface Route53ChangeBatch {
  Comment: string;
  Changes: Array<{ Action: 'UPSERT'; ResourceRecordSet: { Name: string; Type: 'CNAME'; TTL: number; ResourceRecords: Array<{ Value: string }> } }>;
}

function dnsName(name: string, what: string): string {
  const labels = name.replace(/\.$/, '').split('.');
  if (name.length > 254 || labels.length < 2 || !labels.every((l) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$/.test(l))) {
    throw badArgument(`"${name}" is not a DNS name (${what})`);
  }
  return name;
}

/**
 * The `--change-batch` of `aws route53 change-resource-record-sets` for one
 * CNAME: the custom IoT domain to the account's iot:Data-ATS endpoint, or
 * ACM's validation record.
 */
export function route53Cname(o: { name: string; value: string; ttl?: number }): Route53ChangeBatch {
  const ttl = o.ttl ?? 300;
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 2147483647) throw badArgument(`${ttl} is not a TTL in seconds`);
  const name = dnsName(o.name, 'the record name');
  const value = dnsName(o.value, 'what it points to');
  return {
    Comment: `camwire: ${name} -> ${value}`,
    Changes: [{ Action: 'UPSERT', ResourceRecordSet: { Name: name, Type: 'CNAME', TTL: ttl, ResourceRecords: [{ Value: value }] } }],
  };
}
