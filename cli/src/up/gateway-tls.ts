import { execFile } from "node:child_process";
import { chmod, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { UpError } from "./up-error.js";

/** A certificate and key for the gateway's HTTPS listener. */
export interface GatewayTls {
  cert: Buffer;
  key: Buffer;
  /** Where they came from, for the start-up log. */
  source: string;
}

/**
 * The gateway's certificate: the files given (--gateway-tls-cert and -key),
 * else a self-signed one for localhost and 127.0.0.1 made once into the data
 * dir with `openssl` (kept for later starts), else none: HTTPS is then off and
 * the log says how to turn it on.
 */
export async function gatewayTls(options: {
  dataDir: string;
  certFile?: string;
  keyFile?: string;
  log(line: string): void;
}): Promise<GatewayTls | undefined> {
  if (options.certFile !== undefined || options.keyFile !== undefined) {
    if (options.certFile === undefined || options.keyFile === undefined) {
      throw new UpError("--gateway-tls-cert and --gateway-tls-key go together: give both, or neither");
    }
    return {
      cert: await readPem(options.certFile, "--gateway-tls-cert"),
      key: await readPem(options.keyFile, "--gateway-tls-key"),
      source: options.certFile,
    };
  }
  const dir = join(options.dataDir, "gateway-tls");
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  try {
    return { cert: await readFile(certFile), key: await readFile(keyFile), source: certFile };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "825",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ]);
    await chmod(keyFile, 0o600);
  } catch (err) {
    options.log(
      `gateway: HTTPS is off: no certificate was given and openssl could not make one (${(err as Error).message}); install openssl, or pass --gateway-tls-cert and --gateway-tls-key`,
    );
    return undefined;
  }
  options.log(
    `gateway: HTTPS uses a self-signed certificate for localhost made in ${certFile} (curl --cacert ${certFile}, or -k)`,
  );
  return { cert: await readFile(certFile), key: await readFile(keyFile), source: certFile };
}

async function readPem(file: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new UpError(`${flag} ${file}: ${(err as Error).message}`);
  }
}

function run(bin: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: 60_000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(stderr.trim().split("\n").pop() || error.message));
      else resolve();
    });
  });
}
