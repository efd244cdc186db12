/**
 * Takes the README's dashboard screenshot (`docs/dashboard.png`): a broker with eight
 * Tasmota-like devices, two subscribers and two bridge states, the dashboard logged in, and a
 * few minutes of traffic for the rate chart.
 *
 * Usage: `deno run -A scripts/dashboard-screenshot.ts [SECONDS] [OUTPUT]` (180 s and
 * `docs/dashboard.png` by default). Needs Debian's `chromium`.
 *
 * @module
 */

import mqtt from "mqtt";
import { chromium } from "playwright-core";
import { Broker } from "../broker/broker.ts";

const broker = new Broker({ sysInterval: 2, connectionMessages: false });
const [ws] = await broker.listen({
  port: 0,
  hostname: "127.0.0.1",
  protocol: "websockets",
  settings: { metrics: true, dashboard: true },
});
const [tcp] = await broker.listen({ port: 0, hostname: "127.0.0.1" });
const rooms = ["kitchen", "hall", "garage", "bedroom", "office", "garden", "attic", "porch"];
const devices = await Promise.all(
  rooms.map((room, i) =>
    mqtt.connectAsync(`mqtt://127.0.0.1:${tcp!.port}`, {
      clientId: `tasmota-${room}`,
      protocolVersion: i % 3 === 0 ? 5 : 4,
    })
  ),
);
const ha = await mqtt.connectAsync(`mqtt://127.0.0.1:${tcp!.port}`, { clientId: "home-assistant" });
await ha.subscribeAsync(["tele/#", "stat/#"]);
const logger = await mqtt.connectAsync(`mqtt://127.0.0.1:${tcp!.port}`, {
  clientId: "influx-logger",
});
await logger.subscribeAsync("tele/+/SENSOR", { qos: 1 });
// Bridge states as bridges publish them; no remote broker is needed for a picture.
broker.publish({
  topic: "$SYS/broker/connection/cloud-bridge/state",
  payload: new TextEncoder().encode("1"),
  qos: 0,
  retain: true,
  properties: undefined,
  expiresAt: 0,
  origin: "",
}, false);
broker.publish({
  topic: "$SYS/broker/connection/backup-site/state",
  payload: new TextEncoder().encode("0"),
  qos: 0,
  retain: true,
  properties: undefined,
  expiresAt: 0,
  origin: "",
}, false);
devices.forEach((d, i) => {
  d.publish(`stat/${rooms[i]}/POWER1`, i % 2 ? "ON" : "OFF", { retain: true });
  d.publish(`tele/${rooms[i]}/LWT`, "Online", { retain: true });
});
const start = Date.now();
let tick = 0;
const timer = setInterval(() => {
  tick++;
  const t = (Date.now() - start) / 1000;
  const burst = 3 + Math.round(4 * (1 + Math.sin(t / 15)));
  devices.forEach((d, i) => {
    for (let k = 0; k < burst; k++) {
      d.publish(
        `tele/${rooms[i]}/SENSOR`,
        JSON.stringify({
          Time: new Date().toISOString().slice(0, 19),
          AM2301: {
            Temperature: +(19 + i * 0.7 + Math.sin(t / 20 + i)).toFixed(1),
            Humidity: 40 + i,
          },
        }),
      );
    }
    if (tick % 5 === i % 5) {
      d.publish(
        `tele/${rooms[i]}/STATE`,
        JSON.stringify({
          Uptime: `0T0${i}:1${i}:00`,
          POWER1: i % 2 ? "ON" : "OFF",
          Wifi: { RSSI: 60 + i },
        }),
      );
    }
  });
}, 500);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
  ],
});
const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
await page.goto(`http://127.0.0.1:${ws!.port}/`);
await page.click("#login button[type=submit]");
await page.waitForSelector("#app:not([hidden])");
await new Promise((r) => setTimeout(r, Number(Deno.args[0] ?? 150) * 1000));
await page.fill("#pub-topic", "cmnd/kitchen/POWER1");
await page.fill("#pub-payload", "OFF");
await page.fill("#filter", "+/kitchen/#");
await new Promise((r) => setTimeout(r, 1500));
await page.screenshot({
  path: Deno.args[1] ?? new URL("../docs/dashboard.png", import.meta.url).pathname,
  fullPage: true,
});
clearInterval(timer);
await browser.close();
await Promise.all([...devices, ha, logger].map((c) => c.endAsync()));
await broker.close();
