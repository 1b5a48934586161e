/**
 * Ed25519 public keys of small order (docs/PROTOCOL.md §2): for such a key a fixed signature verifies for every
 * message, so anyone could prove its peer id. No key made from a private key has small order.
 *
 * @module
 */

/** The seven encodings, compared on bytes 0..30 and on byte 31 without its sign bit (libsodium's list). */
const SMALL_ORDER = [
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
].map((hex) => Uint8Array.from(Buffer.from(hex, "hex")));

/** True when the 32-byte Ed25519 `key` is one of the 14 small-order encodings (either sign bit). */
export function isSmallOrderKey(key: Uint8Array): boolean {
  if (key.length !== 32) return false;
  for (const bad of SMALL_ORDER) {
    let same = ((key[31] as number) & 0x7f) === ((bad[31] as number) & 0x7f);
    for (let i = 0; same && i < 31; i++) same = key[i] === bad[i];
    if (same) return true;
  }
  return false;
}
