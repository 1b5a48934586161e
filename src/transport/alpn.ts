/**
 * Internal: the ALPN option handed to Node's TLS sockets.
 *
 * @module
 */
/** ALPN lists in wire form, by the frozen list of a `ResolvedTls` (weakly held). */
const alpnWireForms = new WeakMap<readonly string[], Buffer>();

/**
 * `protocols` as Node's `ALPNProtocols` option: for the frozen list of a `ResolvedTls`, its wire form
 * (each id prefixed with its length) made once, which Node copies as it is instead of converting a list of
 * strings on every connect and accept; any other list as a copy of itself.
 */
export function alpnOption(protocols: readonly string[]): Buffer | string[] {
  if (!Object.isFrozen(protocols)) return [...protocols];
  let wire = alpnWireForms.get(protocols);
  if (wire === undefined) {
    wire = Buffer.concat(protocols.map((id) => {
      const bytes = Buffer.from(id, "utf8");
      return Buffer.concat([Buffer.of(bytes.length), bytes]);
    }));
    alpnWireForms.set(protocols, wire);
  }
  return wire;
}
