// Loaded by every test process (`node-arg` in package.json's tap config): registers test/loader/hooks.mjs.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
