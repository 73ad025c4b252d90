// Live reload's SharedWorker: one per browser, a single stream, its events passed to every tab.
//
// livereload.py serves this function expression called with `live`, the names it shares with the
// Python side (written there once): `stream`, the stream's URL relative to this script's, and
// `events`, the stream's event names ({HELLO, RELOAD, CSS}).
((live) => {
  const ports = new Set();
  let last = null;  // the latest hello, for a tab that connects later
  const source = new EventSource(new URL(live.stream, self.location.href).href);
  for (const name of Object.values(live.events)) {
    source.addEventListener(name, (e) => {
      const message = {event: name, data: e.data};
      if (name === live.events.HELLO) last = message;
      for (const port of ports) port.postMessage(message);
    });
  }
  self.onconnect = (connection) => {
    const port = connection.ports[0];
    ports.add(port);
    if (last) port.postMessage(last);
  };
})
