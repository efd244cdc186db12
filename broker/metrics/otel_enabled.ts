/**
 * Whether OpenTelemetry export is on, apart from `otel.ts` so the broker loads the OpenTelemetry
 * API (several MiB of memory) only when it is.
 *
 * @module
 */

/** True when Deno exports OpenTelemetry data (`OTEL_DENO=true`) and the variable may be read. */
export function openTelemetryEnabled(): boolean {
  try {
    const permission = Deno.permissions.querySync({ name: "env", variable: "OTEL_DENO" });
    if (permission.state !== "granted") return false;
    const value = Deno.env.get("OTEL_DENO")?.toLowerCase();
    return value === "true" || value === "1";
  } catch {
    return false;
  }
}
