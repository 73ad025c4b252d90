// Live reload, in the page: connect to the shared worker (or, without SharedWorker, to the stream itself).
//
// livereload.py serves this function expression called with `live`, the names it shares with the
// Python side (written there once): `worker` and `stream`, their paths on this server, and `events`,
// the stream's event names ({HELLO, RELOAD, CSS}). The script tag says the rest: data-generation
// (the generation of workers that rendered the page) and data-base (the app's prefix, SCRIPT_NAME).
((live) => {
  const me = document.currentScript, rendered = me.dataset.generation, base = me.dataset.base;
  const {HELLO, RELOAD, CSS} = live.events;
  let reloading = null;  // a burst of saves: one reload
  const reload = () => { reloading = reloading || setTimeout(() => location.reload(), 50); };
  const handle = (event, data) => {
    if (event === HELLO) document.documentElement.dataset.devserverLive = "listening";
    if (event === HELLO && data !== rendered) location.reload();  // new code serves: now
    else if (event === RELOAD) reload();
    else if (event === CSS) {
      let swapped = false;
      for (const link of document.querySelectorAll('link[rel="stylesheet"]')) {
        const url = new URL(link.href, location.href);
        if (url.pathname.endsWith("/" + data)) {
          url.searchParams.set("devserver", Date.now());
          link.href = url.href;
          swapped = true;
        }
      }
      if (!swapped) reload();  // pulled in by @import, or not on this page as a link
    }
  };
  if (window.SharedWorker) {
    const worker = new SharedWorker(base + live.worker);
    worker.port.onmessage = (message) => handle(message.data.event, message.data.data);
    worker.port.start();
  } else {
    const source = new EventSource(base + live.stream);
    for (const name of Object.values(live.events)) source.addEventListener(name, (e) => handle(name, e.data));
  }
})
