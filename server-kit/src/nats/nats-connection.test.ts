import test from "ava";
import { ConfigurationError } from "../errors.js";
import { natsDisplayUrl, parseNatsUrl } from "./nats-connection.js";

test("a NATS URL's user and password, or token, become credentials and leave the server list", (t) => {
  t.deepEqual(parseNatsUrl("nats://dispatch:s3cr%40t@10.0.0.5:4222"), {
    servers: ["nats://10.0.0.5:4222"],
    user: "dispatch",
    password: "s3cr@t",
  });
  t.deepEqual(parseNatsUrl("nats://t0ken@nats.example"), {
    servers: ["nats://nats.example"],
    token: "t0ken",
  });
  t.deepEqual(parseNatsUrl("a.example:4222, nats://b.example:4223"), {
    servers: ["nats://a.example:4222", "nats://b.example:4223"],
  });
});

test("a tls:// URL requires TLS", (t) => {
  t.deepEqual(parseNatsUrl("tls://nats.example:4222"), { servers: ["tls://nats.example:4222"], tls: {} });
});

test("what is shown of a NATS URL never holds its credentials", (t) => {
  t.is(natsDisplayUrl({ servers: ["nats://u:p@a:1", "nats://tok@b:2"] }), "nats://a:1,nats://b:2");
  const bad = t.throws(() => parseNatsUrl("nats://u:secret@[bad"), { instanceOf: ConfigurationError });
  t.notRegex(bad?.message ?? "", /secret/);
  t.throws(() => parseNatsUrl(" , "), { instanceOf: ConfigurationError, message: /empty/ });
});
