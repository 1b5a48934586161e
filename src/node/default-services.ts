/**
 * The composition root of a node's services: the default maintenance and
 * reconnect services, the target mesh when asked for, then the application's
 * own, all built on the same host. The reconnect service and the mesh share
 * one global dial budget (the `reconnect.budget` option), so redials and mesh
 * dials together never exceed it.
 *
 * @module
 */
import { createMaintenanceService, type MaintenanceService } from "../maintenance/maintenance-service.js";
import type { ManagerHost, ManagerService } from "../manager/services.js";
import type { ResolvedManagerOptions } from "../manager/manager-options.js";
import { createMeshService, type MeshService } from "../mesh/mesh-service.js";
import { DEFAULT_RECONNECT_BUDGET, ReconnectBudget } from "../reconnect/budget.js";
import { createReconnectService, type ReconnectService } from "../reconnect/reconnect-service.js";

/** The services of one node. */
export interface NodeServices {
  /** The maintenance service, unless `maintenance: false`. */
  readonly maintenance: MaintenanceService | undefined;
  /** The reconnect service, unless `reconnect: false`. */
  readonly reconnect: ReconnectService | undefined;
  /** The target mesh, when the `mesh` option turns it on. */
  readonly mesh: MeshService | undefined;
  /** Every service, in notification order (maintenance, reconnect, mesh, the application's). */
  readonly all: readonly ManagerService[];
}

/** Builds the services `options` ask for on `host`. */
export function createNodeServices(options: ResolvedManagerOptions, host: ManagerHost): NodeServices {
  const m = options.maintenance;
  const maintenance =
    m === false ? undefined : createMaintenanceService(options.engine !== undefined && m.engine === undefined ? { ...m, engine: options.engine } : m)(host);
  const r = options.reconnect;
  const budget = new ReconnectBudget(r !== false && r.budget !== undefined ? r.budget : DEFAULT_RECONNECT_BUDGET);
  const reconnect = r === false ? undefined : createReconnectService(r, { budget })(host);
  const mesh = options.mesh === false ? undefined : createMeshService(options.mesh, budget)(host);
  const all = [
    ...(maintenance ? [maintenance] : []),
    ...(reconnect ? [reconnect] : []),
    ...(mesh ? [mesh] : []),
    ...options.services.map((create) => create(host)),
  ];
  return { maintenance, reconnect, mesh, all };
}
