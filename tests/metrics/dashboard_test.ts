/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core, against a broker
 * configured from a mosquitto.conf with `dashboard true`, `password_file` and `acl_file`, with
 * Mosquitto's own `mosquitto_sub` and `mosquitto_pub` as the other clients.
 *
 * Screenshots of each screen, and the page weight and first paint, go to
 * `dist/test-output/dashboard/` (or `$MIDGE_TEST_OUTPUT/dashboard/`). The README's picture is
 * made by `scripts/dashboard-screenshot.ts`, with more traffic than a test should wait for.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { Broker } from "../../broker/broker.ts";
import { brokerOptionsFromConfig } from "../../broker/config/apply.ts";
import { loadConfigFile, parseConfig } from "../../broker/config/parse.ts";
import { delay, freePort, runProcess, spawnProcess } from "../_helpers/process.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const OUTPUT = `${Deno.env.get("MIDGE_TEST_OUTPUT") ?? `${ROOT}dist/test-output`}/dashboard`;
const CHROMIUM = "/usr/bin/chromium";
/** How long to wait for something to show on the page; a hang guard, not a measurement. */
const SHOW_TIMEOUT = 15_000;

/**
 * True when this build enforces `password_file` (it did not always: the option was accepted with
 * a "not supported yet" warning before). The login and ACL steps need it.
 */
const SECURED = (() => {
  const config = parseConfig("password_file /nonexistent\n", { file: "probe.conf" });
  return !config.warnings.some((w) => w.includes("password_file"));
})();

const USERS = { admin: "admin-secret", viewer: "viewer-secret" } as const;

/**
 * Evaluated in the page (a string, so that this file needs no DOM types): first contentful
 * paint, and bytes over the wire and decoded for the page and everything it loaded.
 */
const PAGE_TIMING = `(() => {
  const paint = performance.getEntriesByName("first-contentful-paint")[0];
  const entries = [
    ...performance.getEntriesByType("navigation"),
    ...performance.getEntriesByType("resource"),
  ];
  return {
    firstContentfulPaintMs: paint ? Math.round(paint.startTime) : undefined,
    transferredBytes: entries.reduce((sum, e) => sum + e.transferSize, 0),
    decodedBytes: entries.reduce((sum, e) => sum + e.decodedBodySize, 0),
    requests: entries.length,
  };
})()`;

async function writeSecurityFiles(dir: string): Promise<void> {
  const passwd = `${dir}/passwd`;
  await Deno.writeTextFile(passwd, "");
  for (const [user, password] of Object.entries(USERS)) {
    const result = await runProcess("mosquitto_passwd", ["-b", passwd, user, password]);
    assert.equal(result.code, 0, result.stderr.join("\n"));
  }
  await Deno.writeTextFile(
    `${dir}/acl`,
    [
      "user admin",
      "topic readwrite #",
      "topic read $SYS/#",
      "",
      "user viewer",
      "topic read tele/#",
      "topic read $SYS/#",
      "",
    ].join("\n"),
  );
}

/** mosquitto_pub/sub arguments for the admin user (none without a password file). */
function credentials(): string[] {
  return SECURED ? ["-u", "admin", "-P", USERS.admin] : [];
}

async function mosquittoPub(port: number, args: string[]): Promise<void> {
  const result = await runProcess("mosquitto_pub", [
    "-h",
    "127.0.0.1",
    "-p",
    String(port),
    ...credentials(),
    ...args,
  ]);
  assert.equal(result.code, 0, result.stderr.join("\n"));
}

async function logIn(page: Page, user: string, password: string): Promise<void> {
  await page.fill("#username", user);
  await page.fill("#password", password);
  await page.click("#login button[type=submit]");
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${OUTPUT}/${name}.png`, fullPage: true });
}

Deno.test({
  name: "Dashboard in Chromium: log in, clients, topic tree, publish, refusals, 360 px",
  // playwright-core keeps Node-style handles of its own between steps.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await Deno.mkdir(OUTPUT, { recursive: true });
    const dir = await Deno.makeTempDir({ prefix: "midge_dashboard_" });
    const [tcpPort, wsPort] = [freePort(), freePort()];
    if (SECURED) await writeSecurityFiles(dir);
    await Deno.writeTextFile(
      `${dir}/midge.conf`,
      [
        "sys_interval 1",
        ...(SECURED
          ? [`password_file ${dir}/passwd`, `acl_file ${dir}/acl`, "allow_anonymous false"]
          : ["allow_anonymous true"]),
        `listener ${tcpPort} 127.0.0.1`,
        `listener ${wsPort} 127.0.0.1`,
        "protocol websockets",
        "metrics true",
        "dashboard true",
        "",
      ].join("\n"),
    );
    const config = loadConfigFile(`${dir}/midge.conf`);
    const broker = new Broker({ ...brokerOptionsFromConfig(config), connectionMessages: false });
    await broker.applyConfig(config);
    const sub = spawnProcess("mosquitto_sub", [
      "-h",
      "127.0.0.1",
      "-p",
      String(tcpPort),
      "-i",
      "house-sub",
      "-v",
      "-t",
      "tele/#",
      "-t",
      "cmnd/#",
      ...credentials(),
    ], { lineBuffered: true });
    let browser: Browser | undefined;
    const url = `http://127.0.0.1:${wsPort}/`;
    try {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
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
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      const user = SECURED ? "admin" : "";
      const password = SECURED ? USERS.admin : "";

      await t.step("the page loads and logs in over MQTT", async () => {
        await page.goto(url);
        await page.waitForSelector("#login");
        // First paint and page weight, for the record (no threshold: the machine is shared).
        const timing = await page.evaluate(PAGE_TIMING);
        await Deno.writeTextFile(`${OUTPUT}/timing.json`, JSON.stringify(timing, null, 2) + "\n");
        await shot(page, "1-login");
        await logIn(page, user, password);
        await page.waitForSelector("#app:not([hidden])", { timeout: SHOW_TIMEOUT });
        await page.getByText("midge version").waitFor({ timeout: SHOW_TIMEOUT });
      });

      await t.step("a mosquitto_sub client appears in the client list", async () => {
        await page.locator("#clients tbody td", { hasText: "house-sub" }).first().waitFor({
          timeout: SHOW_TIMEOUT,
        });
      });

      await t.step("a mosquitto_pub message appears in the topic tree", async () => {
        await mosquittoPub(tcpPort, ["-t", "tele/ch4/SENSOR", "-m", '{"Temperature":21.5}']);
        await mosquittoPub(tcpPort, ["-t", "tele/ch4/STATE", "-m", "online", "-r"]);
        const sensor = page.locator("#tree li", { hasText: '{"Temperature":21.5}' }).last();
        await sensor.waitFor({ timeout: SHOW_TIMEOUT });
        assert.match(await sensor.innerText(), /SENSOR/);
        const state = page.locator("#tree li", { hasText: "online" }).last();
        await state.waitFor({ timeout: SHOW_TIMEOUT });
        assert.match(await state.innerText(), /retained/);
        // Wait for a few rate samples so the overview shows a chart.
        const deadline = Date.now() + SHOW_TIMEOUT;
        while (
          ((await page.getAttribute("#chart polyline", "points")) ?? "").split(" ").length < 3
        ) {
          assert.ok(Date.now() < deadline, "the rate chart never got 3 points");
          await delay(100);
        }
        await shot(page, "2-overview");
      });

      await t.step("the topic filter narrows the tree with + and #", async () => {
        await page.fill("#filter", "tele/+/SENSOR");
        await page.locator("#filter-note", { hasText: "1 topic." }).waitFor({
          timeout: SHOW_TIMEOUT,
        });
        assert.equal(await page.locator("#tree li", { hasText: "online" }).count(), 0);
        await shot(page, "3-filtered");
        await page.fill("#filter", "#");
      });

      await t.step("the publish form sends a message mosquitto_sub receives", async () => {
        await page.fill("#pub-topic", "cmnd/ch4/POWER1");
        await page.fill("#pub-payload", "OFF");
        // One tap (Enter) after typing.
        await page.press("#pub-payload", "Enter");
        await sub.waitForLine("cmnd/ch4/POWER1 OFF", { timeoutMs: SHOW_TIMEOUT });
        await page.locator("#pub-status", { hasText: "Published" }).waitFor({
          timeout: SHOW_TIMEOUT,
        });
        await shot(page, "4-published");
      });

      await t.step("keyboard only: Tab reaches the publish button", async () => {
        await page.focus("#pub-topic");
        for (let i = 0; i < 4; i++) await page.keyboard.press("Tab");
        const focused = await page.evaluate("document.activeElement?.textContent");
        assert.equal(focused, "Publish");
      });

      await t.step("at 360 px nothing overflows sideways", async () => {
        await page.setViewportSize({ width: 360, height: 800 });
        const width = await page.evaluate<number>("document.documentElement.scrollWidth");
        assert.ok(width <= 360, `page is ${width} px wide at a 360 px viewport`);
        await shot(page, "5-phone-360px");
      });

      await t.step({
        name: "a wrong password is refused",
        ignore: !SECURED,
        async fn() {
          const other = await browser!.newPage();
          try {
            await other.goto(url);
            await logIn(other, "admin", "not-the-password");
            await other.locator("#login-error", { hasText: /Not authorised|Wrong/ }).waitFor({
              timeout: SHOW_TIMEOUT,
            });
            assert.equal(await other.locator("#app").isHidden(), true);
            await shot(other, "6-wrong-password");
          } finally {
            await other.close();
          }
        },
      });

      await t.step({
        name: "a user without read access to a topic does not see it",
        ignore: !SECURED,
        async fn() {
          await mosquittoPub(tcpPort, ["-t", "secret/door/code", "-m", "4711", "-r"]);
          await mosquittoPub(tcpPort, ["-t", "tele/ch5/STATE", "-m", "ON", "-r"]);
          // The admin sees both...
          await page.locator("#tree li", { hasText: "4711" }).last().waitFor({
            timeout: SHOW_TIMEOUT,
          });
          const viewer = await browser!.newPage({ viewport: { width: 1100, height: 900 } });
          try {
            await viewer.goto(url);
            await logIn(viewer, "viewer", USERS.viewer);
            await viewer.waitForSelector("#app:not([hidden])", { timeout: SHOW_TIMEOUT });
            // ...the viewer only tele/#, retained ones included.
            await viewer.locator("#tree .payload", { hasText: /^ON$/ }).last().waitFor({
              timeout: SHOW_TIMEOUT,
            });
            await mosquittoPub(tcpPort, ["-t", "secret/door/code", "-m", "4712"]);
            await mosquittoPub(tcpPort, ["-t", "tele/ch5/STATE", "-m", "OFF"]);
            await viewer.locator("#tree .payload", { hasText: /^OFF$/ }).last().waitFor({
              timeout: SHOW_TIMEOUT,
            });
            const tree = await viewer.locator("#tree").innerText();
            assert.doesNotMatch(tree, /secret|4711|4712/);
            await shot(viewer, "7-viewer-acl");
          } finally {
            await viewer.close();
          }
        },
      });
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${sub.describeOutput()}`);
    } finally {
      await browser?.close();
      await sub.close();
      await broker.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
