import test from "ava";
import { loadInstallConfig } from "./load-config.js";
import { natsConfig } from "./nats-objects.js";
import { createRenderContext } from "./render-context.js";

const config = (text: string) =>
  natsConfig(createRenderContext(loadInstallConfig({ text, defaultTag: "0.1.0" })));

test("nats.conf: one server has no cluster block; three route to each other by stable name; no credential is written", (t) => {
  const single = config("nats: {replicas: 1}\n");
  t.false(single.includes("cluster {"));
  const three = config("namespace: prod\n");
  t.regex(
    three,
    /routes: \[\n {4}nats:\/\/dispatch-nats-0\.dispatch-nats-headless\.prod\.svc\.cluster\.local:6222\n/,
  );
  t.is(three.match(/nats:\/\/dispatch-nats-\d/g)?.length, 3);
  // Credentials come from the environment, which nats-server reads itself.
  t.regex(three, /authorization \{\n {2}user: \$NATS_USER\n {2}password: \$NATS_PASSWORD\n\}/);
  t.regex(three, /server_name: \$POD_NAME/);
});
