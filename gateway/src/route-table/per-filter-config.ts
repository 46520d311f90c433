import type { Message } from "@bufbuild/protobuf";
import { type Any, anyUnpack } from "@bufbuild/protobuf/wkt";
import { registry } from "@dispatch/proto/envoy";
import { ConfigError, within } from "./config-error.js";
import type { HttpFilterFactory, PerFilterConfig } from "./filter-factory.js";

const filterConfigType = "envoy.config.route.v3.FilterConfig";

/** The shape of `envoy.config.route.v3.FilterConfig` (a wrapper that can disable a filter per route). */
interface FilterConfigMessage extends Message {
  config?: Any;
  isOptional: boolean;
  disabled: boolean;
}

/**
 * Compiles a `typed_per_filter_config` map. A value is the filter's own
 * per-route config, or an `envoy.config.route.v3.FilterConfig` wrapping one
 * (with `disabled` switching the filter off for this route).
 */
export function compilePerFilterConfigs(
  configs: { [name: string]: Any },
  factory: HttpFilterFactory,
  field: string,
): ReadonlyMap<string, PerFilterConfig> {
  const out = new Map<string, PerFilterConfig>();
  for (const name of Object.keys(configs).sort()) {
    const any = configs[name];
    if (!any) continue;
    within(`${field}[${JSON.stringify(name)}]`, () => {
      if (any.typeUrl === `type.googleapis.com/${filterConfigType}`) {
        const wrapper = anyUnpack(any, registry) as FilterConfigMessage | undefined;
        if (!wrapper) throw new ConfigError("", `cannot decode ${filterConfigType}`);
        if (wrapper.disabled) {
          out.set(name, { disabled: true });
          return;
        }
        if (!wrapper.config) throw new ConfigError("config", "is required unless disabled");
        const inner = wrapper.config;
        try {
          out.set(name, { disabled: false, config: factory.compilePerRoute(inner) });
        } catch (error) {
          // An optional per-route config of a filter the gateway lacks is skipped, as in Envoy.
          if (!(wrapper.isOptional && error instanceof UnknownFilterConfigError)) throw error;
        }
        return;
      }
      out.set(name, { disabled: false, config: factory.compilePerRoute(any) });
    });
  }
  return out;
}

/** A typed config whose type the gateway has no filter for. */
export class UnknownFilterConfigError extends ConfigError {
  constructor(typeUrl: string) {
    super("", `the gateway has no HTTP filter for ${typeUrl}`);
    this.name = "UnknownFilterConfigError";
  }
}
