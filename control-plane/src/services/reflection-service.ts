import { create, createRegistry, type DescFile, type Registry, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { v1, v1alpha } from "@dispatch/proto/reflection";

type Reflection = typeof v1.ServerReflection;

/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) over the files of
 * the served API, so grpcurl and buf curl can list and call the services.
 */
export function createReflectionService(
  files: readonly DescFile[],
  services: readonly string[],
): ServiceImpl<Reflection> {
  const index = indexFiles(files);
  return {
    async *serverReflectionInfo(requests) {
      for await (const request of requests) {
        yield answer(index, services, request);
      }
    },
  };
}

/** The v1alpha service is the same protocol under the old package name. */
export const reflectionServices = { v1: v1.ServerReflection, v1alpha: v1alpha.ServerReflection } as const;

/** The served files by name (with and without ".proto") and a registry of their types. */
interface FileIndex {
  byName: Map<string, DescFile>;
  types: Registry;
}

function indexFiles(roots: readonly DescFile[]): FileIndex {
  const byName = new Map<string, DescFile>();
  const all: DescFile[] = [];
  for (const root of roots) {
    for (const file of withDependencies(root)) {
      if (byName.has(file.proto.name)) continue;
      byName.set(file.proto.name, file);
      byName.set(file.name, file);
      all.push(file);
    }
  }
  return { byName, types: createRegistry(...all) };
}

function answer(
  index: FileIndex,
  services: readonly string[],
  request: v1.ServerReflectionRequest,
): v1.ServerReflectionResponse {
  const base = { validHost: request.host, originalRequest: request };
  const notFound = (message: string) =>
    create(v1.ServerReflectionResponseSchema, {
      ...base,
      messageResponse: { case: "errorResponse", value: { errorCode: 5, errorMessage: message } },
    });
  const files = (file: DescFile | undefined, what: string) => {
    if (!file) return notFound(`${what} not found`);
    return create(v1.ServerReflectionResponseSchema, {
      ...base,
      messageResponse: {
        case: "fileDescriptorResponse",
        value: {
          fileDescriptorProto: withDependencies(file).map((f) =>
            toBinary(FileDescriptorProtoSchema, f.proto),
          ),
        },
      },
    });
  };
  const r = request.messageRequest;
  switch (r.case) {
    case "listServices":
      return create(v1.ServerReflectionResponseSchema, {
        ...base,
        messageResponse: {
          case: "listServicesResponse",
          value: { service: services.map((name) => ({ name })) },
        },
      });
    case "fileByFilename":
      return files(index.byName.get(r.value), `file "${r.value}"`);
    case "fileContainingSymbol":
      return files(fileOfSymbol(index.types, r.value), `symbol "${r.value}"`);
    case "fileContainingExtension":
    case "allExtensionNumbersOfType":
      return notFound("this server defines no extensions");
    default:
      return notFound("unknown reflection request");
  }
}

/** The file that defines a symbol: a type, a service, or a service's method. */
function fileOfSymbol(types: Registry, symbol: string): DescFile | undefined {
  const direct = types.get(symbol) ?? types.getService(symbol);
  if (direct) return direct.file;
  // A method or field: look up its owner.
  const parent = symbol.slice(0, symbol.lastIndexOf("."));
  if (parent === "") return undefined;
  return (types.get(parent) ?? types.getService(parent))?.file;
}

/** A file and everything it imports, dependencies first. */
function withDependencies(file: DescFile): DescFile[] {
  const seen = new Set<string>();
  const out: DescFile[] = [];
  const visit = (f: DescFile) => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    for (const dep of f.dependencies) visit(dep);
    out.push(f);
  };
  visit(file);
  return out.reverse();
}
