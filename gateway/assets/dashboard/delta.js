// Delta frames of chain_update (SPEC §8, subscribe with "encoding":"delta").
//
// A delta frame carries "encoding":"delta" and "base_seq": the seq of the chain (same
// room, same expiry) it applies to. Its data holds the chain's fields except strikes,
// calls and puts; strikes only when the strike list changed; calls and puts as rows,
// one per changed or new quote, its values in the order the `subscribed` event gave
// (`quote_fields`). The chain it stands for: the previous chain's fields replaced by the
// delta's, its quotes whose strike is still listed, replaced or joined by the rows, in
// strikes order (the gateway's reference: gateway/src/live/delta.rs `apply`).
//
// A delta whose base is not the chain we hold is a gap: the caller asks the server to
// resync the room ({"op":"resync",…}), which answers with a `resync` event and whole
// frames, and drops deltas until then.

/** The chain `delta` (a delta frame's data) stands for after `prev` (a whole chain). */
export function applyDelta(prev, delta, fields) {
  const out = { ...prev };
  for (const [k, v] of Object.entries(delta)) {
    if (k !== 'calls' && k !== 'puts') out[k] = v;
  }
  const strikes = Array.isArray(out.strikes) ? out.strikes : [];
  const at = new Map(strikes.map((k, i) => [k, i]));
  for (const side of ['calls', 'puts']) {
    const byStrike = new Map();
    for (const q of prev[side] || []) byStrike.set(q.strike, q);
    for (const row of delta[side] || []) {
      const q = {};
      fields.forEach((f, i) => {
        q[f] = row[i];
      });
      byStrike.set(q.strike, q);
    }
    out[side] = [...byStrike.values()]
      .filter((q) => at.has(q.strike))
      .sort((a, b) => at.get(a.strike) - at.get(b.strike));
  }
  return out;
}

/** The whole chain of every (room, expiry) a delta subscription has received. */
export class ChainDeltas {
  constructor() {
    this.fields = new Map(); // room -> quote_fields from its `subscribed` event
    this.base = new Map(); // `${room}|${expiry}` -> { seq, chain }
    this.waiting = new Set(); // rooms with a resync asked for and not answered yet
    this.gaps = 0; // deltas that did not apply to the chain we held
    this.applied = 0; // deltas applied
  }

  /** The `subscribed` event of a room. */
  subscribed(room, fields) {
    if (Array.isArray(fields)) this.fields.set(room, fields);
    else this.fields.delete(room);
  }

  /** Forget a room (left, or resynced: whole frames follow). */
  forget(room) {
    for (const k of [...this.base.keys()]) if (k.startsWith(`${room}|`)) this.base.delete(k);
    this.waiting.delete(room);
  }

  /**
   * The whole chain of a chain_update frame; `null` for a delta that cannot be applied
   * (a gap: `needsResync(room)` says whether to ask for one).
   */
  resolve(msg) {
    const d = msg.data;
    if (!d || !d.expiry) return d;
    const key = `${msg.room}|${d.expiry}`;
    if (msg.encoding !== 'delta') {
      this.base.set(key, { seq: msg.seq, chain: d });
      return d;
    }
    const base = this.base.get(key);
    const fields = this.fields.get(msg.room);
    if (!base || base.seq !== msg.base_seq || !fields) {
      this.gaps += 1;
      this.base.delete(key);
      return null;
    }
    const chain = applyDelta(base.chain, d, fields);
    this.base.set(key, { seq: msg.seq, chain });
    this.applied += 1;
    return chain;
  }

  /** True once per gap: ask the server for a resync of `room`. */
  needsResync(room) {
    if (this.waiting.has(room)) return false;
    this.waiting.add(room);
    return true;
  }
}
