/**
 * Connections the node has refused after their handshake, or whose handshake failed, while they close: the
 * Goodbye is sent and the node waits for the peer (up to the graceful close timeout), which a hostile peer
 * never answers. They are neither pending nor adopted, but their sockets and slots are still the node's:
 * counted in `socketCount` and aborted by `stop()`.
 *
 * @module
 */
import type { Connection } from "../connection/index.js";

/** Connections closing after a refusal or a failed handshake, held until they are closed. */
export class ClosingConnections {
  readonly #connections = new Set<Connection>();

  /** Holds `connection` until it is closed, then runs `onClosed` (which frees its slot). */
  add(connection: Connection, onClosed: () => void): void {
    this.#connections.add(connection);
    void connection.closed.then(() => {
      this.#connections.delete(connection);
      onClosed();
    });
  }

  /** How many are inbound (an outbound one keeps its pending slot until closed, so pending dials count it). */
  get inbound(): number {
    let count = 0;
    for (const connection of this.#connections) if (connection.direction === "inbound") count++;
    return count;
  }

  /** Every one held now. */
  all(): Connection[] {
    return [...this.#connections];
  }
}
