import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";

/** A self-signed serving certificate and its key (PEM). */
export interface ServingCertificate {
  cert: string;
  key: string;
}

/**
 * Makes a self-signed certificate for 127.0.0.1 with openssl, in `dir`: the
 * fake serves HTTPS, as a real API server does, and clients trust it through
 * the kubeconfig's certificate-authority-data.
 */
export async function makeServingCertificate(dir: string): Promise<ServingCertificate> {
  const keyPath = join(dir, "apiserver.key");
  const certPath = join(dir, "apiserver.crt");
  const args = [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    keyPath,
    "-out",
    certPath,
    "-days",
    "7",
    "-subj",
    "/CN=dispatch-fake-kube-apiserver",
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
  ];
  await new Promise<void>((resolve, reject) =>
    execFile("openssl", args, (error, _stdout, stderr) => {
      if (!error) return resolve();
      const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
      reject(
        new Error(
          missing
            ? "the fake API server needs openssl to make its TLS certificate: install it (apt-get install openssl), or start it with tls: false"
            : `openssl could not make the fake API server's certificate: ${stderr.trim() || error.message}`,
          { cause: error },
        ),
      );
    }),
  );
  return { cert: await readFile(certPath, "utf8"), key: await readFile(keyPath, "utf8") };
}
