import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { Phase, type Secret, SecretSchema } from "@dispatch/proto";
import type { Sealer } from "../secrets/sealer.js";
import type { Kind } from "./kind.js";
import { secretKey } from "./names.js";

const maxSecretBytes = 1024 * 1024;

/**
 * Secrets: values sealed with AES-256-GCM before they reach the store. The
 * object's bucket/key is the associated data, binding each ciphertext to its name.
 */
export function createSecretKind(sealer: Sealer): Kind<Secret> {
  return {
    name: "Secret",
    label: "secret",
    bucket: "secrets",
    schema: SecretSchema,
    global: false,
    initialPhase: () => Phase.READY,
    codec: {
      encode: (secret, key) => sealer.seal(toBinary(SecretSchema, secret), `secrets/${key}`),
      decode: (payload, key) => fromBinary(SecretSchema, sealer.open(payload, `secrets/${key}`)),
    },
    validate(secret, v) {
      const data = secret.spec?.data ?? {};
      let size = 0;
      for (const [k, value] of Object.entries(data)) {
        if (!secretKey.test(k))
          v.add(`spec.data.${k}`, "is not a valid key (letters, digits, '-', '_' and '.')");
        size += k.length + Buffer.byteLength(value);
      }
      if (size > maxSecretBytes) v.add("spec.data", `holds ${size} bytes; the limit is ${maxSecretBytes}`);
    },
  };
}

/** Removes the values from a secret, keeping its keys in `keys`, unless `reveal`. */
export function presentSecret(secret: Secret, reveal: boolean): Secret {
  const data = secret.spec?.data ?? {};
  secret.keys = Object.keys(data).sort();
  if (!reveal && secret.spec) secret.spec.data = {};
  return secret;
}
