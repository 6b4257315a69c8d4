// The one error model: every error class of the project is a CodedError with a stable code, its name, and the cause it wraps.

import { MixerError } from 'onnx-mixer-client';
import t from 'tap';
import { DataError } from '../../src/data/dataset.js';
import { SafetensorsError } from '../../src/formats/safetensors.js';
import { ImageError } from '../../src/image/decode.js';
import { PngBombError } from '../../src/image/png.js';
import { ConfigError as ModelConfigError } from '../../src/model/config.js';
import { ModelLoadError } from '../../src/model/load.js';
import { GraphError } from '../../src/onnx/errors.js';
import { parseModel } from '../../src/onnx/index.js';
import { RuntimeError } from '../../src/runtime/session.js';
import { ConfigError as ServerConfigError } from '../../src/server/config.js';
import { ServiceError, toServiceError } from '../../src/server/errors.js';
import { ModelFileError } from '../../src/server/repository/config-file.js';
import { CodedError, ConfigError, isUserFault, UsageError, UserError } from '../../src/util/errors.js';

t.test('one ConfigError for model shapes and service settings', async (t) => {
  t.equal(ModelConfigError, ConfigError);
  t.equal(ServerConfigError, ConfigError);
});

t.test('every error class: a CodedError with its name, code, user fault and cause', async (t) => {
  const cause = new Error('the wrapped error');
  const cases: [CodedError, string, string, boolean][] = [
    [new UsageError('m', { cause }), 'UsageError', 'USAGE', true],
    [new ConfigError('m', { cause }), 'ConfigError', 'CONFIG', true],
    [new ModelLoadError('m', { cause }), 'ModelLoadError', 'MODEL_LOAD', true],
    [new ModelFileError('m', { cause }), 'ModelFileError', 'MODEL_FILE', true],
    [new DataError('DATA_CORRUPT', 'm', { cause }), 'DataError', 'DATA_CORRUPT', true],
    [new ImageError('NOT_AN_IMAGE', 'm', { cause }), 'ImageError', 'NOT_AN_IMAGE', true],
    [new PngBombError(10, { cause }), 'PngBombError', 'PNG_BOMB', true],
    [new SafetensorsError('m', { cause }), 'SafetensorsError', 'SAFETENSORS', true],
    [new GraphError('m', { code: 'MODEL_INVALID', cause }), 'GraphError', 'MODEL_INVALID', true],
    [new GraphError('m', { cause }), 'GraphError', 'GRAPH_INVALID', false],
    [new RuntimeError('m', 'CUDA_UNAVAILABLE', { cause }), 'RuntimeError', 'CUDA_UNAVAILABLE', true],
    [new RuntimeError('m', 'RUN_FAILED', { cause }), 'RuntimeError', 'RUN_FAILED', false],
    [new ServiceError('TOO_MANY_PIXELS', 'm', { cause }), 'ServiceError', 'TOO_MANY_PIXELS', true],
    [new ServiceError('INTERNAL', 'm', { cause }), 'ServiceError', 'INTERNAL', false],
    [new MixerError(404, 'MODEL_NOT_FOUND', 'm', null, { cause }), 'MixerError', 'MODEL_NOT_FOUND', true],
    [new MixerError(0, 'NETWORK', 'm', null, { cause }), 'MixerError', 'NETWORK', false],
  ];
  for (const [e, name, code, user] of cases) {
    t.type(e, CodedError, name);
    t.type(e, Error, name);
    t.equal(e.name, name);
    t.equal(e.code, code, name);
    t.equal(e.userFault, user, `${name} ${code}: user fault ${user}`);
    t.equal(
      e instanceof UserError,
      [
        'UsageError',
        'ConfigError',
        'ModelLoadError',
        'ModelFileError',
        'DataError',
        'ImageError',
        'PngBombError',
        'SafetensorsError',
      ].includes(name),
      `${name} extends UserError`,
    );
    t.equal(e.cause, cause, `${name} keeps its cause`);
    t.equal(e.message, name === 'PngBombError' ? e.message : 'm');
  }
  t.equal(new ServiceError('TOO_MANY_PIXELS', 'm').statusCode, 413, 'status codes unchanged');
});

t.test('wrapping errors pass the wrapped one as cause', async (t) => {
  const image = new ImageError('CORRUPT_IMAGE', 'x could not be decoded');
  const se = toServiceError(image);
  t.equal(se.code, 'CORRUPT_IMAGE');
  t.equal(se.statusCode, 400);
  t.equal(se.cause, image);
  const internal = toServiceError(new TypeError('oops'));
  t.equal(internal.code, 'INTERNAL');
  t.equal(internal.message, 'internal error', 'the bug is not echoed to the client');
  t.type(internal.cause, TypeError);
  t.throws(() => parseModel(new TextEncoder().encode('this is not a model at all')), {
    name: 'GraphError',
    code: 'MODEL_INVALID',
  });
  try {
    parseModel(new Uint8Array([0xff, 0xff, 0xff]));
    t.fail('parses');
  } catch (e) {
    t.ok((e as GraphError).cause instanceof Error, 'the protobuf error is the cause');
    t.ok(isUserFault(e), 'a file that is not a model is the user’s fault');
  }
});

t.test('isUserFault: system errors of files and ports are user faults; other errors are not', async (t) => {
  const sys = (code: string) => Object.assign(new Error(code), { code, syscall: 'open' });
  for (const c of ['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR', 'EADDRINUSE']) t.ok(isUserFault(sys(c)), c);
  t.notOk(isUserFault(sys('ERR_SOMETHING')));
  t.notOk(isUserFault(new TypeError('x')));
  t.notOk(isUserFault('ENOENT'));
  t.notOk(isUserFault(null));
});
