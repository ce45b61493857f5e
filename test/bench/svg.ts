/**
 * A small hand-written SVG bar chart: groups of bars (one group per trial or metric), one colour per system,
 * value labels on the bars, a zero-based y axis with a few ticks.
 */

export interface BarGroup {
  label: string;
  /** Value per series name (missing = no bar). */
  values: Record<string, number | undefined>;
}

export interface BarChart {
  title: string;
  unit: string;
  series: string[];
  groups: BarGroup[];
}

const COLOURS = ["#2b6cb0", "#dd6b20", "#38a169", "#805ad5"];

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A "nice" axis maximum: 1, 2 or 5 times a power of ten, at least `max`. */
function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export function renderBarChart(c: BarChart): string {
  const W = 720, H = 360, left = 70, right = 20, top = 50, bottom = 70;
  const plotW = W - left - right, plotH = H - top - bottom;
  const all = c.groups.flatMap((g) => Object.values(g.values).filter((v): v is number => Number.isFinite(v)));
  const max = niceMax(Math.max(0, ...all));
  const y = (v: number) => top + plotH - (Math.max(0, v) / max) * plotH;
  const groupW = plotW / Math.max(1, c.groups.length);
  const barW = Math.min(60, (groupW * 0.8) / Math.max(1, c.series.length));
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
    `font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(c.title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const v = (max * i) / 5;
    parts.push(
      `<line x1="${left}" x2="${W - right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${fmt(v)}</text>`,
    );
  }
  parts.push(
    `<text x="16" y="${top + plotH / 2}" transform="rotate(-90 16 ${
      top + plotH / 2
    })" text-anchor="middle">` +
      `${esc(c.unit)}</text>`,
  );
  c.groups.forEach((g, gi) => {
    const gx = left + gi * groupW + (groupW - barW * c.series.length) / 2;
    c.series.forEach((s, si) => {
      const v = g.values[s];
      if (v === undefined || !Number.isFinite(v)) return;
      const x = gx + si * barW;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" ` +
          `height="${(top + plotH - y(v)).toFixed(1)}" fill="${COLOURS[si % COLOURS.length]}"/>`,
        `<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(y(v) - 4).toFixed(1)}" text-anchor="middle" ` +
          `font-size="10">${fmt(v)}</text>`,
      );
    });
    parts.push(
      `<text x="${(left + gi * groupW + groupW / 2).toFixed(1)}" y="${
        top + plotH + 18
      }" text-anchor="middle">` +
        `${esc(g.label)}</text>`,
    );
  });
  parts.push(`<line x1="${left}" x2="${W - right}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`);
  c.series.forEach((s, si) => {
    const x = left + si * 140;
    parts.push(
      `<rect x="${x}" y="${H - 24}" width="12" height="12" fill="${COLOURS[si % COLOURS.length]}"/>`,
      `<text x="${x + 18}" y="${H - 14}">${esc(s)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
