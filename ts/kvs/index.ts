export * from './package';
