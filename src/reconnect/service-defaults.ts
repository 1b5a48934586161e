/**
 * Defaults of the reconnect service ({@link createReconnectService}), as named
 * constants with unit and rationale. The scheduling defaults themselves
 * (backoffs, budget, dampening) are in `./defaults.ts`.
 *
 * @module
 */
import { DEFAULT_MAX_PEERS } from "../peers/defaults.js";

/**
 * Most peers the service remembers as wanted, in peers. Beyond it the least
 * recently touched peer that was wanted implicitly (because this node dialed
 * it) is forgotten; peers wanted explicitly with `want()` are never evicted.
 * Equal to the peer database's bound (1000): a wanted peer whose record was
 * evicted from the database has no address left to dial anyway.
 *
 * @category Reconnection
 */
export const DEFAULT_MAX_WANTED_PEERS = DEFAULT_MAX_PEERS;

/**
 * Key of the peer database's extra state under which the service saves its
 * scheduler state and wanted set (next to the manager's `"bans"`).
 *
 * @category Reconnection
 */
export const RECONNECT_STATE_KEY = "reconnect";

export { MAX_TIMER_DELAY_MS } from "../util/timers.js";
