/**
 * Peer exchange (docs/PROTOCOL.md §7.1), sans-IO: building the PeerAddresses frame this node sends, reading
 * one a peer sent (bounded, each address judged like a Hello's `listen_addrs`), and the per-connection gate
 * that bounds how often frames are used, requests sent and requests answered.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { FrameSchema, type Frame } from "../../generated/peerlink/v1/frame_pb.js";
import { KnownPeerSchema, type PeerAddresses } from "../../generated/peerlink/v1/peer_exchange_pb.js";
import { mayAdvertise } from "../manager/address-scope.js";
import { PEER_ID_LENGTH, PeerId } from "../identity/peer-id.js";
import { isHostPort } from "../peers/peer-record.js";
import {
  PEER_EXCHANGE_MAX_ADDRESSES,
  PEER_EXCHANGE_MAX_PEERS_RECEIVED,
  PEER_EXCHANGE_MIN_RECEIVE_INTERVAL_MS,
  PEER_EXCHANGE_MIN_REQUEST_INTERVAL_MS,
} from "./defaults.js";

/** A peer with its addresses, best first. */
export interface SharedPeer {
  /** Printable peer id. */
  readonly peerId: string;
  /** `"host:port"` addresses, best first. */
  readonly addresses: readonly string[];
}

/**
 * The PeerAddresses frame for `receiver`: up to `maxPeers` of `known` (connected peers first, then the
 * others, each group shuffled), never the receiver itself, each with at most 4 addresses.
 */
export function buildPeerAddresses(
  known: { readonly connected: readonly SharedPeer[]; readonly others: readonly SharedPeer[] },
  receiver: string,
  maxPeers: number,
  request: boolean,
  random: () => number,
): Frame {
  const chosen: SharedPeer[] = [];
  for (const group of [known.connected, known.others]) {
    for (const peer of shuffle(group, random)) {
      if (chosen.length >= maxPeers) break;
      if (peer.peerId !== receiver && peer.addresses.length > 0 && !chosen.some((c) => c.peerId === peer.peerId)) chosen.push(peer);
    }
  }
  const peers = chosen.map((p) =>
    create(KnownPeerSchema, { peerId: PeerId.parse(p.peerId).bytes, addrs: p.addresses.slice(0, PEER_EXCHANGE_MAX_ADDRESSES) }),
  );
  return create(FrameSchema, { kind: { case: "peerAddresses", value: { peers, request } } });
}

/**
 * The peers of a received PeerAddresses worth recording: at most 32 entries read, each with a 32-byte id
 * that is neither this node nor the sender, and at most 4 addresses that the sender (seen at
 * `senderAddress`) may advertise and that no other known peer owns. Malformed entries are skipped.
 */
export function readPeerAddresses(
  message: PeerAddresses,
  context: { readonly self: string; readonly sender: string; readonly senderAddress: string; readonly ownerOf: (address: string) => string | undefined },
): SharedPeer[] {
  const out: SharedPeer[] = [];
  for (const entry of message.peers.slice(0, PEER_EXCHANGE_MAX_PEERS_RECEIVED)) {
    if (entry.peerId.length !== PEER_ID_LENGTH) continue;
    const peerId = PeerId.fromBytes(entry.peerId).toString();
    if (peerId === context.self || peerId === context.sender || out.some((p) => p.peerId === peerId)) continue;
    const addresses: string[] = [];
    for (const address of entry.addrs.slice(0, PEER_EXCHANGE_MAX_ADDRESSES)) {
      if (!isHostPort(address) || !mayAdvertise(address, context.senderAddress) || addresses.includes(address)) continue;
      const owner = context.ownerOf(address);
      if (owner === undefined || owner === peerId) addresses.push(address);
    }
    if (addresses.length > 0) out.push({ peerId, addresses });
  }
  return out;
}

/** What a connection's gate says about a received frame. */
export interface ExchangeVerdict {
  /** Record the peers it carries. */
  readonly use: boolean;
  /** Answer it with this node's own PeerAddresses (it asked, and no answer went out recently). */
  readonly answer: boolean;
}

/**
 * The per-connection bounds of peer exchange: at most one received frame used per 10 s (the first frame
 * after this node's own request is always used: it is the answer), one request sent and one request
 * answered per 10 s. Times in ms.
 */
export class ExchangeGate {
  /** Set by the owner once a list from this connection was used. */
  fetched = false;
  #usedAt = -Infinity;
  #answeredAt = -Infinity;
  #requestedAt = -Infinity;
  #awaitingAnswer = false;

  /** A frame arrived at `now` with `request`. */
  receive(request: boolean, now: number): ExchangeVerdict {
    const use = this.#awaitingAnswer || now - this.#usedAt >= PEER_EXCHANGE_MIN_RECEIVE_INTERVAL_MS;
    this.#awaitingAnswer = false;
    if (use) this.#usedAt = now;
    const answer = request && now - this.#answeredAt >= PEER_EXCHANGE_MIN_REQUEST_INTERVAL_MS;
    if (answer) this.#answeredAt = now;
    return { use, answer };
  }

  /** True when a request may be sent at `now` (and records it). */
  mayRequest(now: number): boolean {
    if (now - this.#requestedAt < PEER_EXCHANGE_MIN_REQUEST_INTERVAL_MS) return false;
    this.#requestedAt = now;
    this.#awaitingAnswer = true;
    return true;
  }
}

function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
