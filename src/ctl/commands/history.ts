/** `history`: the timeline history from the DCS (failovers and switchovers). */
import type { Command } from "commander";
import type { HistoryEntry } from "../../dcs/types.ts";
import { ctlAction, type CtlRuntime } from "../context.ts";
import { type Cell, formatOutput, type OutputFormat } from "../output.ts";
import { formatOption, groupOption } from "../options.ts";

export const HISTORY_COLUMNS = ["TL", "LSN", "Reason", "Timestamp", "New Leader"];

/** History rows padded to five columns (old entries have three or four). */
export function historyRows(history: HistoryEntry[]): Cell[][] {
  return history.map((line) => {
    const row: Cell[] = [...line].map((v) =>
      (v === null || typeof v === "object" ? JSON.stringify(v) : v) as Cell
    );
    while (row.length < HISTORY_COLUMNS.length) row.push("");
    return row.slice(0, HISTORY_COLUMNS.length);
  });
}

export function renderHistory(history: HistoryEntry[], fmt: OutputFormat): string {
  return formatOutput(HISTORY_COLUMNS, historyRows(history), { fmt, align: { TL: "r", LSN: "r" } });
}

export function register(program: Command, rt: CtlRuntime): void {
  const cmd = program.command("history")
    .description("Show the history of failovers and switchovers")
    .argument("[cluster_name]", "cluster (default: the configured scope)");
  groupOption(cmd);
  formatOption(cmd);
  cmd.action(
    ctlAction(rt, async (ctx, name: string | undefined, o: { group?: number; format: OutputFormat }) => {
      const s = await ctx.cluster(ctx.clusterName(name), ctx.group(o.group, true));
      ctx.out(renderHistory(s.history?.value ?? [], o.format));
    }),
  );
}
