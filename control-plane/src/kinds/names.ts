/** HTTP methods an endpoint may name. */
export const httpMethods = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
  "CONNECT",
  "TRACE",
]);

/** Environment variable names: letters, digits and '_', not starting with a digit. */
export const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Keys inside a secret: what Kubernetes allows in a Secret's data. */
export const secretKey = /^[-._a-zA-Z0-9]+$/;

/** A DNS host name, optionally with a leading "*." wildcard. */
export const hostName = /^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
