import { existsSync } from "node:fs";
import { chmod, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { natsServerBinary } from "./nats-binary.js";

test("nats-server: $NATS_SERVER_BIN first, then PATH, then the bare name", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-bin-"));
  const bin = join(dir, "nats-server");
  await writeFile(bin, "#!/bin/sh\n");
  await chmod(bin, 0o755);
  t.is(natsServerBinary({ NATS_SERVER_BIN: "/opt/nats", PATH: dir }), "/opt/nats");
  t.is(natsServerBinary({ PATH: `/nonexistent:${dir}` }), bin);
  // Off PATH: Debian's /usr/sbin copy when this machine has one (a normal user's PATH lacks sbin).
  const expected =
    ["/usr/sbin/nats-server", "/usr/local/sbin/nats-server"].find((path) => existsSync(path)) ??
    "nats-server";
  t.is(natsServerBinary({ PATH: "/nonexistent" }), expected);
});
