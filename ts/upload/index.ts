// presign.ts (the back-end side, on the AWS SDK) is not re-exported here, so the
// device path never loads the SDK: import it from 'camwire/dist/upload/presign'.
export * from './engine';
export * from './expiry';
export * from './redact';
export * from '../common/upload-target';
export * from './put-url';
export { UploadJournal } from './journal';
export { deviceKey } from './layout';
