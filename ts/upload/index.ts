export * from './engine';
export * from './expiry';
export * from './presign';
export * from './redact';
export * from './target';
export { UploadJournal } from './journal';
