/** camwire's library API. */
export { CamwireError, isCamwireError } from './errors';
export { native, nativePath } from './native';
export type { NativeBinding, NativeProbe, LibraryVersion } from './native';
export * as pki from './pki';
export * as mqtt from './mqtt';
export { CertificateAuthority } from './pki';
export { DeviceConnection, DurableOutbox, topics } from './mqtt';
export * as upload from './upload';
export { Uploader, parseUploadTarget } from './upload';
export type { UploadTarget, UploadResult } from './upload';
export { runUploadJob } from './orchestrator/upload-job';
export * as kvs from './kvs';
export { KvsStream, IotCredentialsProvider, awsChainCredentials, LocalKvsEndpoint } from './kvs';
export type { KvsStreamOptions, KvsAck, KvsMetrics } from './kvs';
export * as ptp from './ptp';
export { PtpCamera, PtpClient } from './ptp';
