/**
 * `deploy/grafana/midge.json` queries only metrics midge exports, in PromQL that Prometheus's
 * own `promtool` accepts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Broker } from "../../broker/broker.ts";
import { runProcess } from "../_helpers/process.ts";

const DASHBOARD = new URL("../../deploy/grafana/midge.json", import.meta.url);

interface Panel {
  title: string;
  targets?: { expr: string }[];
}

/** Every PromQL expression of the dashboard, with Grafana's variables filled in. */
async function expressions(): Promise<{ panel: string; expr: string }[]> {
  const dashboard = JSON.parse(await Deno.readTextFile(DASHBOARD)) as { panels: Panel[] };
  return dashboard.panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      panel: panel.title,
      expr: target.expr.replaceAll("$__rate_interval", "1m").replaceAll("$instance", ".*"),
    }))
  );
}

Deno.test("The Grafana dashboard queries only metrics midge registers", async () => {
  const broker = new Broker();
  try {
    const registry = broker.metrics.registry;
    const exprs = await expressions();
    assert.ok(exprs.length > 10);
    for (const { panel, expr } of exprs) {
      const names = expr.match(/\bmidge_[a-z_]+/g) ?? [];
      assert.ok(names.length > 0, `${panel}: ${expr}`);
      for (const name of names) {
        const family = name.replace(/_(bucket|sum|count)$/, "");
        assert.ok(registry.get(family), `${panel}: midge does not export "${name}"`);
      }
    }
  } finally {
    await broker.close();
  }
});

Deno.test("promtool accepts every PromQL expression of the Grafana dashboard", async () => {
  const dir = await Deno.makeTempDir({ prefix: "midge_grafana_" });
  try {
    const rules = (await expressions()).map(({ expr }, i) =>
      `      - record: midge:dashboard_check:${i}\n        expr: ${JSON.stringify(expr)}`
    );
    await Deno.writeTextFile(
      `${dir}/rules.yml`,
      `groups:\n  - name: dashboard\n    rules:\n${rules.join("\n")}\n`,
    );
    const result = await runProcess("promtool", ["check", "rules", `${dir}/rules.yml`]);
    assert.equal(result.code, 0, [...result.stdout, ...result.stderr].join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
