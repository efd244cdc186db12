import { Broker } from "../../broker/broker.ts";
import mqtt from "mqtt";
const broker = new Broker({ verbose: true });
const [ws] = await broker.listen({ port: 0, hostname: "127.0.0.1", protocol: "websockets" });
console.log("ws port", ws!.port);
try {
  const c = await mqtt.connectAsync(`ws://127.0.0.1:${ws!.port}`, { reconnectPeriod: 0, connectTimeout: 3000 });
  console.log("connected");
  await c.endAsync();
} catch (e) { console.log("ERR", e); }
await broker.close();
