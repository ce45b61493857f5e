/** No-op plugin for the overhead benchmark. */
import { serveHooks } from "../../src/plugins/worker_entry.ts";

serveHooks({ onLeaderChange() {} });
