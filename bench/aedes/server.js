// Aedes on Node for `deno task bench`: `node server.js PORT` serves MQTT on 127.0.0.1:PORT with
// Aedes' defaults (in-memory persistence) and prints "listening PORT" once it accepts clients.
import { createServer } from "node:net";

// A computed specifier: `deno check bench/` then does not try to resolve this npm package, which
// only Node (with bench/aedes/node_modules) runs.
const aedesPackage = "aedes";
const { Aedes } = await import(aedesPackage);

const port = Number(process.argv[2] ?? 1883);
const aedes = await Aedes.createBroker();
const server = createServer(aedes.handle);
server.listen(port, "127.0.0.1", () => console.log(`listening ${server.address().port}`));

// Stop cleanly on SIGTERM and SIGINT, as the harness stops every broker.
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.close();
    aedes.close(() => process.exit(0));
  });
}
