/**
 * The composition root of a node's services: the default maintenance and
 * reconnect services, then the application's own, all built on the same host.
 *
 * @module
 */
import { createMaintenanceService, type MaintenanceService } from "../maintenance/maintenance-service.js";
import type { ManagerHost, ManagerService } from "../manager/services.js";
import type { ResolvedManagerOptions } from "../manager/manager-options.js";
import { createReconnectService, type ReconnectService } from "../reconnect/reconnect-service.js";

/** The services of one node. */
export interface NodeServices {
  /** The maintenance service, unless `maintenance: false`. */
  readonly maintenance: MaintenanceService | undefined;
  /** The reconnect service, unless `reconnect: false`. */
  readonly reconnect: ReconnectService | undefined;
  /** Every service, in notification order (maintenance, reconnect, the application's). */
  readonly all: readonly ManagerService[];
}

/** Builds the services `options` ask for on `host`. */
export function createNodeServices(options: ResolvedManagerOptions, host: ManagerHost): NodeServices {
  const m = options.maintenance;
  const maintenance =
    m === false ? undefined : createMaintenanceService(options.engine !== undefined && m.engine === undefined ? { ...m, engine: options.engine } : m)(host);
  const reconnect = options.reconnect === false ? undefined : createReconnectService(options.reconnect)(host);
  const all = [...(maintenance ? [maintenance] : []), ...(reconnect ? [reconnect] : []), ...options.services.map((create) => create(host))];
  return { maintenance, reconnect, all };
}
