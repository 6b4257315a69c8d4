// ONNX Runtime telemetry is off unless the user opts in (--ort-telemetry / MIXER_ORT_TELEMETRY=1); imported before onnxruntime-node loads.

/** The opt-in variable; `mixer --ort-telemetry` sets it. */
export const ORT_TELEMETRY_OPT_IN = 'MIXER_ORT_TELEMETRY';

/** True only when the user asked for ORT telemetry explicitly. */
export function ortTelemetryWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[ORT_TELEMETRY_OPT_IN] === '1';
}

/**
 * Sets ORT_DISABLE_TELEMETRY=1 in this process's environment (the native binding reads it when it starts its
 * environment), or removes it on opt-in. Must run on the main thread before the binding is first loaded: worker
 * threads get a copy of process.env that native code never sees, but they share the process environment set here.
 */
export function applyOrtTelemetryChoice(env: NodeJS.ProcessEnv = process.env): void {
  if (ortTelemetryWanted(env)) delete env['ORT_DISABLE_TELEMETRY'];
  else env['ORT_DISABLE_TELEMETRY'] = '1';
}

applyOrtTelemetryChoice();
