export * from './backoff';
export * from './connection';
export * from './errors';
export * from './outbox';
export * from './topics';
