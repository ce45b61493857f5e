import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import {
  formatLsn,
  isoWithOffset,
  parseBool,
  parseIntUnit,
  parseSchedule,
  postgresVersionToInt,
} from "../../src/api/units.ts";
import {
  basicAuthKey,
  buildAllowlist,
  constantTimeEqual,
  ipInNet,
  parseIp,
  parseNet,
} from "../../src/api/auth.ts";
import { configDiff, configPlan, patchConfig, validateDynamic } from "../../src/api/config_routes.ts";
import { needsRestart } from "../../src/api/postmaster_gucs.ts";
import { paddedVersion } from "../../src/api/version.ts";

Deno.test("parseIntUnit: bytes with kB/MB/GB/TB suffixes, seconds with time units, null when invalid", () => {
  const cases: [unknown, "B" | "s", number | null][] = [
    ["1024", "B", 1024],
    [2048, "B", 2048],
    ["1kB", "B", 1024],
    ["10MB", "B", 10 * 1024 ** 2],
    [" 2 GB ", "B", 2 * 1024 ** 3],
    ["1TB", "B", 1024 ** 4],
    ["1.5GB", "B", 1536 * 1024 ** 2],
    ["0x400", "B", 1024],
    ["1kb", "B", null],
    ["abc", "B", null],
    ["10s", "B", null],
    ["30", "s", 30],
    ["30s", "s", 30],
    ["2min", "s", 120],
    ["1h", "s", 3600],
    ["1500ms", "s", 2],
    ["5MB", "s", null],
    [null, "B", null],
  ];
  for (const [v, base, want] of cases) assertEquals(parseIntUnit(v, base), want, `${v} ${base}`);
});

Deno.test("parseBool follows Patroni's words", () => {
  assertEquals(["on", "TRUE", "yes", "1", true].map(parseBool), [true, true, true, true, true]);
  assertEquals(["off", "False", "no", "0", false].map(parseBool), [false, false, false, false, false]);
  assertEquals(parseBool("maybe"), null);
});

Deno.test("postgresVersionToInt accepts X.Y (10+) and X.Y.Z with Patroni's messages", () => {
  assertEquals(postgresVersionToInt("15.4"), 150004);
  assertEquals(postgresVersionToInt("9.6.24"), 90624);
  assertThrows(
    () => postgresVersionToInt("9.6"),
    /^RangeError: Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: 9.6$/,
  );
  assertThrows(() => postgresVersionToInt("15"), /X.Y or X.Y.Z is accepted: 15$/);
  assertThrows(() => postgresVersionToInt("a.b.c"), /^RangeError: Invalid PostgreSQL version: a.b.c$/);
});

Deno.test("formatLsn prints X/Y in upper-case hex like Patroni's format_lsn", () => {
  assertEquals(formatLsn(0), "0/0");
  assertEquals(formatLsn(0x3000060), "0/3000060");
  assertEquals(formatLsn(0x1_0000_0000 * 0x1a + 0xff), "1A/FF");
});

Deno.test("parseSchedule: timezone mandatory (400), past or unparseable (422), else normalised ISO", () => {
  const now = Date.UTC(2024, 0, 1, 12, 0, 0);
  assertEquals(parseSchedule("2024-01-01T13:00:00+02:00", "switchover", now), {
    ok: false,
    status: 422,
    message: "Cannot schedule switchover in the past",
  });
  assertEquals(parseSchedule("2024-01-01T13:00:00", "restart", now), {
    ok: false,
    status: 400,
    message: "Timezone information is mandatory for the scheduled restart",
  });
  const bad = parseSchedule("tomorrow", "switchover", now);
  assertEquals(bad.ok ? 0 : bad.status, 422);
  assertEquals(parseSchedule("2024-02-30T10:00:00Z", "switchover", now).ok, false);
  assertEquals(parseSchedule("2024-01-01T15:30:00.250+02:00", "switchover", now), {
    ok: true,
    at: Date.UTC(2024, 0, 1, 13, 30, 0, 250),
    iso: "2024-01-01T15:30:00.250000+02:00",
  });
  assertEquals(parseSchedule("2024-01-02 08:00Z", "switchover", now), {
    ok: true,
    at: Date.UTC(2024, 0, 2, 8, 0, 0),
    iso: "2024-01-02T08:00:00+00:00",
  });
  assertEquals(isoWithOffset(Date.UTC(2024, 0, 1, 0, 0, 0), -330), "2023-12-31T18:30:00-05:30");
});

Deno.test("patroni_version pads each semver part to two digits", () => {
  assertEquals(paddedVersion("4.1.4"), "040104");
  assertEquals(paddedVersion("0.1.0"), "000100");
});

Deno.test("parseIp/parseNet/ipInNet: IPv4, IPv6, IPv4-mapped, CIDR", () => {
  assertEquals(parseIp("10.1.2.3"), new Uint8Array([10, 1, 2, 3]));
  assertEquals(parseIp("::ffff:127.0.0.1"), new Uint8Array([127, 0, 0, 1]));
  assertEquals(parseIp("256.1.1.1"), null);
  assertEquals(parseIp("host.example"), null);
  assertEquals(parseIp("::1")?.length, 16);
  assertEquals(parseIp("fe80::1%eth0")?.[0], 0xfe);
  assertEquals(parseIp("1::2::3"), null);
  const net = parseNet("10.0.0.0/8")!;
  assertEquals(ipInNet(parseIp("10.255.0.1")!, net), true);
  assertEquals(ipInNet(parseIp("11.0.0.1")!, net), false);
  assertEquals(ipInNet(parseIp("::1")!, net), false);
  assertEquals(ipInNet(parseIp("2001:db8::5")!, parseNet("2001:db8::/32")!), true);
  assertEquals(ipInNet(parseIp("2001:db9::5")!, parseNet("2001:db8::/32")!), false);
  assertEquals(ipInNet(parseIp("192.168.1.7")!, parseNet("192.168.1.6/31")!), true);
  assertEquals(parseNet("10.0.0.0/33"), null);
});

Deno.test("buildAllowlist resolves names and keeps IPs and CIDRs", async () => {
  const nets = await buildAllowlist(
    ["127.0.0.1", "10.0.0.0/8", "db.example", "bad/cidr"],
    (h) => Promise.resolve(h === "db.example" ? ["192.0.2.7"] : []),
  );
  assertEquals(nets.length, 3);
  assertEquals(nets.some((n) => ipInNet(parseIp("192.0.2.7")!, n)), true);
});

Deno.test("constantTimeEqual and basicAuthKey", () => {
  assertEquals(basicAuthKey("patroni", "s3cret"), btoa("patroni:s3cret"));
  assertEquals(constantTimeEqual("abc", "abc"), true);
  assertEquals(constantTimeEqual("abc", "abd"), false);
  assertEquals(constantTimeEqual("abc", "abcd"), false);
  assertEquals(constantTimeEqual("", ""), true);
});

Deno.test("patchConfig: null deletes, objects merge, values replaced when their string forms differ", () => {
  const base = {
    ttl: 30,
    loop_wait: 10,
    postgresql: { parameters: { max_connections: 100, wal_level: "replica" } },
  };
  const r = patchConfig(base, {
    ttl: null,
    loop_wait: "10",
    postgresql: { parameters: { max_connections: 200 } },
  });
  assertEquals(r.result, {
    loop_wait: 10,
    postgresql: { parameters: { max_connections: 200, wal_level: "replica" } },
  });
  assertEquals(r.changed, true);
  assertEquals(base.ttl, 30, "the input is not modified");
  assertEquals(patchConfig(base, { loop_wait: "10", missing: null }).changed, false);
  assertEquals(patchConfig(base, { pause: true }).result.pause, true);
  assertEquals(patchConfig({ a: 1 }, { a: { b: 2 } }).result, { a: { b: 2 } });
  assertEquals(patchConfig({ a: true }, { a: "True" }).changed, false);
  assertEquals(patchConfig({ a: [1, 2] }, { a: [1, 2] }).changed, false);
  assertEquals(patchConfig({ a: [1, 2] }, { a: [2] }).changed, true);
});

Deno.test("configDiff and configPlan: restart for postmaster-context GUCs, reload otherwise", () => {
  const before = { ttl: 30, postgresql: { parameters: { max_connections: 100, work_mem: "4MB" } } };
  assertEquals(configDiff(before, { ...before, ttl: 40 }), [{ path: "ttl", old: 30, new: 40 }]);
  const reload = configPlan(before, {
    ttl: 30,
    postgresql: { parameters: { max_connections: 100, work_mem: "8MB" } },
  }, [
    "node2",
    "node1",
  ]);
  assertEquals(reload, {
    diff: [{ path: "postgresql.parameters.work_mem", old: "4MB", new: "8MB" }],
    restart_parameters: [],
    members: [{ name: "node1", action: "reload" }, { name: "node2", action: "reload" }],
  });
  const restart = configPlan(before, {
    ttl: 30,
    postgresql: { parameters: { work_mem: "4MB", shared_buffers: "1GB" } },
  }, [
    "node1",
  ]);
  assertEquals(restart.restart_parameters, ["max_connections", "shared_buffers"]);
  assertEquals(restart.members, [{ name: "node1", action: "restart" }]);
  assertEquals(configPlan(before, before, ["node1"]).members, []);
  const whole = configPlan({ ttl: 30 }, { ttl: 30, postgresql: { parameters: { wal_level: "logical" } } }, [
    "n",
  ]);
  assertEquals(whole.restart_parameters, ["wal_level"]);
  assertEquals([needsRestart("Shared_Buffers"), needsRestart("work_mem")], [true, false]);
});

Deno.test("validateDynamic names the offending path in snake_case", () => {
  assertEquals(validateDynamic({ ttl: 30, loop_wait: 10, retry_timeout: 10 }), null);
  assertEquals(
    validateDynamic({ ttl: 20, loop_wait: 10, retry_timeout: 10 }),
    "invalid configuration: ttl: expected loop_wait + 2*retry_timeout <= ttl, got 10 + 2*10 = 30 > 20",
  );
  const msg = validateDynamic({ maximum_lag_on_failover: "lots" }) ?? "";
  assertEquals(msg.startsWith("invalid configuration: maximum_lag_on_failover: "), true, msg);
  const nested = validateDynamic({ postgresql: { use_slots: "yes" } }) ?? "";
  assertEquals(nested.startsWith("invalid configuration: postgresql.use_slots: "), true, nested);
});
