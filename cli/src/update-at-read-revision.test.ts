import { Code, ConnectError } from "@connectrpc/connect";
import test from "ava";
import { updateAtReadRevision } from "./update-at-read-revision.js";

const aborted = () => new ConnectError("changed by someone else", Code.Aborted);

test("a conflict from a status write alone is sent again at the new revision", async (t) => {
  const sent: bigint[] = [];
  const result = await updateAtReadRevision(
    7n,
    async (revision) => {
      sent.push(revision);
      if (revision < 9n) throw aborted();
      return "updated";
    },
    async () => ({ revision: 9n, unchanged: true }),
  );
  t.is(result, "updated");
  t.deepEqual(sent, [7n, 9n]);
});

test("a conflict from someone else's edit fails as the server said", async (t) => {
  const err = await t.throwsAsync(
    updateAtReadRevision(
      7n,
      async () => {
        throw aborted();
      },
      async () => ({ revision: 9n, unchanged: false }),
    ),
  );
  t.is(ConnectError.from(err).code, Code.Aborted);
});

test("other errors are not retried, and neither is an update without a revision", async (t) => {
  let calls = 0;
  const reread = async () => ({ revision: 9n, unchanged: true });
  await t.throwsAsync(
    updateAtReadRevision(
      7n,
      async () => {
        calls++;
        throw new ConnectError("no", Code.InvalidArgument);
      },
      reread,
    ),
  );
  await t.throwsAsync(
    updateAtReadRevision(
      0n,
      async () => {
        calls++;
        throw aborted();
      },
      reread,
    ),
  );
  t.is(calls, 2);
});

test("it gives up after a few rounds of status writes", async (t) => {
  let calls = 0;
  await t.throwsAsync(
    updateAtReadRevision(
      1n,
      async () => {
        calls++;
        throw aborted();
      },
      async () => ({ revision: BigInt(calls + 1), unchanged: true }),
      3,
    ),
  );
  t.is(calls, 3);
});
