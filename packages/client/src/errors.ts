// The base error class with a stable `code`: the client's MixerError and every error class of onnx-mixer extend it.

/** An error with a machine-readable `code` and the standard ES2022 `cause`. */
export class CodedError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }

  /** True when the input (flags, files, data, model, machine set-up, a request) is at fault rather than the program. */
  get userFault(): boolean {
    return false;
  }
}
