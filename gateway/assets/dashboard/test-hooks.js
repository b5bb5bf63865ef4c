// Test hooks for browser tests (Playwright / ChromeDriver): `window.__ds` is a plain
// object kept current in place, so `page.evaluate(() => window.__ds)` or
// `page.waitForFunction(() => window.__ds.messages > 10)` see live values.
//
//   connected     boolean, the WebSocket is open
//   status        'connecting' | 'connected' | 'reconnecting' | 'offline' | 'unauthorized' | 'refused'
//   lastSeq       { [room]: highest applied seq }, e.g. {"product:NIFTY": 1042, "general": 1040}
//   messages      data frames applied (after de-duplication)
//   duplicates    data frames dropped because seq <= lastSeq[room]
//   reconnects    reconnect attempts so far
//   lastPrice     latest underlying price of the selected product (null before the first)
//   chainRows     rows rendered in the option chain table (strikes of the selected expiry)
//   chainUpdates  chain_update frames applied for the selected product
//   bars          bars shown on the price chart (closed + the live one)
//   product       selected product;  expiry: selected expiry (ISO date) or null
//   lastMessageAt Date.now() of the last data frame (0 before the first)
//   renders       animation frames that updated the DOM
//   errors        error events received from the server
//   replay        the replay session (?replay=<prefix>) the page follows, or null (live)
//   products      products in the picker (the universe)
//   pickerOpen    the product picker's list is open
//   marketOpen    the selected product's market is in session (null: unknown)
//   deltas        delta chain_update frames applied (the chain room is subscribed with
//                 "encoding":"delta")
//   gaps          delta frames that did not apply to the chain held (each leads to a resync)
//   resyncs       resyncs asked for ({"op":"resync",…}) after a gap
//   recentChains  the last 50 chains applied for the selected product: [{seq, chain}]
//   dropDeltas(n) discard the next n delta frames as if lost (to test gap → resync)

export const hooks = {
  connected: false,
  status: 'connecting',
  lastSeq: {},
  messages: 0,
  duplicates: 0,
  reconnects: 0,
  lastPrice: null,
  chainRows: 0,
  chainUpdates: 0,
  bars: 0,
  product: null,
  expiry: null,
  lastMessageAt: 0,
  renders: 0,
  errors: 0,
  replay: null,
  products: 0,
  pickerOpen: false,
  marketOpen: null,
  deltas: 0,
  gaps: 0,
  resyncs: 0,
  recentChains: [],
  dropDeltas: () => {},
};

window.__ds = hooks;
