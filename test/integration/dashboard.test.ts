/**
 * The `/ui` dashboard in headless Chromium: against a real three-node cluster (live members, polling without
 * reload, switchover from the page refused without credentials and performed with them), and against a fake
 * Citus coordinator (worker groups rendered). Ignored, with the reason printed, when Chromium is unavailable.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import type { Page } from "playwright-core";
import { startApi } from "../../src/api/server.ts";
import { PgwardenMetrics } from "../../src/api/metrics.ts";
import { chromiumUnavailable, launchChromium } from "../helpers/browser.ts";
import { startCluster } from "../helpers/cluster.ts";
import {
  buildConfig,
  buildView,
  FakeAgent,
  hookDcs,
  memberData,
  memoryDcs,
  threeNodeSeed,
} from "../helpers/fake_agent.ts";

const unavailable = await chromiumUnavailable();
if (unavailable) console.log(`dashboard tests ignored: ${unavailable}`);

const opts = { sanitizeOps: false, sanitizeResources: false, ignore: unavailable !== null };
const AUTH = { username: "admin", password: "dash-pass" };

/** Fail the test on anything the page loads from elsewhere or on script errors. */
function watchPage(page: Page, origin: string) {
  const problems: string[] = [];
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith("data:")) problems.push(`foreign request ${u}`);
  });
  page.on("pageerror", (e) => problems.push(`page error ${e.message}`));
  return problems;
}

const rowsOf = (page: Page) =>
  page.$$eval("section.group tr[data-member]", (trs) =>
    trs.map((tr) => ({
      name: tr.getAttribute("data-member"),
      role: tr.getAttribute("data-role"),
      state: tr.querySelector(".state")!.textContent,
      tl: tr.querySelector(".tl")!.textContent,
      lag: tr.querySelector(".lag")!.textContent,
      sync: tr.querySelector(".sync")!.textContent,
    })));

const historyOf = (page: Page) =>
  page.$$eval("#history tbody tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));

/** What the page shows now: the header's leader, the member rows, the history rows. */
async function shown(page: Page) {
  return {
    leader: await page.textContent("#leader-name"),
    rows: await rowsOf(page),
    history: await historyOf(page),
  };
}

/** Poll what the page shows (the page refreshes itself; we never reload it) until `ok` holds. */
async function pageShows(
  page: Page,
  what: string,
  ok: (s: Awaited<ReturnType<typeof shown>>) => boolean,
  timeoutMs = 30_000,
) {
  const deadline = Date.now() + timeoutMs;
  let last = await shown(page);
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`page did not show ${what}: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
    last = await shown(page);
  }
  return last;
}

async function submitSwitchover(page: Page, user: string, password: string, candidate: string) {
  await page.fill("#sw-user", user);
  await page.fill("#sw-password", password);
  await page.selectOption("#sw-candidate", candidate);
  await page.$eval("#switchover-result", (e) => e.removeAttribute("data-status"));
  await page.click("#sw-submit");
  await page.waitForSelector("#switchover-result[data-status]", { timeout: 60_000 });
  return await page.$eval("#switchover-result", (e) => ({
    status: Number(e.getAttribute("data-status")),
    cls: e.className,
    text: e.textContent ?? "",
  }));
}

Deno.test(
  "dashboard on a real cluster: live members, switchover from the page needs credentials",
  opts,
  async (t) => {
    const cluster = await startCluster({
      nodes: 3,
      sequential: true,
      node: () => ({ extra: { restapi: { authentication: AUTH } } }),
    });
    const browser = await launchChromium();
    const shots = await Deno.makeTempDir({ prefix: "pgwarden-ui-shots-" });
    try {
      const leader = await cluster.waitHealthy(3);
      // Served by a replica: the page shows the whole cluster whichever member serves it.
      const server = cluster.nodes.find((n) => n !== leader)!;
      const candidate = cluster.nodes.find((n) => n !== leader && n !== server)!;
      const origin = `http://127.0.0.1:${server.apiPort}`;
      const page = await browser.context.newPage();
      const problems = watchPage(page, origin);

      await t.step("the page shows the leader, the members and their state", async () => {
        const res = await page.goto(`${origin}/ui?refresh=0.5`);
        assertEquals(res?.status(), 200);
        assert(res?.headers()["content-security-policy"]?.includes("default-src 'none'"));
        await pageShows(
          page,
          "the leader and two streaming replicas",
          (v) => v.leader === leader.name && v.rows.filter((r) => r.state === "streaming").length === 2,
        );
        const rows = await rowsOf(page);
        assertEquals(rows.map((r) => r.name), ["node1", "node2", "node3"]);
        for (const r of rows) {
          const isLeader = r.name === leader.name;
          assertEquals(r.role, isLeader ? "leader" : "replica");
          assertEquals(r.state, isLeader ? "running" : "streaming");
          assertEquals(r.tl, "1");
          assertEquals(r.sync, isLeader ? "—" : "async");
          if (!isLeader) assert(/^\d+(\.\d)? (B|kB|MB)$/.test(r.lag!), `lag shown in bytes: ${r.lag}`);
        }
        assertEquals(await page.textContent("#node"), server.name);
        assert(await page.isVisible("#history-empty"), "no history yet");
        assertEquals(await page.inputValue("#sw-leader"), leader.name);
      });

      // Marks this document: a reload would lose it.
      await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));

      await t.step(
        "a switchover without or with wrong credentials shows 401 and changes nothing",
        async () => {
          const none = await submitSwitchover(page, "", "", candidate.name);
          assertEquals([none.status, none.cls], [401, "error"]);
          assert(none.text.startsWith("401 Unauthorized"), none.text);
          assert(none.text.includes("no auth header received"), none.text);
          const wrong = await submitSwitchover(page, AUTH.username, "wrong", candidate.name);
          assertEquals([wrong.status, wrong.cls], [401, "error"]);
          assert(wrong.text.includes("not authenticated"), wrong.text);
          assertEquals((await cluster.leader())?.name, leader.name);
          assertEquals(await page.isVisible("#scheduled"), false);
        },
      );

      await t.step("with the API credentials the page switches over and follows the new leader", async () => {
        const ok = await submitSwitchover(page, AUTH.username, AUTH.password, candidate.name);
        assertEquals([ok.status, ok.cls], [200, "ok"], ok.text);
        assert(ok.text.includes(`Successfully switched over to "${candidate.name}"`), ok.text);
        const row = (v: Awaited<ReturnType<typeof shown>>, name: string) =>
          v.rows.find((r) => r.name === name);
        await pageShows(
          page,
          "the new leader on timeline 2 with a history entry",
          (v) =>
            v.leader === candidate.name &&
            row(v, candidate.name)?.role === "leader" && row(v, candidate.name)?.tl === "2" &&
            v.history[0]?.[0] === "1" && v.history[0]?.[4] === candidate.name,
        );
        // The old leader comes back as a streaming replica, all without a page reload.
        await pageShows(
          page,
          "the old leader streaming",
          (v) => row(v, leader.name)?.role === "replica" && row(v, leader.name)?.state === "streaming",
          60_000,
        );
        assertEquals(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker), 42);
        assertEquals(await page.inputValue("#sw-leader"), candidate.name);
        assertEquals((await cluster.waitHealthy(3)).name, candidate.name);
      });

      await t.step("screenshot", async () => {
        const path = `${shots}/dashboard.png`;
        await page.screenshot({ path, fullPage: true });
        const png = await Deno.readFile(path);
        assertEquals([...png.slice(1, 4)].map((b) => String.fromCharCode(b)).join(""), "PNG");
        console.log(`dashboard screenshot: ${path}`);
      });

      assertEquals(problems, []);
    } finally {
      await browser.close();
      await cluster.stop();
      if (!Deno.env.get("PGWARDEN_KEEP_SHOTS")) await Deno.remove(shots, { recursive: true }).catch(() => {});
    }
  },
);

Deno.test("dashboard on a Citus coordinator shows every group", opts, async () => {
  const { dcs } = memoryDcs(threeNodeSeed());
  const own = await dcs.getCluster();
  const worker = await memoryDcs(threeNodeSeed({
    leader: "w1a",
    members: {
      w1a: memberData("w1a", { role: "primary", timeline: 3 }),
      w1b: memberData("w1b", { replication_state: "streaming", timeline: 3 }),
    },
  })).dcs.getCluster();
  const citusDcs = hookDcs(dcs, {
    getCluster: () => Promise.resolve({ ...own, groups: new Map([[1, worker]]) }),
  });
  const config = buildConfig("node1");
  const agent = new FakeAgent(buildView("primary", { config, cluster: own }), citusDcs);
  const api = await startApi(agent, config, { metrics: new PgwardenMetrics() });
  const browser = await launchChromium();
  try {
    const page = await browser.context.newPage();
    const problems = watchPage(page, api.url);
    await page.goto(`${api.url}/ui`);
    await page.waitForSelector('section.group[data-group="1"] tr[data-member="w1b"]');
    const groups = await page.$$eval("section.group", (ss) =>
      ss.map((s) => ({
        group: s.getAttribute("data-group"),
        title: s.querySelector("h2")!.textContent,
        members: [...s.querySelectorAll("tr[data-member]")].map((tr) =>
          `${tr.getAttribute("data-member")}:${tr.getAttribute("data-role")}`
        ),
      })));
    assertEquals(groups, [
      {
        group: "0",
        title: "Group 0 (coordinator)",
        members: ["node1:leader", "node2:replica", "node3:replica"],
      },
      { group: "1", title: "Group 1", members: ["w1a:leader", "w1b:replica"] },
    ]);
    assertEquals(await page.textContent("#leader-name"), "node1");
    assertEquals(problems, []);
  } finally {
    await browser.close();
    await api.close();
  }
});
