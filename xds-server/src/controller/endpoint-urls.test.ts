import test from "ava";
import type { IngressTranslation } from "../translate/translate-ingress.js";
import { endpointUrls } from "./endpoint-urls.js";

const route = (endpoint: string, match: object, httpsOnly: boolean) => ({ endpoint, match, httpsOnly });

test("urls: host-less endpoints at every base, named hosts keep the base's scheme and port, https-only only over HTTPS", (t) => {
  const a = route("default/a", { kind: "exact", path: "/a" }, false);
  const translation = {
    ir: {
      virtualHosts: [
        { name: "*", routes: [a] },
        {
          name: "api.example.com",
          routes: [route("default/b", { kind: "prefix", prefix: "/b/" }, true), a],
        },
        {
          name: "re.example.com",
          routes: [route("default/c", { kind: "regex", regex: "/c/[0-9]+" }, false)],
        },
      ],
    },
  } as unknown as IngressTranslation;
  const urls = endpointUrls(translation, ["http://127.0.0.1:8081", "https://127.0.0.1:8444", "not a url"]);
  t.deepEqual(Object.fromEntries(urls), {
    "default/a": ["http://127.0.0.1:8081/a", "https://127.0.0.1:8444/a"],
    "default/b": ["https://api.example.com:8444/b/*"],
    "default/c": ["http://re.example.com:8081/~/c/[0-9]+", "https://re.example.com:8444/~/c/[0-9]+"],
  });
});
