/// <reference lib="dom" />
/**
 * The dashboard page: an MQTT client of the broker over WebSockets (MQTT.js), so it sees exactly
 * what the logged-in user's ACL lets it read and needs no API of its own. It subscribes to
 * `$SYS/#` (broker numbers, `$SYS/broker/clients/info/+`, bridge states) and `#` (the topic
 * tree), and publishes from its form.
 *
 * Bundled for the browser by `scripts/build-dashboard.ts` into `assets.ts`; not part of the
 * broker's own module graph.
 *
 * @module
 */

import mqttJs, { type IClientOptions, type MqttClient } from "mqtt";

/** What `$SYS/broker/clients/info/<id>` carries (see broker/sys_tree.ts). */
interface ClientInfo {
  id: string;
  connected: boolean;
  protocol: string;
  username?: string;
  address?: string;
  port?: number;
  connectedAt?: number;
  subscriptions: number;
  queued: number;
}

interface TopicEntry {
  text: string;
  bytes: number;
  time: number;
  retained: boolean;
}

/** A rate sample: messages per second in and out at time `t`. */
interface RatePoint {
  t: number;
  in: number;
  out: number;
}

const WINDOW_MS = 10 * 60 * 1000;
const MAX_TOPICS_SHOWN = 300;
const PAYLOAD_PREVIEW = 120;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

const ui = {
  status: $("status"),
  logout: $<HTMLButtonElement>("logout"),
  login: $<HTMLFormElement>("login"),
  username: $<HTMLInputElement>("username"),
  password: $<HTMLInputElement>("password"),
  loginError: $("login-error"),
  app: $("app"),
  clients: $("t-clients"),
  in: $("t-in"),
  out: $("t-out"),
  retained: $("t-retained"),
  subs: $("t-subs"),
  uptime: $("t-uptime"),
  version: $("version"),
  chart: document.getElementById("chart") as unknown as SVGSVGElement,
  chartMax: $("chart-max"),
  publish: $<HTMLFormElement>("publish"),
  pubTopic: $<HTMLInputElement>("pub-topic"),
  pubPayload: $<HTMLInputElement>("pub-payload"),
  pubQos: $<HTMLSelectElement>("pub-qos"),
  pubRetain: $<HTMLInputElement>("pub-retain"),
  pubStatus: $("pub-status"),
  bridges: $("bridges"),
  noBridges: $("no-bridges"),
  clientRows: $("clients").querySelector("tbody") as HTMLTableSectionElement,
  clientsNote: $("clients-note"),
  filter: $<HTMLInputElement>("filter"),
  filterNote: $("filter-note"),
  tree: $("tree"),
};

let client: MqttClient | undefined;
const sys = new Map<string, string>();
const clients = new Map<string, ClientInfo>();
const bridges = new Map<string, string>();
const topics = new Map<string, TopicEntry>();
const rates: RatePoint[] = [];
let lastCounters: { t: number; in: number; out: number } | undefined;
/** The first interval after connecting counts the retained `$SYS` sent to us: not a rate. */
let skipSample = true;
let renderScheduled = false;
let treeDirty = true;

const decoder = new TextDecoder("utf-8", { fatal: true });

function text(payload: Uint8Array): string {
  try {
    return decoder.decode(payload);
  } catch {
    const hex = Array.from(payload.subarray(0, 32), (b) => b.toString(16).padStart(2, "0"));
    return `0x${hex.join("")}${payload.length > 32 ? "…" : ""}`;
  }
}

function setStatus(message: string): void {
  ui.status.textContent = message;
}

// --- Connecting -----------------------------------------------------------------------------

function logIn(username: string, password: string): void {
  client?.end(true);
  ui.loginError.textContent = "";
  setStatus("Connecting…");
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/mqtt`;
  const options: IClientOptions = {
    protocolVersion: 5,
    clientId: `midge-dashboard-${Math.random().toString(36).slice(2, 10)}`,
    clean: true,
    keepalive: 30,
    connectTimeout: 10_000,
    // No retry until the first CONNACK says the credentials are good.
    reconnectPeriod: 0,
  };
  if (username !== "") options.username = username;
  if (password !== "") options.password = password;
  const mqtt = mqttJs.connect(url, options);
  client = mqtt;
  let accepted = false;
  mqtt.on("connect", () => {
    accepted = true;
    skipSample = true;
    mqtt.options.reconnectPeriod = 3000;
    setStatus(`Connected${username ? ` as ${username}` : ""}`);
    ui.login.hidden = true;
    ui.app.hidden = false;
    ui.logout.hidden = false;
    // Retain As Published: the retained flag shown is the publisher's, live messages included.
    mqtt.subscribe({ "$SYS/#": { qos: 0, rap: true }, "#": { qos: 0, rap: true } });
  });
  mqtt.on("message", (topic, payload, packet) => onMessage(topic, payload, packet.retain));
  mqtt.on("error", (error: Error & { code?: number }) => {
    if (accepted) return;
    mqtt.end(true);
    ui.loginError.textContent = refusal(error);
    setStatus("Not connected");
    ui.password.select();
  });
  mqtt.on("close", () => {
    if (accepted && client === mqtt) setStatus("Connection lost, reconnecting…");
  });
  mqtt.on("reconnect", () => setStatus("Reconnecting…"));
}

/** A person's explanation of a refused CONNECT. */
function refusal(error: Error & { code?: number }): string {
  switch (error.code) {
    case 134: // 0x86 Bad User Name or Password
    case 4:
      return "Wrong user name or password.";
    case 135: // 0x87 Not authorized: Mosquitto's answer to a wrong password as well
    case 5:
      return "Not authorised: check the user name and password.";
    default:
      return `Cannot connect: ${error.message}`;
  }
}

function logOut(): void {
  client?.end(true);
  client = undefined;
  for (const map of [sys, clients, bridges, topics]) map.clear();
  rates.length = 0;
  lastCounters = undefined;
  skipSample = true;
  ui.app.hidden = true;
  ui.logout.hidden = true;
  ui.login.hidden = false;
  ui.password.value = "";
  setStatus("Not connected");
  ui.username.focus();
}

// --- Messages -------------------------------------------------------------------------------

function onMessage(topic: string, payload: Uint8Array, retained: boolean): void {
  if (topic.startsWith("$SYS/")) {
    onSys(topic, payload);
  } else {
    topics.set(topic, {
      text: text(payload.subarray(0, PAYLOAD_PREVIEW * 4)),
      bytes: payload.length,
      time: Date.now(),
      retained,
    });
    treeDirty = true;
  }
  scheduleRender();
}

function onSys(topic: string, payload: Uint8Array): void {
  const value = text(payload);
  const info = topic.match(/^\$SYS\/broker\/clients\/info\/(.+)$/);
  if (info) {
    const key = info[1] as string;
    if (payload.length === 0) clients.delete(key);
    else {
      try {
        clients.set(key, JSON.parse(value) as ClientInfo);
      } catch {
        // Not ours to show.
      }
    }
    return;
  }
  const bridge = topic.match(/^\$SYS\/broker\/connection\/(.+)\/state$/);
  if (bridge) {
    bridges.set(bridge[1] as string, value);
    return;
  }
  sys.set(topic, value);
  // The broker publishes uptime last in each update: every counter is current now.
  if (topic === "$SYS/broker/uptime") sampleRates();
}

function counter(name: string): number | undefined {
  const value = sys.get(`$SYS/broker/${name}`);
  return value === undefined ? undefined : Number(value);
}

function sampleRates(): void {
  const received = counter("publish/messages/received");
  const sent = counter("publish/messages/sent");
  if (received === undefined || sent === undefined) return;
  const now = Date.now();
  if (lastCounters && skipSample) {
    skipSample = false;
  } else if (lastCounters && now > lastCounters.t) {
    const seconds = (now - lastCounters.t) / 1000;
    rates.push({
      t: now,
      in: Math.max(0, received - lastCounters.in) / seconds,
      out: Math.max(0, sent - lastCounters.out) / seconds,
    });
    while (rates.length > 0 && (rates[0] as RatePoint).t < now - WINDOW_MS) rates.shift();
  }
  lastCounters = { t: now, in: received, out: sent };
}

// --- Rendering ------------------------------------------------------------------------------

function scheduleRender(): void {
  if (renderScheduled) return;
  renderScheduled = true;
  // At most four times a second, however busy the broker is.
  setTimeout(() => {
    renderScheduled = false;
    requestAnimationFrame(render);
  }, 250);
}

function render(): void {
  renderTiles();
  renderChart();
  renderClients();
  renderBridges();
  if (treeDirty) renderTree();
}

function formatRate(value: number | undefined): string {
  if (value === undefined) return "–";
  return value >= 100 ? String(Math.round(value)) : value.toFixed(1);
}

function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor(seconds % 86400 / 3600);
  const m = Math.floor(seconds % 3600 / 60);
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m ${Math.floor(seconds % 60)}s`;
}

function renderTiles(): void {
  const last = rates[rates.length - 1];
  const online = [...clients.values()].filter((c) => c.connected).length;
  ui.clients.textContent = sys.get("$SYS/broker/clients/connected") ?? String(online);
  ui.in.textContent = formatRate(last?.in);
  ui.out.textContent = formatRate(last?.out);
  ui.retained.textContent = sys.get("$SYS/broker/retained messages/count") ?? "–";
  ui.subs.textContent = sys.get("$SYS/broker/subscriptions/count") ?? "–";
  const uptime = parseInt(sys.get("$SYS/broker/uptime") ?? "", 10);
  ui.uptime.textContent = Number.isFinite(uptime) ? formatUptime(uptime) : "–";
  ui.version.textContent = sys.get("$SYS/broker/version") ?? "";
}

const SVG = "http://www.w3.org/2000/svg";

function renderChart(): void {
  const chart = ui.chart;
  const now = Date.now();
  let max = 1;
  for (const point of rates) max = Math.max(max, point.in, point.out);
  const x = (t: number) => ((t - (now - WINDOW_MS)) / WINDOW_MS * 600).toFixed(1);
  const y = (v: number) => (156 - v / max * 150).toFixed(1);
  const line = (pick: (p: RatePoint) => number, className: string) => {
    const polyline = document.createElementNS(SVG, "polyline");
    polyline.setAttribute("class", className);
    polyline.setAttribute("points", rates.map((p) => `${x(p.t)},${y(pick(p))}`).join(" "));
    return polyline;
  };
  chart.replaceChildren(line((p) => p.in, "in"), line((p) => p.out, "out"));
  const last = rates[rates.length - 1];
  ui.chartMax.textContent = rates.length ? `peak ${formatRate(max)}/s` : "waiting for $SYS…";
  chart.setAttribute(
    "aria-label",
    last
      ? `Messages per second: ${formatRate(last.in)} in, ${formatRate(last.out)} out; peak ${
        formatRate(max)
      } over the last 10 minutes`
      : "No data yet",
  );
}

function cell(row: HTMLTableRowElement, value: string): void {
  row.insertCell().textContent = value;
}

function renderClients(): void {
  const online = [...clients.values()].filter((c) => c.connected);
  online.sort((a, b) => a.id.localeCompare(b.id));
  const rows = online.map((c) => {
    const row = document.createElement("tr");
    cell(row, c.username ? `${c.id} (${c.username})` : c.id);
    cell(row, c.address === undefined ? "" : `${c.address}:${c.port}`);
    cell(row, c.protocol);
    cell(row, c.connectedAt ? new Date(c.connectedAt).toLocaleTimeString() : "");
    cell(row, String(c.subscriptions));
    cell(row, String(c.queued));
    return row;
  });
  ui.clientRows.replaceChildren(...rows);
  const offline = clients.size - online.length;
  ui.clientsNote.textContent = clients.size === 0
    ? 'No client list: the broker publishes it on $SYS/broker/clients/info/# while a listener has "dashboard true", if this user may read it.'
    : offline > 0
    ? `${offline} disconnected persistent session${offline === 1 ? "" : "s"} not shown.`
    : "";
}

function renderBridges(): void {
  const items = [...bridges.entries()].sort(([a], [b]) => a.localeCompare(b)).map(
    ([name, state]) => {
      const item = document.createElement("li");
      const up = state.trim() === "1";
      item.className = up ? "up" : "down";
      item.textContent = `${name}: ${up ? "connected" : "disconnected"}`;
      return item;
    },
  );
  ui.bridges.replaceChildren(...items);
  ui.noBridges.hidden = items.length > 0;
}

/** MQTT topic matching [MQTT-4.7.1]: `+` one level, `#` the rest; `$` topics only literally. */
function matches(filter: string[], topic: string[]): boolean {
  for (let i = 0; i < filter.length; i++) {
    const level = filter[i];
    if (level === "#") return true;
    if (i >= topic.length) return false;
    if (level !== "+" && level !== topic[i]) return false;
  }
  return filter.length === topic.length;
}

function validFilter(filter: string): boolean {
  if (filter === "") return false;
  const levels = filter.split("/");
  return levels.every((level, i) =>
    level === "#" ? i === levels.length - 1 : level === "+" || !/[+#]/.test(level)
  );
}

interface TreeNode {
  children: Map<string, TreeNode>;
  topic?: string;
}

function renderTree(): void {
  treeDirty = false;
  const filterText = ui.filter.value.trim() || "#";
  if (!validFilter(filterText)) {
    ui.filterNote.textContent = "Not a valid filter: use + for one level and # only at the end.";
    ui.filter.setAttribute("aria-invalid", "true");
    return;
  }
  ui.filter.removeAttribute("aria-invalid");
  const filter = filterText.split("/");
  const names = [...topics.keys()].filter((topic) => matches(filter, topic.split("/"))).sort();
  const shown = names.slice(0, MAX_TOPICS_SHOWN);
  ui.filterNote.textContent = names.length === 0
    ? topics.size === 0 ? "No messages yet." : "No topic matches this filter."
    : names.length > shown.length
    ? `Showing ${shown.length} of ${names.length} topics: narrow the filter to see the rest.`
    : `${names.length} topic${names.length === 1 ? "" : "s"}.`;
  const root: TreeNode = { children: new Map() };
  for (const topic of shown) {
    let node = root;
    for (const level of topic.split("/")) {
      let child = node.children.get(level);
      if (!child) {
        child = { children: new Map() };
        node.children.set(level, child);
      }
      node = child;
    }
    node.topic = topic;
  }
  ui.tree.replaceChildren(...renderLevel(root));
}

function renderLevel(node: TreeNode): HTMLLIElement[] {
  const items: HTMLLIElement[] = [];
  for (const [name, child] of node.children) {
    const item = document.createElement("li");
    if (child.topic !== undefined) {
      const topic = child.topic;
      const entry = topics.get(topic) as TopicEntry;
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = name === "" ? "(empty)" : name;
      button.title = `Publish to ${topic}`;
      button.setAttribute("aria-label", `${topic}: publish to this topic`);
      button.addEventListener("click", () => {
        ui.pubTopic.value = topic;
        ui.pubPayload.value = entry.text;
        ui.pubRetain.checked = entry.retained;
        ui.pubPayload.focus();
        ui.pubPayload.select();
      });
      const payload = document.createElement("span");
      payload.className = "payload";
      payload.textContent = entry.text.length > PAYLOAD_PREVIEW
        ? `${entry.text.slice(0, PAYLOAD_PREVIEW)}…`
        : entry.text;
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = `${new Date(entry.time).toLocaleTimeString()} · ${entry.bytes} B`;
      item.append(button, payload, meta);
      if (entry.retained) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = "retained";
        item.append(badge);
      }
    } else {
      item.append(document.createTextNode(name === "" ? "(empty)" : name));
    }
    if (child.children.size > 0) {
      const list = document.createElement("ul");
      list.append(...renderLevel(child));
      item.append(list);
    }
    items.push(item);
  }
  return items;
}

// --- Publishing -----------------------------------------------------------------------------

function publish(): void {
  const mqtt = client;
  const topic = ui.pubTopic.value.trim();
  if (!mqtt || topic === "") return;
  if (/[+#]/.test(topic)) {
    ui.pubStatus.textContent = "A topic to publish to cannot contain + or #.";
    return;
  }
  const qos = Number(ui.pubQos.value) as 0 | 1 | 2;
  const payload = ui.pubPayload.value;
  const retain = ui.pubRetain.checked;
  ui.pubStatus.textContent = "Publishing…";
  mqtt.publish(topic, payload, { qos, retain }, (error, packet) => {
    const code = (packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0;
    ui.pubStatus.textContent = error
      ? `Not published: ${error.message}`
      : code === 135
      ? `Not published: this user may not publish to ${topic}.`
      : `Published "${payload}" to ${topic} at ${new Date().toLocaleTimeString()}.`;
  });
}

// --- Wiring ---------------------------------------------------------------------------------

ui.login.addEventListener("submit", (event) => {
  event.preventDefault();
  logIn(ui.username.value.trim(), ui.password.value);
});
ui.logout.addEventListener("click", logOut);
ui.publish.addEventListener("submit", (event) => {
  event.preventDefault();
  publish();
});
ui.filter.addEventListener("input", () => {
  treeDirty = true;
  scheduleRender();
});
// The chart moves with time even when nothing arrives.
setInterval(() => {
  if (client) scheduleRender();
}, 5000);
ui.username.focus();
