export * from './authority';
export * from './aws';
export * from './files';
export * from './keys';
export * from './thing-name';
