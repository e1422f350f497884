/**
 * The one place that knows AWS partitions: for a region, its partition (aws,
 * aws-cn, aws-us-gov), the ARN prefix, the DNS suffix, and the endpoints
 * camwire builds itself. The partition data is the AWS SDK's own
 * (`partition()` of @aws-sdk/core/client, the table its endpoint rulesets use),
 * not a table kept here; what the SDK does not say (a service that a region
 * of a partition does not offer) is the short list below, from the AWS China
 * documentation.
 *
 * Hosts camwire never builds: the IoT data endpoint and the credentials
 * provider are account-specific (`aws iot describe-endpoint --endpoint-type
 * iot:Data-ATS` / `iot:CredentialProvider`), in China of the form
 * PREFIX.ats.iot.cn-north-1.amazonaws.com.cn, so they are always given.
 */
import { CamwireError } from '../errors';

export type PartitionName = 'aws' | 'aws-cn' | 'aws-us-gov';

export interface AwsPartition {
  name: PartitionName;
  /** amazonaws.com, amazonaws.com.cn */
  dnsSuffix: string;
  /** arn:aws, arn:aws-cn, arn:aws-us-gov */
  arn: string;
}

const SUPPORTED: ReadonlySet<string> = new Set(['aws', 'aws-cn', 'aws-us-gov']);
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

type SdkPartition = (region: string) => { name: string; dnsSuffix: string };
let sdkPartition: SdkPartition | undefined;
function sdk(): SdkPartition {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the SDK's partition table loads only when a partition is asked for
  sdkPartition ??= (require('@aws-sdk/core/client') as { partition: SdkPartition }).partition;
  return sdkPartition;
}

/** The partition of a region. Throws PKI_BAD_ARGUMENT for a name that is not a region, or a partition camwire does not write for (the ISO ones). */
export function partitionOf(region: string): AwsPartition {
  if (!REGION.test(region)) throw new CamwireError('PKI_BAD_ARGUMENT', `"${region}" is not an AWS region name (like eu-west-1 or cn-north-1)`);
  const p = sdk()(region);
  if (!SUPPORTED.has(p.name)) {
    throw new CamwireError('PKI_BAD_ARGUMENT', `"${region}" is in the ${p.name} partition; camwire writes for aws, aws-cn and aws-us-gov only`);
  }
  return { name: p.name as PartitionName, dnsSuffix: p.dnsSuffix, arn: `arn:${p.name}` };
}

/** The partition of an ARN (arn:PARTITION:…), or undefined when it names none camwire writes for. */
export function partitionOfArn(arn: string): PartitionName | undefined {
  const m = /^arn:(aws|aws-cn|aws-us-gov):/.exec(arn);
  return m ? (m[1] as PartitionName) : undefined;
}

/**
 * Services that some regions of a partition do not offer. AWS China:
 * "Amazon Kinesis Video Streams is available in the following regions in
 * China: Beijing Region" (https://docs.amazonaws.cn/en_us/aws/latest/userguide/kvs.html).
 */
const OFFERED_ONLY_IN: Record<string, Partial<Record<PartitionName, string[]>>> = {
  kinesisvideo: { 'aws-cn': ['cn-north-1'] },
};

const SERVICE_NAMES: Record<string, string> = { kinesisvideo: 'Kinesis Video Streams' };

/** Throws KVS_REGION_UNSUPPORTED (for kinesisvideo) when the region's partition documents the service elsewhere only. */
export function checkServiceOffered(service: 'kinesisvideo', region: string): void {
  const p = partitionOf(region);
  const only = OFFERED_ONLY_IN[service]?.[p.name];
  if (only && !only.includes(region)) {
    throw new CamwireError(
      'KVS_REGION_UNSUPPORTED',
      `${SERVICE_NAMES[service]} is not offered in ${region}; in ${p.name} it is offered in ${only.join(', ')}`,
      {
        hint: `use --region ${only[0]} (a stream lives in one region; the camera may be anywhere)`,
        details: { region, partition: p.name, offeredIn: only },
      },
    );
  }
}

/** https://SERVICE.REGION.DNS_SUFFIX, the regional form (S3, KVS, STS, SQS). */
export function serviceEndpoint(service: string, region: string): string {
  return `https://${service}.${region}.${partitionOf(region).dnsSuffix}`;
}

/** The KVS control plane of a region, after checking the region offers KVS (KVS_BAD_OPTIONS for a name that is no region). */
export function kvsControlEndpoint(region: string): string {
  try {
    checkServiceOffered('kinesisvideo', region);
    return serviceEndpoint('kinesisvideo', region);
  } catch (e) {
    if (e instanceof CamwireError && e.code === 'PKI_BAD_ARGUMENT') throw new CamwireError('KVS_BAD_OPTIONS', e.message, { cause: e });
    throw e;
  }
}
