/**
 * Checks shared by the AWS document generators (aws.ts, aws-docs.ts): region,
 * account id and IAM role ARN, each refused with PKI_BAD_ARGUMENT and a
 * message that names the expected form. Not exported from the package.
 */
import { CamwireError } from '../errors';

const bad = (message: string): CamwireError => new CamwireError('PKI_BAD_ARGUMENT', message);

/** The region, or `*` when absent and allowed; only the standard `aws` partition. */
export function awsRegion(region: string | undefined, neededFor?: string): string {
  if (region === undefined || region === '*') {
    if (neededFor) throw bad(`a region (like eu-west-1) is needed for ${neededFor}`);
    return '*';
  }
  if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) throw bad(`"${region}" is not an AWS region name (like eu-west-1)`);
  // ARNs there start arn:aws-cn / arn:aws-us-gov and some service principals differ.
  if (/^(cn|us-gov|us-iso[a-z]*)-/.test(region)) throw bad(`"${region}" is outside the standard aws partition, which is the only one camwire writes ARNs for`);
  return region;
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

export function checkRoleArn(roleArn: string): string {
  if (!/^arn:aws:iam::\d{12}:role\/[\w+=,.@/-]{1,64}$/.test(roleArn)) {
    throw bad(`"${roleArn}" is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)`);
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
