/**
 * The SVG bar chart README shows: one row per metric, one bar per broker (median, with a
 * min..max whisker), each row on its own linear scale since units differ.
 *
 * @module
 */

import type { BrokerName } from "./brokers.ts";
import { formatNumber, formatRatio, type MetricSummary } from "./report.ts";

const COLORS: Record<BrokerName, string> = {
  midge: "#2a9d8f",
  mosquitto: "#3a5a98",
  aedes: "#e76f51",
};
const NAMES: Record<BrokerName, string> = {
  midge: "midge",
  mosquitto: "Mosquitto",
  aedes: "Aedes",
};

const WIDTH = 920;
const LABEL_WIDTH = 250;
const BAR_HEIGHT = 14;
const BAR_GAP = 3;
const ROW_GAP = 16;
const VALUE_ROOM = 200;

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Chart subtitle: the machine and the run. */
export interface ChartCaption {
  title: string;
  subtitle: string;
}

/**
 * Renders the summaries as a standalone SVG document.
 *
 * @example
 * ```ts
 * import { renderChart } from "./chart.ts";
 * const svg = renderChart([], ["midge"], { title: "t", subtitle: "s" });
 * svg.startsWith("<svg"); // true
 * ```
 */
export function renderChart(
  summaries: readonly MetricSummary[],
  brokers: readonly BrokerName[],
  caption: ChartCaption,
): string {
  const top = 78;
  const rowHeight = brokers.length * (BAR_HEIGHT + BAR_GAP) - BAR_GAP + ROW_GAP;
  const height = top + summaries.length * rowHeight + 10;
  const plotWidth = WIDTH - LABEL_WIDTH - VALUE_ROOM;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" ` +
    `viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="16" font-weight="bold">${escape(caption.title)}</text>`,
    `<text x="12" y="40" fill="#555555">${escape(caption.subtitle)}</text>`,
  ];
  // Legend.
  let legendX = 12;
  for (const broker of brokers) {
    parts.push(
      `<rect x="${legendX}" y="50" width="12" height="12" fill="${COLORS[broker]}"/>`,
      `<text x="${legendX + 17}" y="60">${NAMES[broker]}</text>`,
    );
    legendX += 100;
  }
  parts.push(
    `<text x="${
      legendX + 10
    }" y="60" fill="#555555">bars: median of rounds; whiskers: min..max</text>`,
  );

  summaries.forEach((summary, row) => {
    const y0 = top + row * rowHeight;
    const scaleMax = Math.max(
      ...brokers.map((b) => summary.brokers[b]?.max ?? 0).filter(Number.isFinite),
      1e-9,
    );
    const x = (value: number) => LABEL_WIDTH + (plotWidth * Math.max(0, value)) / scaleMax;
    const { metric } = summary;
    const arrow = metric.better === "higher" ? "higher is better" : "lower is better";
    parts.push(
      `<text x="12" y="${y0 + 12}" font-weight="bold">${escape(metric.label)}</text>`,
      `<text x="12" y="${y0 + 27}" fill="#555555">${escape(`${metric.unit}, ${arrow}`)}</text>`,
      `<line x1="${LABEL_WIDTH}" y1="${y0 - 2}" x2="${LABEL_WIDTH}" y2="${
        y0 + rowHeight - ROW_GAP + 2
      }" stroke="#999999"/>`,
    );
    brokers.forEach((broker, i) => {
      const s = summary.brokers[broker];
      const y = y0 + i * (BAR_HEIGHT + BAR_GAP);
      if (s === undefined || !Number.isFinite(s.median)) {
        parts.push(
          `<text x="${LABEL_WIDTH + 6}" y="${y + 11}" fill="#999999">${
            NAMES[broker]
          }: not run</text>`,
        );
        return;
      }
      const width = Math.max(1, x(s.median) - LABEL_WIDTH);
      parts.push(
        `<rect x="${LABEL_WIDTH}" y="${y}" width="${width.toFixed(1)}" height="${BAR_HEIGHT}" ` +
          `fill="${COLORS[broker]}"><title>${NAMES[broker]}: ${formatNumber(s.median)} ${
            escape(metric.unit)
          }</title></rect>`,
      );
      if (s.n > 1) {
        const ym = y + BAR_HEIGHT / 2;
        parts.push(
          `<line x1="${x(s.min).toFixed(1)}" y1="${ym}" x2="${x(s.max).toFixed(1)}" y2="${ym}" ` +
            `stroke="#222222" stroke-width="1.2"/>`,
          `<line x1="${x(s.min).toFixed(1)}" y1="${y + 3}" x2="${x(s.min).toFixed(1)}" ` +
            `y2="${y + BAR_HEIGHT - 3}" stroke="#222222" stroke-width="1.2"/>`,
          `<line x1="${x(s.max).toFixed(1)}" y1="${y + 3}" x2="${x(s.max).toFixed(1)}" ` +
            `y2="${y + BAR_HEIGHT - 3}" stroke="#222222" stroke-width="1.2"/>`,
        );
      }
      const ratio = broker === "mosquitto" || summary.brokers.mosquitto === undefined
        ? ""
        : ` (${formatRatio(s.median / summary.brokers.mosquitto.median)} Mosquitto)`;
      parts.push(
        `<text x="${(Math.max(x(s.median), x(s.max)) + 6).toFixed(1)}" y="${y + 11}">${
          escape(`${formatNumber(s.median)}${ratio}`)
        }</text>`,
      );
    });
  });
  parts.push("</svg>", "");
  return parts.join("\n");
}
