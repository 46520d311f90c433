import { Code } from "@connectrpc/connect";
import { EndpointService, OrganizationService, Phase, TokenService } from "@dispatch/proto";
import { startDispatch, type TestDispatch } from "@dispatch/testkit";
import anyTest, { type TestFn } from "ava";
import { client, rejects } from "./helpers.js";

const test = anyTest as TestFn<{ dispatch: TestDispatch }>;

test.before(async (t) => {
  t.context.dispatch = await startDispatch();
});
test.after.always(async (t) => {
  await t.context.dispatch?.stop();
});

const endpoints = (t: { context: { dispatch: TestDispatch } }, token?: string) =>
  client(EndpointService, t.context.dispatch.url, token ?? t.context.dispatch.token);

test("an endpoint is stored with its methods in upper case and hosts in lower case, and starts INITIALIZED", async (t) => {
  const api = endpoints(t);
  const { endpoint } = await api.create({
    endpoint: {
      meta: { name: "cased" },
      spec: { function: "hello", paths: ["/cased"], methods: ["get"], hosts: ["API.Example.com"] },
    },
  });
  t.deepEqual(endpoint?.spec?.methods, ["GET"]);
  t.deepEqual(endpoint?.spec?.hosts, ["api.example.com"]);
  t.is(endpoint?.status?.phase, Phase.INITIALIZED);
});

test("paths run on RE2: what RE2 cannot take is refused at create with the reason, and nothing is stored", async (t) => {
  const api = endpoints(t);
  const err = await rejects(
    api.create({
      endpoint: {
        meta: { name: "lookahead" },
        spec: {
          function: "hello",
          paths: [
            "~^/(?=items)",
            "~",
            "~(a*)*b{1000}{1000}",
            "/a b",
            "/x/*/y",
            "/a/../b",
            "/a%20b",
            "~^/[a-z]{1,50}$",
          ],
        },
      },
    }),
  );
  t.is(err.code, Code.InvalidArgument);
  t.regex(err.rawMessage, /spec\.paths\[0\]: "~\^\/\(\?=items\)" cannot be used: .*RE2/);
  t.regex(err.rawMessage, /spec\.paths\[1\]: has "~" but no regular expression/);
  t.regex(err.rawMessage, /spec\.paths\[2\]: .*(too large|cannot be used)/);
  t.regex(err.rawMessage, /spec\.paths\[3\]: "\/a b" has characters a route cannot match/);
  t.regex(err.rawMessage, /spec\.paths\[4\]: "\/x\/\*\/y": "\*" is only allowed at the end/);
  t.regex(err.rawMessage, /spec\.paths\[5\]: "\/a\/\.\.\/b" is not a normalized path/);
  t.regex(err.rawMessage, /spec\.paths\[6\]: "\/a%20b" has characters a route cannot match/);
  // Past Envoy's default RE2 program size every proxy would refuse the route.
  t.regex(
    err.rawMessage,
    /spec\.paths\[7\]: .*too large: its RE2 program has \d+ instructions; the limit is 100/,
  );
  t.is((await rejects(api.get({ name: "lookahead" }))).code, Code.NotFound);
  const ok = await api.create({
    endpoint: { meta: { name: "items" }, spec: { function: "hello", paths: ["~^/items/[0-9]+$"] } },
  });
  t.deepEqual(ok.endpoint?.spec?.paths, ["~^/items/[0-9]+$"]);
});

test("bounds: too many paths, weights of zero, credentials with any origin, a JWKS that is not a URL", async (t) => {
  const err = await rejects(
    endpoints(t).create({
      endpoint: {
        meta: { name: "unbounded" },
        spec: {
          backends: [
            { function: "a", weight: 0 },
            { function: "b", weight: 0 },
          ],
          paths: Array.from({ length: 40 }, (_, i) => `/p${i}`),
          cors: { allowOrigins: ["*"], allowCredentials: true },
          auth: { mode: { case: "jwt", value: { issuer: "", jwksUri: "file:///etc/passwd" } } },
          rateLimit: { requests: 10 },
        },
      },
    }),
  );
  t.regex(err.rawMessage, /spec\.paths: has 40 entries; the limit is 32/);
  t.regex(err.rawMessage, /spec\.backends: weights must add up to more than 0/);
  t.regex(err.rawMessage, /spec\.cors\.allow_credentials: cannot be combined with the origin "\*"/);
  t.regex(err.rawMessage, /spec\.auth\.jwt\.issuer: is required/);
  t.regex(err.rawMessage, /spec\.auth\.jwt\.jwks_uri: "file:\/\/\/etc\/passwd" must be an http\(s\) URL/);
  t.regex(err.rawMessage, /spec\.rate_limit\.per: is required with requests/);
});

test("a second endpoint on the same host, path and method is refused, naming the first; overlaps are not", async (t) => {
  const api = endpoints(t);
  await api.create({
    endpoint: { meta: { name: "first" }, spec: { function: "hello", paths: ["/same"], methods: ["GET"] } },
  });
  const err = await rejects(
    api.create({ endpoint: { meta: { name: "second" }, spec: { function: "other", paths: ["/same"] } } }),
  );
  t.is(err.code, Code.InvalidArgument);
  t.regex(err.rawMessage, /GET, any host, path \/same is already served by endpoint "first"/);
  t.is((await rejects(api.get({ name: "second" }))).code, Code.NotFound);
  // Another method, a prefix over it and a host of its own are separate routes.
  await api.create({
    endpoint: { meta: { name: "posts" }, spec: { function: "x", paths: ["/same"], methods: ["POST"] } },
  });
  await api.create({ endpoint: { meta: { name: "under" }, spec: { function: "x", paths: ["/same/*"] } } });
  await api.create({
    endpoint: { meta: { name: "hosted" }, spec: { function: "x", paths: ["/same"], hosts: ["a.io"] } },
  });
  // An update of the first keeps its own route; moving another onto it is refused.
  const first = (await api.get({ name: "first" })).endpoint;
  if (!first?.spec) return t.fail();
  first.spec.function = "hello-2";
  await api.update({ endpoint: first });
  const posts = (await api.get({ name: "posts" })).endpoint;
  if (!posts?.spec) return t.fail();
  posts.spec.methods = [];
  t.regex((await rejects(api.update({ endpoint: posts }))).rawMessage, /already served by endpoint "first"/);
  // Once the first is gone, its route is free.
  await api.delete({ name: "first" });
  await api.create({
    endpoint: { meta: { name: "second" }, spec: { function: "other", paths: ["/same"], methods: ["GET"] } },
  });
});

test("orgs: another org's routes live under /<org>; a host is shared by all orgs, and its holder is not named", async (t) => {
  const { dispatch } = t.context;
  await client(OrganizationService, dispatch.url, dispatch.token).create({
    organization: { meta: { name: "acme" } },
  });
  const { secret } = await client(TokenService, dispatch.url, dispatch.token).create({
    name: "acme-dev",
    org: "acme",
  });
  const acme = endpoints(t, secret);
  await acme.create({
    endpoint: { meta: { name: "hello" }, spec: { function: "hello", paths: ["/hello"] } },
  });
  // Its regex is matched after /acme: an anchor inside it could never match, and is refused at create.
  const anchored = await rejects(
    acme.create({ endpoint: { meta: { name: "anchored" }, spec: { function: "x", paths: ["~^/a|^/b"] } } }),
  );
  t.regex(
    anchored.rawMessage,
    /spec\.paths\[0\]: "~\^\/a\|\^\/b": another org's regex is matched after "\/acme"/,
  );
  // With hosts it is served at the root, as written.
  await acme.create({
    endpoint: {
      meta: { name: "anchored" },
      spec: { function: "x", paths: ["~^/a|^/b"], hosts: ["re.acme.io"] },
    },
  });
  // The default org's /hello is another route: acme's is served at /acme/hello.
  await endpoints(t).create({
    endpoint: { meta: { name: "hello" }, spec: { function: "hello", paths: ["/hello"] } },
  });
  const squat = await rejects(
    endpoints(t).create({
      endpoint: { meta: { name: "squat" }, spec: { function: "x", paths: ["/acme/hello"] } },
    }),
  );
  t.regex(squat.rawMessage, /path \/acme\/hello is already served by an endpoint of another org/);
  await acme.create({
    endpoint: { meta: { name: "hosted" }, spec: { function: "x", paths: ["/v1"], hosts: ["api.acme.io"] } },
  });
  const taken = await rejects(
    endpoints(t).create({
      endpoint: { meta: { name: "hosted" }, spec: { function: "x", paths: ["/v1"], hosts: ["api.acme.io"] } },
    }),
  );
  t.regex(taken.rawMessage, /host api\.acme\.io, path \/v1 is already served by an endpoint of another org/);
  t.notRegex(taken.rawMessage, /acme"/);
});

test("quota: an org's endpoints are bounded (the next is refused, saying why), updates still work, other orgs are not counted", async (t) => {
  const small = await startDispatch({ controlPlane: { maxEndpointsPerOrg: 2 } });
  t.teardown(() => small.stop());
  const api = client(EndpointService, small.url, small.token);
  await client(OrganizationService, small.url, small.token).create({
    organization: { meta: { name: "other" } },
  });
  for (const name of ["one", "two"]) {
    await api.create({ endpoint: { meta: { name }, spec: { function: "hello", paths: [`/${name}`] } } });
  }
  const err = await rejects(
    api.create({ endpoint: { meta: { name: "three" }, spec: { function: "hello", paths: ["/three"] } } }),
  );
  t.is(err.code, Code.InvalidArgument);
  t.regex(err.rawMessage, /org "default" has 2 endpoints, the most it may have/);
  t.is((await api.list({})).items.length, 2, "nothing was stored");
  const updated = await api.update({
    endpoint: { meta: { name: "two" }, spec: { function: "hello", paths: ["/two-moved"] } },
  });
  t.deepEqual(updated.endpoint?.spec?.paths, ["/two-moved"]);
  await api.create({
    endpoint: { meta: { name: "three", org: "other" }, spec: { function: "hello", paths: ["/three"] } },
  });
  t.is((await api.list({ org: "other" })).items.length, 1, "another org has a quota of its own");
});

test("replicas: a route one control plane stored is refused by another at once, and freed at once when deleted", async (t) => {
  const { dispatch } = t.context;
  // A second control plane on the same NATS, as the replicas of an installation run.
  const replica = await startDispatch({
    nats: dispatch.nats,
    secretKey: dispatch.secretKey,
    token: dispatch.token,
  });
  t.teardown(() => replica.stop());
  const here = endpoints(t);
  const there = client(EndpointService, replica.url, replica.token);
  for (let i = 0; i < 5; i++) {
    await here.create({
      endpoint: {
        meta: { name: `replicated-${i}` },
        spec: { function: "hello", paths: [`/replicated/${i}`] },
      },
    });
    // No wait in between: the other replica's index catches up before it answers.
    const err = await rejects(
      there.create({
        endpoint: { meta: { name: `copy-${i}` }, spec: { function: "hello", paths: [`/replicated/${i}`] } },
      }),
    );
    t.regex(
      err.rawMessage,
      new RegExp(`path /replicated/${i} is already served by endpoint "replicated-${i}"`),
    );
    await here.delete({ name: `replicated-${i}` });
    await there.create({
      endpoint: { meta: { name: `copy-${i}` }, spec: { function: "hello", paths: [`/replicated/${i}`] } },
    });
  }
  t.is((await here.list({})).items.filter((e) => e.meta?.name.startsWith("copy-")).length, 5);
});
