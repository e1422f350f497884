export * from './package';
export * from './local-endpoint';
