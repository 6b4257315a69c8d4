// Triton's LogSettings RPC messages (a map of oneof values) to and from the log settings the HTTP route takes and answers.
import type { LogSettingsView } from '../observe/log-settings.js';

/** One SettingValue as proto-loader reads it (oneofs: the set field's name in parameter_choice). */
interface SettingValue {
  bool_param?: boolean;
  uint32_param?: number;
  string_param?: string;
  parameter_choice?: 'bool_param' | 'uint32_param' | 'string_param';
}

export interface GrpcLogSettings {
  settings?: Record<string, SettingValue>;
}

/** The request's settings as the JSON body of POST /v2/logging (a value with no field set stays null, and is refused there). */
export function fromGrpcSettings(r: GrpcLogSettings): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(r.settings ?? {}))
    out[key] = v.parameter_choice === undefined ? null : (v[v.parameter_choice] ?? null);
  return out;
}

/** The settings in Triton's response shape: booleans as bool_param, the verbose level as uint32_param, strings as string_param. */
export function toGrpcSettings(view: LogSettingsView): { settings: Record<string, SettingValue> } {
  const settings: Record<string, SettingValue> = {};
  for (const [key, v] of Object.entries(view))
    settings[key] =
      typeof v === 'boolean' ? { bool_param: v } : typeof v === 'number' ? { uint32_param: v } : { string_param: v };
  return { settings };
}
