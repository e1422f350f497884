/**
 * Checks shared by the AWS document generators (aws.ts, aws-docs.ts): region,
 * account id and IAM role ARN, each refused with PKI_BAD_ARGUMENT and a
 * message that names the expected form, and the partition every ARN of a
 * document is in (common/partition.ts: aws, aws-cn, aws-us-gov), a mix
 * refused with PKI_PARTITION_MISMATCH. Not exported from the package.
 */
import { partitionOf, partitionOfArn, PartitionName } from '../common/partition';
import { CamwireError } from '../errors';

const bad = (message: string): CamwireError => new CamwireError('PKI_BAD_ARGUMENT', message);

/** The region, or `*` when absent and allowed; in the aws, aws-cn or aws-us-gov partition. */
export function awsRegion(region: string | undefined, neededFor?: string): string {
  if (region === undefined || region === '*') {
    if (neededFor) throw bad(`a region (like eu-west-1 or cn-north-1) is needed for ${neededFor}`);
    return '*';
  }
  partitionOf(region);
  return region;
}

/** What decides a document's partition: its region, else an explicit partition, else a role ARN's. */
export interface PartitionHint {
  region?: string;
  /** For documents without a region (`*`): the partition their ARNs are in (default aws). */
  partition?: PartitionName;
  roleArn?: string;
}

/**
 * arn:aws, arn:aws-cn or arn:aws-us-gov for a document. A region decides; an
 * explicit partition or a role from another partition than the region's is
 * PKI_PARTITION_MISMATCH.
 */
export function arnPartition(h: PartitionHint): string {
  const fromRole = h.roleArn ? partitionOfArn(h.roleArn) : undefined;
  if (h.partition !== undefined && !['aws', 'aws-cn', 'aws-us-gov'].includes(h.partition)) {
    throw bad(`"${String(h.partition)}" is not a partition camwire writes for (aws, aws-cn, aws-us-gov)`);
  }
  const region = h.region === undefined || h.region === '*' ? undefined : h.region;
  const name = region ? partitionOf(region).name : (h.partition ?? fromRole ?? 'aws');
  if (region && h.partition !== undefined && h.partition !== name) {
    throw mismatch(`region ${region} is in the ${name} partition, not ${h.partition}`);
  }
  if (fromRole !== undefined && fromRole !== name) {
    throw mismatch(`the role ${h.roleArn} is in the ${fromRole} partition, the documents in ${name}${region ? ` (region ${region})` : ''}`);
  }
  return `arn:${name}`;
}

/** The DNS suffix of the region's endpoints (amazonaws.com, amazonaws.com.cn). */
export function dnsSuffix(region: string): string {
  return partitionOf(region).dnsSuffix;
}

function mismatch(message: string): CamwireError {
  return new CamwireError('PKI_PARTITION_MISMATCH', message, {
    hint: 'AWS China (cn-north-1, cn-northwest-1) is its own partition with its own accounts: roles, regions and ARNs must all be aws-cn',
  });
}

/** The 12-digit account id, or `*` when absent and allowed. */
export function awsAccount(accountId: string | undefined, neededFor?: string): string {
  if (accountId === undefined || accountId === '*') {
    if (neededFor) throw bad(`a 12-digit account id is needed for ${neededFor}`);
    return '*';
  }
  if (!/^\d{12}$/.test(accountId)) throw bad(`"${accountId}" is not a 12-digit AWS account id`);
  return accountId;
}

/** An IAM role ARN of a partition camwire writes for (arn:aws:iam::…, arn:aws-cn:iam::…, arn:aws-us-gov:iam::…). */
export function checkRoleArn(roleArn: string): string {
  if (!/^arn:(aws|aws-cn|aws-us-gov):iam::\d{12}:role\/[\w+=,.@/-]{1,64}$/.test(roleArn)) {
    throw bad(`"${roleArn}" is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME; arn:aws-cn:iam::… in AWS China)`);
  }
  return roleArn;
}

/** Role alias names as CreateRoleAlias accepts them. */
export function checkRoleAlias(alias: string): string {
  return checkName(alias, /^[\w=,@-]{1,128}$/, 'role alias name', 'letters, digits and =,@-_, up to 128');
}

/** A name checked against a pattern; `what` names it in the message. */
export function checkName(value: string, pattern: RegExp, what: string, form: string): string {
  if (!pattern.test(value)) throw bad(`"${value}" is not a valid ${what} (${form})`);
  return value;
}

export function badArgument(message: string): CamwireError {
  return bad(message);
}
