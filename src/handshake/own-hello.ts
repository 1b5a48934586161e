/**
 * Internal: a node's own Hello frame, encoded once and copied per connection. Everything in a node's Hello
 * but the nonce and the proof is the same on each of its connections (identity, versions, lists, agent, and
 * per connection kind the binding and early-data flag), and the proof has a fixed length. So each kind is
 * encoded once with both left zero, and a connection's Hello is a copy with its nonce and proof written in:
 * no per-connection encoding, whose code a fresh process would otherwise compile and run unoptimised on
 * every early connection.
 *
 * @module
 */
import { KeyType, type ChannelBinding } from "../../generated/peerlink/v1/handshake_pb.js";
import type { Identity } from "../identity/identity.js";
import { PEER_ID_LENGTH, type PeerId } from "../identity/peer-id.js";
import { base32DecodeInto } from "../identity/base32.js";
import { NONCE_LENGTH } from "./defaults.js";
import type { EncodedFrame } from "./frame-bytes.js";
import { encodeHelloFrameWith, type HelloFieldOffsets } from "./hello-encoder.js";
import type { HelloTemplate } from "./hello-template.js";
import type { VersionRange } from "./types.js";

/** One kind of own Hello: its bytes with nonce and proof zero (never handed out), and where those go. */
interface HelloLayout {
  readonly bytes: Uint8Array;
  /** Bytes of the length prefix before the Frame body. */
  readonly prefix: number;
  readonly nonceAt: number;
  readonly proofAt: number;
  readonly proofLength: number;
}

/** The layouts of one identity's Hellos with one template and version range, by {@link slotOf}. */
class OwnHellos {
  readonly layouts: (HelloLayout | undefined)[] = [undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined];
  constructor(
    readonly template: HelloTemplate,
    readonly min: number,
    readonly max: number,
    readonly peerId: PeerId,
    readonly publicKey: Uint8Array,
  ) {}
}

/**
 * Per identity, its layouts for each template and version range in use (a node has one; nodes of a process
 * sharing an identity may differ in listen addresses). Bounded: the oldest entry goes past {@link MAX_KINDS}.
 */
const hellosOf = new WeakMap<Identity, OwnHellos[]>();
const MAX_KINDS = 8;

/**
 * `Frame{hello}` of `identity` with `template`'s lists, `versions`, `binding`, `earlyData`, `nonce` (of
 * `NONCE_LENGTH` bytes) and `proof`: byte for byte what {@link encodeHelloFrameWith} writes for those fields, in
 * an array of its own.
 */
export function ownHelloFrame(
  template: HelloTemplate,
  identity: Identity,
  versions: VersionRange,
  binding: ChannelBinding,
  earlyData: boolean,
  nonce: Uint8Array,
  proof: Uint8Array,
): EncodedFrame {
  const hellos = hellosFor(template, identity, versions);
  const slot = binding * 2 + (earlyData ? 1 : 0);
  let layout = slot < hellos.layouts.length ? hellos.layouts[slot] : undefined;
  if (layout === undefined || layout.proofLength !== proof.length) {
    layout = buildLayout(hellos, binding, earlyData, proof.length);
    if (slot < hellos.layouts.length) hellos.layouts[slot] = layout;
  }
  const bytes = layout.bytes.slice();
  bytes.set(nonce, layout.nonceAt);
  if (proof.length > 0) bytes.set(proof, layout.proofAt);
  return { body: bytes.subarray(layout.prefix), bytes };
}

function hellosFor(template: HelloTemplate, identity: Identity, versions: VersionRange): OwnHellos {
  let list = hellosOf.get(identity);
  if (list === undefined) hellosOf.set(identity, (list = []));
  for (let i = 0; i < list.length; i++) {
    const h = list[i] as OwnHellos;
    // The identity's fields are compared too: an identity is immutable, but a stale Hello must never go out.
    if (h.template === template && h.min === versions.min && h.max === versions.max && h.peerId === identity.peerId && h.publicKey === identity.publicKey) {
      return h;
    }
  }
  const made = new OwnHellos(template, versions.min, versions.max, identity.peerId, identity.publicKey);
  if (list.length >= MAX_KINDS) list.shift();
  list.push(made);
  return made;
}

const at: HelloFieldOffsets = { nonce: 0, proof: 0 };

function buildLayout(hellos: OwnHellos, binding: ChannelBinding, earlyData: boolean, proofLength: number): HelloLayout {
  const { template } = hellos;
  const { bytes, body } = encodeHelloFrameWith(
    {
      minVersion: hellos.min,
      maxVersion: hellos.max,
      peerId: base32DecodeInto(hellos.peerId.toString(), new Uint8Array(PEER_ID_LENGTH)),
      keyType: KeyType.ED25519,
      publicKey: hellos.publicKey,
      nonce: new Uint8Array(NONCE_LENGTH),
      protocols: template.protocols,
      capabilities: template.capabilities,
      listenAddrs: template.listenAddrs,
      binding,
      proof: new Uint8Array(proofLength),
      earlyData,
      agent: template.agent,
    },
    template.lists,
    template.agentBytes,
    at,
  );
  return { bytes, prefix: bytes.length - body.length, nonceAt: at.nonce, proofAt: at.proof, proofLength };
}
