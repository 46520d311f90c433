"""The Python function worker: ``python3 worker.py`` with the DISPATCH_* environment of CONTRACT.md.

It loads the handler, listens, says ``DISPATCH_READY {"port": N}``, serves calls, and drains on
SIGTERM. Standard library only, and few imports: it starts once per function instance.
"""

import base64
import contextvars
import importlib
import json
import os
import re
import signal
import socket
import socketserver
import sys
import threading
import time
from _operator import _compare_digest as compare_digest  # hmac's, without importing OpenSSL (~5 ms)
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit

LOAD_ERROR_EXIT_CODE = 78
# Headers carrying a run's record stay within this many characters each (Node clients take 16 KiB).
LOGS_HEADER_MAX = 8192
ERROR_HEADER_MAX = 4096
FRAMING_HEADERS = {"content-length", "transfer-encoding", "connection"}
REQUIRED_EVENT_ATTRIBUTES = ("specversion", "id", "source", "type")
# RFC 9110 §5.1 (a token) and §5.5 (visible ASCII, obs-text, space and tab), as Node checks them.
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
HEADER_VALUE_INVALID = re.compile(r"[^\t\x20-\x7e\x80-\xff]")
# HTTP binding §3.1.3.2: everything in U+0021-U+007E but '"' and '%' goes unencoded.
HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')
WORKER_DIR = os.path.dirname(os.path.abspath(__file__))
WORKER_TOKEN_HEADER = "dispatch-worker-token"
STATS_PATH = "/stats"
# RLIMIT_AS bounds address space, not memory: threads reserve 8 MiB of stack each and the
# allocator reserves more than it uses. Above the memory limit it leaves this much, so a runaway
# allocation fails with MemoryError where no cgroup bounds the instance (CONTRACT.md "Limits").
ADDRESS_SPACE_ALLOWANCE = 4 << 30


class LoadError(Exception):
    """A handler that cannot be loaded, or settings that cannot be used: exit 78 with a line."""

    def __init__(self, message, lines=None):
        super().__init__(message)
        self.message = message
        self.lines = lines or []


class InputError(Exception):
    """A request the worker cannot turn into a call: 400 InputError."""


# ---------------------------------------------------------------------------------------------
# Settings


class Config:
    """The worker's settings, from its DISPATCH_* environment (CONTRACT.md "Start")."""

    def __init__(self, env):
        self.handler = (env.get("DISPATCH_HANDLER") or "").strip()
        if not self.handler:
            raise LoadError("DISPATCH_HANDLER is not set (use module.func, or module for module.handle)")
        self.host = env.get("DISPATCH_HOST") or "127.0.0.1"
        self.port = _integer(env, "DISPATCH_PORT", None, 65535)
        self.function_dir = os.path.abspath(env.get("DISPATCH_FUNCTION_DIR") or ".")
        self.function_name = env.get("DISPATCH_FUNCTION") or ""
        self.timeout_ms = _integer(env, "DISPATCH_TIMEOUT_MS", 30000)
        self.drain_ms = _integer(env, "DISPATCH_DRAIN_MS", 30000)
        self.lifeline_fd = _integer(env, "DISPATCH_LIFELINE_FD", -1, 1024)
        self.memory_limit = _integer(env, "DISPATCH_MEMORY_LIMIT", 0)
        self.worker_token = env.get("DISPATCH_WORKER_TOKEN") or ""
        if len(self.worker_token) < 16:
            raise LoadError(
                "DISPATCH_WORKER_TOKEN is not set (or shorter than 16 characters): "
                "a worker takes calls only with the credential its driver gives it"
            )


def _integer(env, name, default, maximum=2**53 - 1):
    text = (env.get(name) or "").strip()
    if not text:
        if default is None:
            raise LoadError(f"{name} is not set")
        return default
    if not text.isdigit() or int(text) > maximum:
        raise LoadError(f'{name} must be a whole number from 0 to {maximum}, not "{text}"')
    return int(text)


# ---------------------------------------------------------------------------------------------
# Loading the handler


def load_handler(function_dir, spec):
    """Imports ``module.func`` (a bare ``module`` means ``module.handle``) from the bundle.

    Raises LoadError whose message is Python's own (``ModuleNotFoundError: No module named ...``).
    """
    module_name, _, func_name = spec.rpartition(".") if "." in spec else (spec, "", "handle")
    sys.path.insert(0, function_dir)
    try:
        module = importlib.import_module(module_name)
    except BaseException as error:  # SystemExit at import is a load failure too
        raise LoadError(f"{type(error).__name__}: {error}", traceback_lines(error)) from None
    try:
        handler = getattr(module, func_name)
    except AttributeError as error:
        raise LoadError(f"AttributeError: {error}; {_handler_hint(module, module_name, func_name)}") from None
    if not callable(handler):
        kind = type(handler).__name__
        hint = _handler_hint(module, module_name, func_name)
        raise LoadError(f"{module_name}.{func_name} is not callable (it is a {kind}); {hint}")
    return handler


def _handler_hint(module, module_name, func_name):
    """The way out of a handler that is not there: the functions the module defines, and how to
    name one (CONTRACT.md DISPATCH_HANDLER: ``module.func``)."""
    import types

    defined = [
        name
        for name, value in vars(module).items()
        if isinstance(value, types.FunctionType)
        and value.__module__ == module.__name__
        and not name.startswith("_")
    ]
    if not defined:
        return f"its functions: none; define {func_name}(context, payload) in it"
    return f"its functions: {', '.join(defined)}; name one with --handler {module_name}.{defined[0]}"


def traceback_lines(error):
    """The traceback's lines, without this worker's frames or importlib's."""
    import traceback

    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename != __file__ and not frame.filename.startswith("<frozen ")
    ]
    lines = ["Traceback (most recent call last):"] if frames else []
    for chunk in traceback.format_list(frames) + traceback.format_exception_only(type(error), error):
        lines.extend(chunk.rstrip("\n").split("\n"))
    return lines


# ---------------------------------------------------------------------------------------------
# Output capture

_current_call = contextvars.ContextVar("dispatch_call", default=None)


class CallOutput:
    """What one call writes. Once the call has answered, writes go to the worker's streams."""

    def __init__(self, run_id=""):
        self.open = True
        self.run_id = run_id
        self._chunks = {"stdout": [], "stderr": []}
        self._pending = {"stdout": "", "stderr": ""}

    def write(self, stream, text):
        self._chunks[stream].append(text)
        # Each line is also echoed at once to the worker's own stream as
        # "[<runId>] <line>", so `dispatch logs -f` shows it as it happens.
        if not self.run_id:
            return
        parts = (self._pending[stream] + text).split("\n")
        self._pending[stream] = parts.pop()
        for line in parts:
            _echo(stream, "[%s] %s\n" % (self.run_id, line.rstrip("\r")))

    def close(self):
        """Closes the call and returns what it wrote, split into lines."""
        self.open = False
        for stream, rest in self._pending.items():
            if rest and self.run_id:
                _echo(stream, "[%s] %s\n" % (self.run_id, rest))
            self._pending[stream] = ""
        return {name: _lines(chunks) for name, chunks in self._chunks.items()}


def _echo(stream, text):
    real = sys.__stdout__ if stream == "stdout" else sys.__stderr__
    real.write(text)
    real.flush()


def _lines(chunks):
    text = "".join(chunks)
    return text.splitlines() if text else []


class CapturedStream:
    """``sys.stdout``/``sys.stderr``: a write made in a call's context goes to that call."""

    def __init__(self, real, name):
        self._real = real
        self._name = name

    def write(self, text):
        call = _current_call.get()
        if call is None or not call.open:
            return self._real.write(text)
        call.write(self._name, str(text))
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        self._real.flush()

    def __getattr__(self, name):
        return getattr(self._real, name)


# ---------------------------------------------------------------------------------------------
# Calls


class Context(dict):
    """The handler's context; its keys read as attributes too: ``context["secrets"]``, ``context.secrets``."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Logger:
    """``context.logger``: each method writes one line to the call's stdout (warn, error: stderr)."""

    def __init__(self, call, streams):
        self._call = call
        self._streams = streams

    def _line(self, stream, message, args):
        text = (str(message) % args if args else str(message)) + "\n"
        if self._call.open:
            self._call.write(stream, text)
        else:
            self._streams[stream].write(text)

    def debug(self, message, *args):
        self._line("stdout", message, args)

    def info(self, message, *args):
        self._line("stdout", message, args)

    def warning(self, message, *args):
        self._line("stderr", message, args)

    warn = warning

    def error(self, message, *args):
        self._line("stderr", message, args)


def run_call(worker, payload, fields, to_reply):
    """Calls the handler in a thread of its own, waits for it until the deadline, and turns its
    result into the endpoint's reply with ``to_reply`` (which raises when it cannot be sent).
    ``fields``: secrets, event, http, deadline, function, runId, and received_at (the request's
    arrival, from which the deadline's allowance counts).

    Returns ``(reply, error, timed_out, logs, duration_ms)``; reply is None when error is not.
    """
    started = time.perf_counter()
    call = CallOutput(fields.get("runId") or "")
    deadline = fields.get("deadline")
    context = Context(
        secrets=fields.get("secrets") or {},
        event=fields.get("event"),
        http=fields.get("http"),
        deadline=deadline,
        function=fields.get("function") or worker.config.function_name,
        runId=fields.get("runId"),
        logger=Logger(call, worker.streams),
    )
    remaining = None if deadline is None else max(0.0, deadline.timestamp() - time.time())
    outcome = {}
    done = threading.Event()

    def target():
        _current_call.set(call)
        try:
            value = worker.handler(context, payload)
            if hasattr(value, "__await__"):
                import asyncio

                value = asyncio.run(_awaited(value))
            outcome["value"] = value
        except BaseException as error:  # whatever the handler raises is its error, SystemExit too
            outcome["error"] = error
        finally:
            done.set()

    timed_out = remaining == 0
    if not timed_out:
        threading.Thread(target=target, name="dispatch-call", daemon=True).start()
        timed_out = not done.wait(None if remaining is None else min(remaining, threading.TIMEOUT_MAX))

    reply = error = None
    if timed_out:
        # The allowance counts from the request's arrival, as the deadline does.
        allowed = max(0.0, deadline.timestamp() - fields["received_at"])
        error = _error("SystemError", f"timed out after {format_seconds(allowed)}")
    elif "error" in outcome:
        raised = outcome["error"]
        lines = traceback_lines(raised)
        is_input = any(cls.__name__ == "InputError" for cls in type(raised).__mro__)
        message = error_message(raised, is_input)
        if isinstance(raised, MemoryError) and worker.config.memory_limit and message == "MemoryError":
            message = f"MemoryError: out of memory (limit {format_bytes(worker.config.memory_limit)})"
        error = {"type": "InputError" if is_input else "FunctionError", "message": message, "stack": lines}
        call.write("stderr", "\n".join(lines) + "\n")
    else:
        try:
            reply = to_reply(outcome["value"])
        except Exception as failure:  # a result that cannot be sent
            error = _error("FunctionError", str(failure))
    logs = call.close()
    return reply, error, timed_out, logs, round((time.perf_counter() - started) * 1000, 3)


def error_message(error, is_input):
    """CONTRACT.md "Errors": the exception's text after its class name (``KeyError: 'name'``),
    except for plain Exception and InputError; the class name alone when the text is empty."""
    name = type(error).__name__
    try:
        text = str(error)
    except Exception:  # a broken __str__ leaves the class name
        text = ""
    if not text:
        return "InputError" if is_input else name
    return text if is_input or name == "Exception" else f"{name}: {text}"


async def _awaited(awaitable):
    return await awaitable


def format_seconds(seconds):
    """``0.25s``, ``1.5s``, ``30s``: a deadline in the words a person would use."""
    digits = 2 if seconds < 1 else 1 if seconds < 10 else 0
    value = round(seconds, digits)
    return f"{int(value) if value == int(value) else value}s"


def format_bytes(count):
    """``128Mi``, ``1Gi``: a byte count in the largest binary unit that shows it exactly."""
    for unit, shift in (("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)):
        if count >= 1 << shift and count % (1 << shift) == 0:
            return f"{count >> shift}{unit}"
    return str(count)


def limit_address_space(memory_limit):
    """RLIMIT_AS at the memory limit plus an allowance for reserved address space (see above)."""
    if not memory_limit:
        return
    import resource

    wanted = memory_limit + ADDRESS_SPACE_ALLOWANCE
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))


def encode_json(value):
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise ValueError(f"result cannot be encoded as JSON: {error}") from None


def _error(kind, message):
    return {"type": kind, "message": message, "stack": []}


def parse_deadline(text):
    if not isinstance(text, str):
        raise InputError("context.deadline must be an RFC 3339 time")
    try:
        # Python before 3.11 does not read a trailing "Z".
        at = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise InputError("context.deadline must be an RFC 3339 time") from None
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


# ---------------------------------------------------------------------------------------------
# Payloads, replies and CloudEvents


def media_type(content_type):
    return (content_type or "").split(";")[0].strip().lower()


def is_json_type(kind):
    # As @dispatch/proto's isJsonMediaType: application/json, text/json and any +json type.
    return kind == "application/json" or kind == "text/json" or kind.endswith("+json")


def params_object(pairs):
    """Query or form parameters: a value per name, a list for a repeated name."""
    out = {}
    for name, value in pairs:
        if name not in out:
            out[name] = value
        elif isinstance(out[name], list):
            out[name].append(value)
        else:
            out[name] = [out[name], value]
    return out


def payload_from_body(body, content_type, empty):
    """JSON for JSON, an object for a form, text for text/*, else base64; ``empty`` with no body."""
    if not body:
        return empty
    kind = media_type(content_type)
    if is_json_type(kind):
        try:
            return json.loads(body)
        except ValueError as error:
            raise InputError(f"request body is not valid JSON: {error}") from None
    if kind == "application/x-www-form-urlencoded":
        return params_object(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    if kind.startswith("text/"):
        return body.decode("utf-8", "replace")
    return base64.b64encode(body).decode("ascii")


def http_reply(value):
    """A ``{statusCode, headers, body}`` result is the response; anything else is JSON with 200."""
    if not isinstance(value, dict) or type(value.get("statusCode")) is not int:
        return 200, [("Content-Type", "application/json")], encode_json(value).encode()
    status = value["statusCode"]
    if not 100 <= status <= 599:
        raise ValueError(f"statusCode must be a whole number from 100 to 599, not {status}")
    headers = value.get("headers") or {}
    if not isinstance(headers, dict):
        raise ValueError("headers must be an object")
    out = []
    for name, header_value in headers.items():
        if header_value is None or str(name).lower() in FRAMING_HEADERS:
            continue
        if not HEADER_NAME.fullmatch(str(name)):
            raise ValueError(f'header name "{name}" is not an HTTP token')
        for part in header_value if isinstance(header_value, list) else [header_value]:
            text = str(part)
            if HEADER_VALUE_INVALID.search(text):
                raise ValueError(f'header "{name}" has a character HTTP headers cannot carry')
            out.append((str(name), text))
    body = value.get("body")
    if body is None:
        data, kind = b"", ""
    elif isinstance(body, str):
        data, kind = body.encode(), "text/plain; charset=utf-8"
    elif isinstance(body, (bytes, bytearray)):
        data, kind = bytes(body), "application/octet-stream"
    else:
        data, kind = encode_json(body).encode(), "application/json"
    if kind and not any(name.lower() == "content-type" for name, _ in out):
        out.append(("Content-Type", kind))
    return status, out, data


def event_attributes(headers):
    """The attributes of a CloudEvent in HTTP binary mode (HTTP binding §3.1)."""
    attributes = {}
    for name, value in headers.items():
        name = name.lower()
        if not name.startswith("ce-"):
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        try:
            # §3.1.3.2: percent-decode once; a '%' that starts no escape is taken as is.
            attributes[name[3:]] = unquote(value, errors="strict")
        except UnicodeDecodeError:
            raise InputError(f"{name}: not valid percent-encoded UTF-8") from None
    if headers.get("Content-Type") is not None:
        attributes["datacontenttype"] = headers.get("Content-Type")
    missing = [f"ce-{name}" for name in REQUIRED_EVENT_ATTRIBUTES if not attributes.get(name)]
    if missing:
        raise InputError(f"not a CloudEvent in binary mode: missing {', '.join(missing)}")
    return attributes


def event_reply(value):
    """None is 204; ``{type, source, data}`` is a reply event in binary mode; else JSON with 200."""
    if value is None:
        return 204, [], b""
    if not (isinstance(value, dict) and isinstance(value.get("type"), str) and isinstance(value.get("source"), str) and "data" in value):
        return 200, [("Content-Type", "application/json")], encode_json(value).encode()
    import uuid

    headers = {"ce-specversion": "1.0", "ce-id": str(uuid.uuid4())}
    for name, attribute in value.items():
        if name in ("data", "datacontenttype") or attribute is None:
            continue
        if not (name.isascii() and name.isalnum() and name.lower() == name):
            raise ValueError(f'reply event attribute "{name}" is not a CloudEvents name')
        if isinstance(attribute, datetime):
            attribute = attribute.isoformat()
        if not isinstance(attribute, (str, int, float, bool)):
            raise ValueError(f'reply event attribute "{name}" must be a string')
        headers[f"ce-{name}"] = quote(str(attribute), safe=HEADER_SAFE)
    out = list(headers.items())
    data = value["data"]
    declared = value.get("datacontenttype") if isinstance(value.get("datacontenttype"), str) else None
    if declared is not None and HEADER_VALUE_INVALID.search(declared):
        raise ValueError("reply event datacontenttype has a character HTTP headers cannot carry")
    if data is None:
        return 200, out, b""
    if isinstance(data, (bytes, bytearray)):
        return 200, out + [("Content-Type", declared or "application/octet-stream")], bytes(data)
    if isinstance(data, str) and not (declared and is_json_type(media_type(declared))):
        return 200, out + [("Content-Type", declared or "text/plain; charset=utf-8")], data.encode()
    return 200, out + [("Content-Type", declared or "application/json")], encode_json(data).encode()


def logs_header(logs):
    """The Dispatch-Logs header: base64 JSON, keeping each stream's last lines when too long."""
    full = _base64_json(logs)
    if len(full) <= LOGS_HEADER_MAX:
        return full
    budget = LOGS_HEADER_MAX * 3 // 4 // 2 - 100
    return _base64_json({name: _last_lines(lines, budget) for name, lines in logs.items()})


def error_header(error):
    """The Dispatch-Error header: base64 JSON, the stack cut short when too long."""
    fitted = dict(error, message=error["message"][:1024])
    while len(_base64_json(fitted)) > ERROR_HEADER_MAX and fitted["stack"]:
        fitted["stack"] = fitted["stack"][:-1]
    return _base64_json(fitted)


def _last_lines(lines, budget):
    kept, used = [], 0
    for line in reversed(lines):
        cost = len(json.dumps(line).encode()) + 1
        if used + cost > budget:
            break
        kept.append(line)
        used += cost
    kept.reverse()
    dropped = len(lines) - len(kept)
    return [f"[{dropped} earlier lines dropped to fit the Dispatch-Logs header]"] + kept if dropped else kept


def _base64_json(value):
    return base64.b64encode(json.dumps(value, separators=(",", ":")).encode()).decode("ascii")


# ---------------------------------------------------------------------------------------------
# HTTP


class Endpoints(BaseHTTPRequestHandler):
    """The worker's routes (CONTRACT.md "Endpoints"): /healthz, /invoke, /http/*, /event."""

    protocol_version = "HTTP/1.1"
    server_version = "dispatch-python"
    worker = None  # set by main()

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.received_at = time.time()
        self._replied = False
        url = urlsplit(self.path)
        try:
            body = self._read_body()
        except ValueError:
            # Where this request ends is unknown, so the next one cannot be read: close.
            self.close_connection = True
            return self._send_json(400, {"error": _error("InputError", "unreadable request body")})
        path = url.path
        if path == "/healthz":
            if self.worker.draining:
                return self._send_json(503, {"status": "draining"})
            return self._send_json(200, {"status": "ok"})
        given = self.headers.get(WORKER_TOKEN_HEADER) or ""
        if not compare_digest(given.encode("utf-8", "surrogateescape"), self.worker.token):
            message = f"this worker takes calls only from Dispatch: the {WORKER_TOKEN_HEADER} header is missing or wrong"
            return self._send_json(401, {"error": _error("SystemError", message)})
        if path == STATS_PATH:
            # Not a call: it neither counts nor makes the worker busy (CONTRACT.md "Load report").
            if self.command != "GET":
                return self._send_method_not_allowed("GET")
            return self._send_json(200, self.worker.stats())
        routes = {"/invoke": self._invoke, "/event": self._event}
        route = routes.get(path) or (self._http if path == "/http" or path.startswith("/http/") else None)
        if route is None:
            return self._send_json(404, {"error": _error("SystemError", f"no such endpoint: {path}")})
        if not self.worker.call_started():
            return self._send_json(503, {"error": _error("SystemError", "the worker is shutting down")})
        try:
            route(body, url)
        except Exception as error:  # a bug here answers 500 rather than dropping the connection
            if self._replied:
                # Part of the answer may be out: nothing more can be said on this connection.
                self.close_connection = True
            else:
                # The body was read whole, so the connection can carry the next request.
                self._headers_buffer = []
                self._send_json(500, {"error": _error("SystemError", f"{type(error).__name__}: {error}")})
        finally:
            self.worker.call_done()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _invoke(self, body, url):
        if self.command != "POST":
            return self._send_method_not_allowed("POST")
        try:
            payload, fields = self._parse_invoke(body)
        except (InputError, ValueError) as error:
            return self._send_json(400, {"error": _error("InputError", f"invalid invoke request: {error}")})
        reply, error, _, logs, duration = run_call(self.worker, payload, fields, encode_json)
        rest = json.dumps({"error": error, "logs": logs, "durationMs": duration}, separators=(",", ":"))
        text = '{"output":' + (reply if error is None else "null") + "," + rest[1:]
        self._send(200, [("Content-Type", "application/json")], text.encode())

    def _parse_invoke(self, body):
        request = json.loads(body or b"null")
        if not isinstance(request, dict):
            raise InputError("the body must be a JSON object")
        context = request.get("context") or {}
        if not isinstance(context, dict):
            raise InputError("context must be an object")
        fields = {"event": None, "http": None, "runId": None, "received_at": self.received_at}
        for name in ("secrets", "event", "http"):
            if context.get(name) is not None:
                if not isinstance(context[name], dict):
                    raise InputError(f"context.{name} must be an object")
                fields[name] = context[name]
        for name in ("function", "runId"):
            if context.get(name) is not None:
                if not isinstance(context[name], str):
                    raise InputError(f"context.{name} must be a string")
                fields[name] = context[name]
        if context.get("deadline") is not None:
            fields["deadline"] = parse_deadline(context["deadline"])
        else:
            fields["deadline"] = self.worker.default_deadline(self.received_at)
        return request.get("payload"), fields

    def _http(self, body, url):
        query = params_object(parse_qsl(url.query, keep_blank_values=True))
        http = {
            "method": self.command,
            "path": url.path[len("/http") :] or "/",
            "query": query,
            "headers": self._headers_object(),
        }
        try:
            payload = payload_from_body(body, self.headers.get("Content-Type"), query)
        except InputError as error:
            return self._send_failure(_error("InputError", str(error)))
        fields = {
            "http": http,
            "deadline": self.worker.default_deadline(self.received_at),
            "received_at": self.received_at,
            **self._call_headers(),
        }
        self._send_reply(run_call(self.worker, payload, fields, http_reply))

    def _event(self, body, url):
        if self.command != "POST":
            return self._send_method_not_allowed("POST")
        try:
            attributes = event_attributes(self.headers)
            data = payload_from_body(body, self.headers.get("Content-Type"), None)
        except InputError as error:
            return self._send_failure(_error("InputError", str(error).replace("request body", "event data")))
        fields = {
            "event": attributes,
            "deadline": self.worker.default_deadline(self.received_at),
            "received_at": self.received_at,
            **self._call_headers(),
        }
        self._send_reply(run_call(self.worker, data, fields, event_reply))

    def _call_headers(self):
        """``Dispatch-Secrets`` (base64 JSON object) and ``Dispatch-Run-Id`` sent by the platform."""
        fields = {}
        raw = self.headers.get("Dispatch-Secrets")
        if raw:
            try:
                secrets = json.loads(base64.b64decode(raw).decode("utf-8"))
                if isinstance(secrets, dict):
                    fields["secrets"] = secrets
            except (ValueError, UnicodeDecodeError):
                pass
        run_id = self.headers.get("Dispatch-Run-Id")
        if run_id:
            fields["runId"] = run_id
        return fields

    def _headers_object(self):
        out = {}
        for name, value in self.headers.items():
            name = name.lower()
            if name in ("dispatch-secrets", "dispatch-run-id", WORKER_TOKEN_HEADER):
                continue
            out[name] = f"{out[name]}, {value}" if name in out else value
        return out

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_reply(self, result):
        reply, error, timed_out, logs, _ = result
        if error is not None:
            return self._send_failure(error, logs, timed_out)
        status, headers, body = reply
        self._send(status, headers + [("Dispatch-Logs", logs_header(logs))], body)

    def _send_failure(self, error, logs=None, timed_out=False):
        # CONTRACT.md /http errors: InputError 400, FunctionError 500, SystemError 504 for a deadline.
        status = 400 if error["type"] == "InputError" else 504 if timed_out else 500
        headers = [
            ("Content-Type", "application/json"),
            ("Dispatch-Logs", logs_header(logs or {"stdout": [], "stderr": []})),
            ("Dispatch-Error", error_header(error)),
        ]
        # The caller gets the type and message; the stack is the Run's (Dispatch-Error), not the caller's.
        self._send(status, headers, json.dumps({"error": {"type": error["type"], "message": error["message"]}}).encode())

    def _send_method_not_allowed(self, allow):
        self._send(405, [("Allow", allow), ("Content-Type", "application/json")], json.dumps({"error": _error("InputError", f"use {allow}")}).encode())

    def _send_json(self, status, value):
        self._send(status, [("Content-Type", "application/json")], json.dumps(value).encode())

    def _send(self, status, headers, body):
        # 1xx, 204 and 304 answers have no body (RFC 9110 §6.4.1); one sent anyway would be read
        # as the start of the next response on a keep-alive connection.
        bodiless = status < 200 or status in (204, 304)
        if bodiless:
            body = b""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if not bodiless:
            self.send_header("Content-Length", str(len(body)))
        self._replied = True
        # A connection the worker will close says so (RFC 9112 §9.6), or a keep-alive client
        # (undici's pool) may send its next request down it as it closes. A draining worker
        # closes every connection it answers on.
        if self.close_connection or self.worker.draining:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def server_bind(self):
        # HTTPServer.server_bind looks up the host's FQDN, which can wait on DNS; nothing here needs it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Worker:
    """The loaded handler, its settings, and the calls in flight (for the drain and the load report)."""

    def __init__(self, config, handler, streams):
        self.config = config
        self.token = config.worker_token.encode("utf-8", "surrogateescape")
        self.handler = handler
        self.streams = streams
        self.draining = False
        self.in_flight = 0
        self.calls = 0
        # When the last call ended (or the worker started): what the report's idleMs counts from.
        self.last_active = time.monotonic()
        self._changed = threading.Condition()

    def default_deadline(self, received_at):
        """The deadline of a call that brings none: DISPATCH_TIMEOUT_MS after it arrived."""
        if self.config.timeout_ms <= 0:
            return None
        return datetime.fromtimestamp(received_at + self.config.timeout_ms / 1000, timezone.utc)

    def call_started(self):
        with self._changed:
            if self.draining:
                return False
            self.in_flight += 1
            self.calls += 1
            return True

    def call_done(self):
        with self._changed:
            self.in_flight -= 1
            self.last_active = time.monotonic()
            self._changed.notify_all()

    def stats(self):
        """CONTRACT.md "Load report": calls in flight (whoever sent them) and how long it has been idle."""
        with self._changed:
            idle = 0 if self.in_flight > 0 else max(0, int((time.monotonic() - self.last_active) * 1000))
            return {"inFlight": self.in_flight, "idleMs": idle, "calls": self.calls, "draining": self.draining}

    def drain(self, *_):
        """SIGTERM: refuse new calls, wait for those in flight (up to DISPATCH_DRAIN_MS), exit 0."""
        with self._changed:
            if self.draining:
                return
            self.draining = True
        threading.Thread(target=self._exit_when_idle, name="dispatch-drain", daemon=True).start()

    def _exit_when_idle(self):
        end = time.monotonic() + self.config.drain_ms / 1000
        with self._changed:
            while self.in_flight > 0 and time.monotonic() < end:
                self._changed.wait(end - time.monotonic())
        for stream in self.streams.values():
            stream.flush()
        os._exit(0)


def _drain_at_end_of_lifeline(worker, fd):
    try:
        while os.read(fd, 4096):
            pass
    except OSError:
        pass
    worker.drain()


def main():
    sys.stdout.reconfigure(line_buffering=True)
    streams = {"stdout": sys.stdout, "stderr": sys.stderr}
    sys.stdout = CapturedStream(streams["stdout"], "stdout")
    sys.stderr = CapturedStream(streams["stderr"], "stderr")
    # Python put this script's directory first on the path; a function module named like a file
    # here (worker.py) must import the bundle's own.
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != WORKER_DIR]
    try:
        config = Config(os.environ)
        # The handler (and what it starts) must not find the credential in its environment.
        os.environ.pop("DISPATCH_WORKER_TOKEN", None)
        limit_address_space(config.memory_limit)
        if not os.path.isdir(config.function_dir):
            raise LoadError(f"DISPATCH_FUNCTION_DIR {config.function_dir} does not exist")
        # Relative paths in the handler's own file reads mean the bundle.
        os.chdir(config.function_dir)
        handler = load_handler(config.function_dir, config.handler)
    except LoadError as error:
        streams["stderr"].write(f"DISPATCH_LOAD_ERROR {json.dumps({'message': error.message, 'stack': error.lines})}\n")
        streams["stderr"].flush()
        os._exit(LOAD_ERROR_EXIT_CODE)

    worker = Worker(config, handler, streams)
    Endpoints.worker = worker
    if ":" in config.host:
        Server.address_family = socket.AF_INET6
    try:
        server = Server((config.host, config.port), Endpoints)
    except OSError as error:
        streams["stderr"].write(f"worker cannot listen on {config.host}:{config.port}: {error}\n")
        streams["stderr"].flush()
        os._exit(1)
    signal.signal(signal.SIGTERM, worker.drain)
    signal.signal(signal.SIGINT, worker.drain)
    if config.lifeline_fd >= 0:
        # The driver holds the other end: when its process ends, however it ends, so does this worker.
        threading.Thread(target=_drain_at_end_of_lifeline, args=(worker, config.lifeline_fd), name="dispatch-lifeline", daemon=True).start()
    streams["stdout"].write(f"DISPATCH_READY {json.dumps({'port': server.server_address[1]})}\n")
    streams["stdout"].flush()
    server.serve_forever(poll_interval=0.5)


if __name__ == "__main__":
    main()
