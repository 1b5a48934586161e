/**
 * Internal: a node's own Hello frame from a layout encoded once. Everything in a Hello but the identity, the nonce
 * and the proof is the same on every connection of the nodes with the same options (versions, lists, agent, and
 * per connection kind the binding and early-data flag), and those fields have fixed lengths. So each kind is
 * encoded once per {@link HelloTemplate} with them left zero, and a connection's Hello is a copy with its
 * identity, nonce and proof written in: no per-connection encoding, whose code a fresh process would otherwise
 * compile and run unoptimised on every early connection, and nothing kept per node (the layouts belong to the
 * template, which nodes with equal options share).
 *
 * @module
 */
import { KeyType, type ChannelBinding } from "../../generated/peerlink/v1/handshake_pb.js";
import type { Identity } from "../identity/identity.js";
import { PEER_ID_LENGTH } from "../identity/peer-id.js";
import { base32DecodeInto } from "../identity/base32.js";
import { NONCE_LENGTH } from "./defaults.js";
import type { EncodedFrame } from "./frame-bytes.js";
import { encodeHelloFrameWith, type HelloFieldOffsets } from "./hello-encoder.js";
import type { HelloTemplate } from "./hello-template.js";
import type { VersionRange } from "./types.js";

/** One kind of Hello: its bytes with identity, nonce and proof zero (never handed out), and where those go. */
interface HelloLayout {
  readonly min: number;
  readonly max: number;
  readonly bytes: Uint8Array;
  /** Bytes of the length prefix before the Frame body. */
  readonly prefix: number;
  readonly peerIdAt: number;
  readonly publicKeyAt: number;
  readonly keyLength: number;
  readonly nonceAt: number;
  readonly proofAt: number;
  readonly proofLength: number;
}

/** Per template, its layouts by {@link ChannelBinding} × 2 + early data (the last one built for each). */
const layoutsOf = new WeakMap<HelloTemplate, (HelloLayout | undefined)[]>();
const SLOTS = 8;

/** The own peer id's bytes, decoded from its text here and copied into the Hello at once (single-threaded). */
const peerIdScratch = new Uint8Array(PEER_ID_LENGTH);

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
  let layouts = layoutsOf.get(template);
  if (layouts === undefined) layoutsOf.set(template, (layouts = new Array<HelloLayout | undefined>(SLOTS).fill(undefined)));
  const slot = binding * 2 + (earlyData ? 1 : 0);
  const publicKey = identity.publicKey;
  let layout = slot < SLOTS ? layouts[slot] : undefined;
  if (
    layout === undefined ||
    layout.min !== versions.min ||
    layout.max !== versions.max ||
    layout.proofLength !== proof.length ||
    layout.keyLength !== publicKey.length
  ) {
    layout = buildLayout(template, versions, binding, earlyData, publicKey.length, proof.length);
    if (slot < SLOTS) layouts[slot] = layout;
  }
  const bytes = layout.bytes.slice();
  bytes.set(base32DecodeInto(identity.peerId.toString(), peerIdScratch), layout.peerIdAt);
  bytes.set(publicKey, layout.publicKeyAt);
  bytes.set(nonce, layout.nonceAt);
  if (proof.length > 0) bytes.set(proof, layout.proofAt);
  return { body: bytes.subarray(layout.prefix), bytes };
}

const at: HelloFieldOffsets = { peerId: 0, publicKey: 0, nonce: 0, proof: 0 };

function buildLayout(
  template: HelloTemplate,
  versions: VersionRange,
  binding: ChannelBinding,
  earlyData: boolean,
  keyLength: number,
  proofLength: number,
): HelloLayout {
  const { bytes, body } = encodeHelloFrameWith(
    {
      minVersion: versions.min,
      maxVersion: versions.max,
      peerId: new Uint8Array(PEER_ID_LENGTH),
      keyType: KeyType.ED25519,
      publicKey: new Uint8Array(keyLength),
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
  return {
    min: versions.min,
    max: versions.max,
    bytes,
    prefix: bytes.length - body.length,
    peerIdAt: at.peerId,
    publicKeyAt: at.publicKey,
    keyLength,
    nonceAt: at.nonce,
    proofAt: at.proof,
    proofLength,
  };
}
