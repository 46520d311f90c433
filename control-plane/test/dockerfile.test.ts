import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import test from "ava";

// The control plane's image builds only the workspaces it needs: each one it
// depends on, however indirectly, must be in the Dockerfile, or the image
// starts and crashes on its first import.
const root = fileURLToPath(new URL("../../../", import.meta.url));

/** The workspace folders a package depends on (@dispatch/x → x), transitively, itself included. */
function workspaceClosure(folder: string, seen = new Set<string>()): Set<string> {
  if (seen.has(folder)) return seen;
  seen.add(folder);
  const pkg = JSON.parse(readFileSync(`${root}${folder}/package.json`, "utf8")) as {
    dependencies?: Record<string, string>;
  };
  for (const name of Object.keys(pkg.dependencies ?? {})) {
    if (name.startsWith("@dispatch/")) workspaceClosure(name.slice("@dispatch/".length), seen);
  }
  return seen;
}

test("the control plane's Dockerfile installs, compiles and ships every workspace it depends on", (t) => {
  const dockerfile = readFileSync(`${root}deploy/control-plane/Dockerfile`, "utf8");
  const needed = [...workspaceClosure("control-plane")].sort();
  t.true(needed.includes("kubernetes-driver") && needed.includes("event-broker"));
  for (const folder of needed) {
    const manifests = dockerfile.split(`COPY ${folder}/package.json ${folder}/`).length - 1;
    t.is(manifests, 2, `${folder}/package.json is copied for the build and for the production install`);
    t.true(dockerfile.includes(`COPY ${folder}/ ${folder}/`), `${folder}'s sources are compiled`);
    t.true(
      dockerfile.includes(`COPY --from=build /src/${folder}/dist/src ${folder}/dist/src`),
      `${folder}'s compiled code is in the image`,
    );
  }
});
