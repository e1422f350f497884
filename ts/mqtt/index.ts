export * from '../common/backoff';
export * from './connection';
export * from './errors';
export * from './outbox';
export * from '../common/topics';
