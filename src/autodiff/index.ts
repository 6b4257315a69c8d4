// Public surface of the autodiff package.
export * from './rules.js';
export * from './backward.js';
export * from './loss.js';
export * from './adamw.js';
