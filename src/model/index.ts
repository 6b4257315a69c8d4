// Public surface of the model package.
export * from './config.js';
export * from './params.js';
export * from './forward.js';
export * from './build.js';
export * from './metadata.js';
export * from './load.js';
